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
	// A lobby with attributes in its record extension (attrs.go).
	withAttrs := testLobby("attrs")
	withAttrs.Attrs = Attrs{Version: "1.4", CreatedMS: 1748779200000,
		Meta: LANMeta(map[string]string{"map": "dunes", "mode": "ctf", "x": "y"}, []string{"map", "mode"})}
	if b, err := Encode(&Packet{Kind: KindAnnounce, Seq: 9, TTLSeconds: 6, Lobbies: []Lobby{withAttrs, testLobby("plain")}}); err == nil {
		f.Add(b)
	}
	for _, b := range signedSeeds(f, testKey(f, "fuzz")) {
		f.Add(b)
	}
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

// signedSeeds are the corpus packets signed with k at signedAt.
func signedSeeds(f *testing.F, k Key) [][]byte {
	var out [][]byte
	for _, p := range validPackets() {
		b, _ := Encode(p)
		s, err := k.SignPacket(b, signedAt)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// FuzzVerify: Key.VerifyPacket never panics, fails only with sentinel
// errors, and accepts only what Decode accepts, as Decode reads it. With
// sign set, the input gets a valid MAC TLV appended first, so the checks
// behind the MAC (timestamp layout and window) are explored too; a random
// input never gets that far on its own.
func FuzzVerify(f *testing.F) {
	k := testKey(f, "fuzz")
	for _, b := range signedSeeds(f, k) {
		f.Add(b, false)
		f.Add(b[:len(b)-2-MACSize], true)
	}
	f.Fuzz(func(t *testing.T, b []byte, sign bool) {
		if sign {
			b = withMAC(k, bytes.Clone(b))
		}
		p, err := k.VerifyPacket(b, signedAt, DefaultReplayWindow)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("VerifyPacket error without sentinel: %v", err)
			}
			return
		}
		q, err := Decode(b)
		if err != nil {
			t.Fatalf("verified what Decode refuses: %v", err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("VerifyPacket %+v, Decode %+v", p, q)
		}
		if _, err := (Key{}).VerifyPacket(b, signedAt, DefaultReplayWindow); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("zero key: %v", err)
		}
	})
}
