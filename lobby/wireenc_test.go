package lobby

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fillRandom sets every field of the value v points to, recursively, to
// random content: strings with what JSON must escape (quotes, controls,
// <>&, U+2028, invalid UTF-8), zero and non-zero numbers, nil, empty and
// full slices, maps and pointers. A field added to a wire type later is
// filled too, so an encoder that forgets it fails the tests below.
func fillRandom(r *rand.Rand, v reflect.Value, depth int, str func(*rand.Rand) string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(str(r))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		vals := []int64{0, 0, 1, -1, 7777, 1 << 40, -1 << 62}
		n := vals[r.IntN(len(vals))]
		if v.OverflowInt(n) {
			n = 3
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		vals := []uint64{0, 0, 1, 65535, 1<<64 - 1}
		n := vals[r.IntN(len(vals))]
		if v.OverflowUint(n) {
			n = 3
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		v.SetFloat([]float64{0, 1.5, -2}[r.IntN(3)])
	case reflect.Pointer:
		if depth > 3 || r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fillRandom(r, p.Elem(), depth+1, str)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() || v.Type().Field(i).Anonymous {
				fillRandom(r, v.Field(i), depth, str)
			}
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeOf(json.RawMessage(nil)) {
			ids := []string{"", "17", "0", "9007199254740991", `"x"`, `"<&>"`, `"é"`, "null", `"a\"b"`, `"\u00e9"`, "1e3"}
			v.SetBytes([]byte(ids[r.IntN(len(ids))]))
			return
		}
		switch r.IntN(3) {
		case 0:
			v.SetZero()
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			if depth > 3 {
				v.SetZero()
				return
			}
			n := 1 + r.IntN(3)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := 0; i < n; i++ {
				fillRandom(r, s.Index(i), depth+1, str)
			}
			v.Set(s)
		}
	case reflect.Map:
		switch r.IntN(3) {
		case 0:
			v.SetZero()
		case 1:
			v.Set(reflect.MakeMap(v.Type()))
		default:
			m := reflect.MakeMap(v.Type())
			for i := 0; i < 1+r.IntN(4); i++ {
				k := reflect.New(v.Type().Key()).Elem()
				fillRandom(r, k, depth+1, str)
				e := reflect.New(v.Type().Elem()).Elem()
				fillRandom(r, e, depth+1, str)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	}
}

// plainWireString is a string without anything JSON escapes, as most are.
func plainWireString(r *rand.Rand) string {
	parts := []string{"", "a", "Alice's game", "Zoë", "日本", "k3m2x9aqpz", "198.18.0.1:7777", "/", "🎮", "open"}
	return parts[r.IntN(len(parts))] + parts[r.IntN(len(parts))]
}

func randomWireString(r *rand.Rand) string {
	parts := []string{"", "a", "Alice's game", "Zoë", "日本", `"`, `\`, "<", ">", "&", "\n", "\t", "\r", "\b", "\f",
		"\x00", "\x1f", "\x7f", "\u2028", "\u2029", "\xff", "\xe2\x80", "k3m2x9aqpz", "198.18.0.1:7777", "/", "🎮"}
	n := r.IntN(4)
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, parts[r.IntN(len(parts))]...)
	}
	return string(b)
}

// The hand-written encoders write exactly what encoding/json writes, for
// every field of every message they cover.
func TestWireEncodersMatchEncodingJSON(t *testing.T) {
	types := []any{&joinReply{}, &notice{}, &helloReply{}, &okReply{}, &errorReply{}, &request{}, &lobbyState{}}
	r := rand.New(rand.NewPCG(1, 2))
	fast := map[string]int{}
	for _, proto := range types {
		typ := reflect.TypeOf(proto).Elem()
		for i := 0; i < 3000; i++ {
			v := reflect.New(typ)
			fillRandom(r, v.Elem(), 0, randomWireString)
			want, err := json.Marshal(v.Interface())
			if err != nil {
				continue // an empty id where one is required: replyID never lets it through
			}
			got := marshal(v.Interface())
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: hand-written encoding differs from encoding/json\n got: %s\nwant: %s", typ, got, want)
			}
			if a := fastEncoder(v.Interface()); a != nil {
				if _, ok := a.appendJSON([]byte{'{'}); ok {
					fast[typ.Name()]++
				}
			}
		}
	}
	// A type that embeds one of them keeps its own fields.
	var reserveReply struct {
		okReply
		matchReply
	}
	reserveReply.ID, reserveReply.OK, reserveReply.Sub = json.RawMessage("1"), true, 3
	if got, want := string(marshal(reserveReply)), `{"id":1,"ok":true,"sub":3}`; got != want {
		t.Errorf("embedding okReply: %s, want %s", got, want)
	}
	for _, proto := range types {
		if name := reflect.TypeOf(proto).Elem().Name(); fast[name] < 100 {
			t.Errorf("%s: only %d of 3000 random messages took the hand-written path", name, fast[name])
		}
	}
}
