package beacon

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode: Decode never panics, fails only with its sentinel errors,
// and whatever it accepts re-encodes to a packet that decodes the same
// (Decode(Encode(Decode(b))) == Decode(b)), no longer than the input
// (extensions are dropped, nothing is added).
func FuzzDecode(f *testing.F) {
	for _, p := range validPackets() {
		b, err := Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("LLOB"))
	f.Add(mustHex("4c4c4f42 01 01 00 20 00000001 0006 ffff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrNotBeacon) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error without sentinel: %v", err)
			}
			return
		}
		enc, err := Encode(&p)
		if err != nil {
			t.Fatalf("Decode accepted what Encode refuses: %v\n%+v", err, p)
		}
		if len(enc) > len(b) {
			t.Fatalf("re-encoded %d bytes from %d", len(enc), len(b))
		}
		if len(enc) == len(b) && !bytes.Equal(enc, b) {
			t.Fatalf("same length, different bytes:\n in %x\nout %x", b, enc)
		}
		q, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(p)): %v", err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", q, p)
		}
	})
}
