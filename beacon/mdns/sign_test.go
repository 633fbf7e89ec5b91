package mdns

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
)

var (
	keysOnce    sync.Once
	key1, key2  beacon.Key
	keysErr     error
	signedAtRef = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// testKeys returns two LAN keys, derived once per test binary (NewKey
// takes about 0.1 s, more under the race detector).
func testKeys(t testing.TB) (beacon.Key, beacon.Key) {
	t.Helper()
	keysOnce.Do(func() {
		if key1, keysErr = beacon.NewKey("correct horse battery staple"); keysErr == nil {
			key2, keysErr = beacon.NewKey("another passphrase")
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return key1, key2
}

// TestSignTXTVector pins the format: PROTOCOL.md quotes this record.
func TestSignTXTVector(t *testing.T) {
	k, _ := testKeys(t)
	got := SignTXT(k, "Zoë's game", 7600, EncodeTXT(zoeLobby()), signedAtRef)
	want := []string{"v=1", "id=zoe1", "g=demo", "p=1", "c=4", "s=open", "n=Zoë's game", "t=1748779200000", "h=j0qY4Qc0hzls4Ygpx-RuiA"}
	msg := signedMessage("Zoë's game", 7600, got[:len(got)-1])
	t.Logf("message %s", hex.EncodeToString(msg))
	if !slices.Equal(got, want) {
		t.Errorf("signed TXT %q\nwant %q", got, want)
	}
	if err := VerifyTXT(k, "Zoë's game", 7600, got, signedAtRef, DefaultTXTReplayWindow); err != nil {
		t.Error(err)
	}
	wantMsg := "000b" + hex.EncodeToString([]byte("Zoë's game")) + "1db0" + "0003" + hex.EncodeToString([]byte("v=1"))
	if !strings.HasPrefix(hex.EncodeToString(msg), wantMsg) {
		t.Errorf("message starts %x, want %s", msg[:min(len(msg), 24)], wantMsg)
	}
}

func TestVerifyTXT(t *testing.T) {
	k, other := testKeys(t)
	const inst, port = "Zoë's game (2)", 7600
	now := signedAtRef
	w := DefaultTXTReplayWindow
	good := SignTXT(k, inst, port, EncodeTXT(zoeLobby()), now)
	if err := VerifyTXT(k, inst, port, good, now, w); err != nil {
		t.Fatalf("valid: %v", err)
	}
	// Every signed byte matters: a flipped bit anywhere in the instance
	// name, the port or any TXT string (t and h included) fails.
	for i := range len(inst) {
		b := []byte(inst)
		b[i] ^= 0x20
		if err := VerifyTXT(k, string(b), port, good, now, w); !errors.Is(err, ErrBadSignature) {
			t.Errorf("instance byte %d flipped: %v", i, err)
		}
	}
	for bit := range 16 {
		if err := VerifyTXT(k, inst, port^1<<bit, good, now, w); !errors.Is(err, ErrBadSignature) {
			t.Errorf("port bit %d flipped: %v", bit, err)
		}
	}
	for si, s := range good {
		for i := range len(s) {
			txt := slices.Clone(good)
			b := []byte(s)
			b[i] ^= 0x01
			txt[si] = string(b)
			err := VerifyTXT(k, inst, port, txt, now, w)
			// A flip may turn h or t into another key: unsigned then.
			if err == nil || (!errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrUnsigned)) {
				t.Errorf("string %q byte %d flipped (%q): %v", s, i, b, err)
			}
		}
	}
	// Nothing can move between fields: the same bytes split otherwise.
	moved := slices.Clone(good)
	moved[1], moved[2] = "id=zoe1g", "=demo"
	if err := VerifyTXT(k, inst, port, moved, now, w); !errors.Is(err, ErrBadSignature) {
		t.Errorf("bytes moved between strings: %v", err)
	}
	if err := VerifyTXT(k, inst+"v", port, append([]string{"=1"}, good[1:]...), now, w); !errors.Is(err, ErrBadSignature) {
		t.Errorf("bytes moved into the instance: %v", err)
	}

	without := func(key string) []string {
		return slices.DeleteFunc(slices.Clone(good), func(s string) bool { return txtKey(s) == key })
	}
	// A TXT record signed over whatever strings we like, t included.
	signOver := func(txt []string) []string {
		mac := k.Sign(SignLabel, signedMessage(inst, port, txt))
		return append(slices.Clone(txt), "h="+base64.RawURLEncoding.EncodeToString(mac))
	}
	hIdx := len(good) - 1
	cases := []struct {
		name string
		key  beacon.Key
		txt  []string
		now  time.Time
		want error
	}{
		{"valid", k, good, now, nil},
		{"keys in upper case", k, signOver(append(without("h")[:len(good)-2], "T=1748779200000")), now, nil},
		{"h first", k, append([]string{good[hIdx]}, good[:hIdx]...), now, nil},
		{"wrong key", other, good, now, ErrBadSignature},
		{"zero key", beacon.Key{}, good, now, ErrBadSignature},
		{"unsigned", k, EncodeTXT(zoeLobby()), now, ErrUnsigned},
		{"no h", k, without("h"), now, ErrUnsigned},
		{"no t", k, signOver(without("h")[:len(good)-2]), now, ErrBadSignature},
		{"t removed after signing", k, without("t"), now, ErrBadSignature},
		{"two t", k, signOver(append(without("h"), "t=1748779200000")), now, ErrBadSignature},
		{"two h", k, append(slices.Clone(good), good[hIdx]), now, ErrBadSignature},
		{"h boolean", k, append(without("h"), "h"), now, ErrBadSignature},
		{"h not base64url", k, append(without("h"), "h=cEdPY3JXk2g9a8x8Q3nhm+"), now, ErrBadSignature},
		{"h padded", k, append(without("h"), good[hIdx]+"=="), now, ErrBadSignature},
		{"h short", k, append(without("h"), good[hIdx][:len(good[hIdx])-2]), now, ErrBadSignature},
		{"t not a number", k, signOver(append(without("h")[:len(good)-2], "t=soon")), now, ErrBadSignature},
		{"t negative", k, signOver(append(without("h")[:len(good)-2], "t=-1")), now, ErrBadSignature},
		{"t with a sign", k, signOver(append(without("h")[:len(good)-2], "t=+1748779200000")), now, ErrBadSignature},
		{"t boolean", k, signOver(append(without("h")[:len(good)-2], "t")), now, ErrBadSignature},
		{"at the window's old edge", k, good, now.Add(w), nil},
		{"at the window's future edge", k, good, now.Add(-w), nil},
		{"stale", k, good, now.Add(w + time.Millisecond), ErrBadTimestamp},
		{"from the future", k, good, now.Add(-w - time.Millisecond), ErrBadTimestamp},
		{"replayed a day later", k, good, now.Add(24 * time.Hour), ErrBadTimestamp},
	}
	for _, c := range cases {
		err := VerifyTXT(c.key, inst, port, c.txt, c.now, w)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %q: %v, want %v", c.name, c.txt, err, c.want)
		}
	}
}

// TestSignTXTReplacesOurKeys: t and h strings a caller passes (any case)
// are replaced, never doubled.
func TestSignTXTReplacesOurKeys(t *testing.T) {
	k, _ := testKeys(t)
	txt := SignTXT(k, "x", 1, []string{"v=1", "T=5", "h=old", "H", "id=a"}, signedAtRef)
	if want := []string{"v=1", "id=a", "t=1748779200000"}; !slices.Equal(txt[:3], want) || len(txt) != 4 {
		t.Errorf("signed %q", txt)
	}
	again := SignTXT(k, "x", 1, txt, signedAtRef.Add(time.Minute))
	if len(again) != 4 || VerifyTXT(k, "x", 1, again, signedAtRef.Add(time.Minute), time.Second) != nil {
		t.Errorf("signed again %q", again)
	}
	total := 0
	for _, s := range again {
		total += 1 + len(s)
	}
	if extra := total - (1 + 3 + 1 + 4); extra > signedTXTOverhead {
		t.Errorf("signing added %d bytes, overhead %d", extra, signedTXTOverhead)
	}
}

// FuzzVerifyTXT: VerifyTXT never panics on any strings, and whatever
// SignTXT signs verifies, under the instance name and port it was signed
// for only.
func FuzzVerifyTXT(f *testing.F) {
	k, _ := testKeys(f)
	f.Add("Zoë's game", uint16(7600), "v=1\x00id=zoe1\x00g=demo\x00p=1\x00c=4\x00s=open", int64(1748779200000))
	f.Add("x", uint16(1), "h=AAAAAAAAAAAAAAAAAAAAAA\x00t=1\x00t=2\x00H", int64(0))
	f.Add("", uint16(0), "\x00=\x00h=\x00t=", int64(-1))
	f.Fuzz(func(t *testing.T, inst string, port uint16, joined string, ms int64) {
		txt := strings.Split(joined, "\x00")
		at := time.UnixMilli(ms)
		_ = VerifyTXT(k, inst, port, txt, at, time.Minute)
		_ = VerifyTXT(beacon.Key{}, inst, port, txt, at, time.Minute)
		if ms < 0 || len(inst) > 63 || slices.ContainsFunc(txt, func(s string) bool { return len(s) > 255 }) {
			return // not what SignTXT is given
		}
		signed := SignTXT(k, inst, port, txt, at)
		if err := VerifyTXT(k, inst, port, signed, at, 0); err != nil {
			t.Fatalf("SignTXT(%q, %d, %q) = %q does not verify: %v", inst, port, txt, signed, err)
		}
		if err := VerifyTXT(k, inst, port+1, signed, at, 0); err == nil {
			t.Fatalf("verifies with port %d", port+1)
		}
		if err := VerifyTXT(k, inst+"x", port, signed, at, 0); err == nil {
			t.Fatal("verifies under another instance name")
		}
	})
}

func ExampleSignTXT() {
	key, err := beacon.NewKey("correct horse battery staple")
	if err != nil {
		panic(err)
	}
	txt := SignTXT(key, "Zoë's game", 7600, EncodeTXT(zoeLobby()), signedAtRef)
	fmt.Println(txt[len(txt)-2:])
	fmt.Println(VerifyTXT(key, "Zoë's game", 7600, txt, signedAtRef.Add(time.Minute), DefaultTXTReplayWindow))
	// Output:
	// [t=1748779200000 h=j0qY4Qc0hzls4Ygpx-RuiA]
	// <nil>
}
