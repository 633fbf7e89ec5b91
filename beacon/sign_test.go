package beacon

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testKey derives a key cheaply (one PBKDF2 iteration): the real count
// costs ~1 s per key under the race detector. TestKeyGolden covers NewKey.
func testKey(t testing.TB, passphrase string) Key {
	t.Helper()
	k, err := newKey(passphrase, 1)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedAt is the time of the golden and table tests: a whole millisecond,
// as timestamps are.
var signedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// TestKeyGolden pins the KDF and the signed layout of PROTOCOL.md
// ("Signed beacons"), so other implementations can check theirs. The
// values were cross-checked with Python's hashlib.pbkdf2_hmac and hmac.
func TestKeyGolden(t *testing.T) {
	k, err := NewKey("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(k.master[:]), "b16fb80a73a27c3aab012896555958a4875668b79477a99d0dcf66abb5bd21eb"; got != want {
		t.Errorf("master = %s\nwant     %s", got, want)
	}
	// The subkey is HKDF-Expand (RFC 5869) of the master key.
	want, err := hkdf.Expand(sha256.New, k.master[:], LabelBeacon, 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.subkey(LabelBeacon); !bytes.Equal(got, want) {
		t.Errorf("subkey = %x, HKDF-Expand gives %x", got, want)
	}
	q, _ := Encode(&Packet{Kind: KindQuery, Seq: 7, Game: "q"})
	signed, err := k.SignPacket(q, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	wantHex := "4c4c4f42" + "01" + "03" + "00" + "00" + "00000007" + "0000" + "0171" + // query
		"01" + "08" + "000001972b5cee00" + // timestamp TLV: unix ms of signedAt
		"02" + "10" + "ac58f4d505578e28280f7a28bd2101b4" // MAC TLV
	if got := hex.EncodeToString(signed); got != wantHex {
		t.Errorf("signed query = %s\nwant           %s", got, wantHex)
	}
}

func TestNewKey(t *testing.T) {
	if _, err := newKey("", 1); err == nil {
		t.Error("empty passphrase accepted")
	}
	a, b := testKey(t, "a"), testKey(t, "b")
	if a.IsZero() || !(Key{}).IsZero() {
		t.Error("IsZero")
	}
	if bytes.Equal(a.master[:], b.master[:]) || !bytes.Equal(a.master[:], testKey(t, "a").master[:]) {
		t.Error("keys of different passphrases equal, or of one passphrase different")
	}
	// The secret never shows in a printed config.
	secret := fmt.Sprint(a.master[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		s := fmt.Sprintf(verb, AdvertiserConfig{Key: a})
		if strings.Contains(s, secret) || !strings.Contains(s, "beacon.Key(set)") {
			t.Errorf("%s: %s", verb, s)
		}
	}
}

func TestSignVerify(t *testing.T) {
	k, other := testKey(t, "lan party"), testKey(t, "other")
	msg := []byte("lobby list at 12:00")
	mac := k.Sign(LabelBeacon, msg)
	if len(mac) != MACSize || !k.Verify(LabelBeacon, msg, mac) {
		t.Fatalf("Sign = %x, does not verify", mac)
	}
	flipped := bytes.Clone(mac)
	flipped[MACSize-1] ^= 1
	for name, ok := range map[string]bool{
		"other label":   k.Verify("lanlobby mdns v1", msg, mac),
		"other key":     other.Verify(LabelBeacon, msg, mac),
		"other message": k.Verify(LabelBeacon, []byte("lobby list at 12:01"), mac),
		"flipped bit":   k.Verify(LabelBeacon, msg, flipped),
		"truncated":     k.Verify(LabelBeacon, msg, mac[:MACSize-1]),
		"empty":         k.Verify(LabelBeacon, msg, nil),
		"full HMAC":     k.Verify(LabelBeacon, msg, append(bytes.Clone(mac), make([]byte, 16)...)),
		"zero key":      Key{}.Verify(LabelBeacon, msg, mac),
	} {
		if ok {
			t.Errorf("%s: verified", name)
		}
	}
	if bytes.Equal(k.Sign("a", msg), k.Sign("b", msg)) {
		t.Error("labels do not separate")
	}
	defer func() {
		if recover() == nil {
			t.Error("Sign with the zero Key did not panic")
		}
	}()
	Key{}.Sign(LabelBeacon, msg)
}

func TestInWindow(t *testing.T) {
	w := 30 * time.Second
	for _, tt := range []struct {
		d  time.Duration // now - signed
		ok bool
	}{
		{0, true}, {w, true}, {-w, true}, {w + time.Millisecond, false}, {-w - time.Millisecond, false},
		{time.Duration(1 << 62), false}, {-time.Duration(1 << 62), false},
	} {
		if got := InWindow(signedAt, signedAt.Add(tt.d), w); got != tt.ok {
			t.Errorf("InWindow(now-signed %v) = %v", tt.d, got)
		}
	}
	// Timestamps far outside time.Duration's range do not wrap around.
	if InWindow(time.UnixMilli(-1<<63), signedAt, w) || InWindow(time.UnixMilli(1<<63-1), signedAt, w) {
		t.Error("extreme timestamp accepted")
	}
}

// withMAC appends a MAC TLV over b, whatever b holds.
func withMAC(k Key, b []byte) []byte {
	mac := k.Sign(LabelBeacon, b)
	return append(append(b, tlvMAC, byte(len(mac))), mac...)
}

// tsTLV is a timestamp TLV.
func tsTLV(at time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte{tlvTimestamp, tsLen}, uint64(at.UnixMilli()))
}

func TestVerifyPacket(t *testing.T) {
	k, other := testKey(t, "lan party"), testKey(t, "other")
	w := DefaultReplayWindow
	base := validPackets()[0]
	plain, _ := Encode(base)
	signed, err := k.SignPacket(bytes.Clone(plain), signedAt)
	if err != nil {
		t.Fatal(err)
	}
	if len(signed) != len(plain)+SignedOverhead {
		t.Fatalf("signed %d bytes, plain %d", len(signed), len(plain))
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		key  Key
		in   []byte
		now  time.Time
		want error
	}{
		{"valid", k, signed, signedAt, nil},
		{"window end", k, signed, signedAt.Add(w), nil},
		{"window start", k, signed, signedAt.Add(-w), nil},
		{"past window end", k, signed, signedAt.Add(w + time.Millisecond), ErrBadTimestamp},
		{"before window start", k, signed, signedAt.Add(-w - time.Millisecond), ErrBadTimestamp},
		{"replayed an hour later", k, signed, signedAt.Add(time.Hour), ErrBadTimestamp},
		{"wrong key", other, signed, signedAt, ErrBadSignature},
		{"zero key", Key{}, signed, signedAt, ErrBadSignature},
		{"unsigned", k, plain, signedAt, ErrUnsigned},
		{"unsigned with other TLVs", k, cat(plain, []byte{0x07, 1, 0xaa}, tsTLV(signedAt)), signedAt, ErrUnsigned},
		{"MAC removed", k, signed[:len(signed)-2-MACSize], signedAt, ErrUnsigned},
		{"MAC truncated", k, cat(signed[:len(signed)-MACSize-1], []byte{MACSize - 1}, signed[len(signed)-MACSize:len(signed)-1]), signedAt, ErrBadSignature},
		{"MAC empty", k, cat(signed[:len(signed)-2-MACSize], []byte{tlvMAC, 0}), signedAt, ErrBadSignature},
		{"TLV after MAC", k, cat(signed, []byte{0x07, 0}), signedAt, ErrBadSignature},
		{"two MACs", k, withMAC(k, bytes.Clone(signed)), signedAt, ErrBadSignature},
		{"no timestamp", k, withMAC(k, bytes.Clone(plain)), signedAt, ErrBadSignature},
		{"two timestamps", k, withMAC(k, cat(plain, tsTLV(signedAt), tsTLV(signedAt))), signedAt, ErrBadSignature},
		{"short timestamp", k, withMAC(k, cat(plain, []byte{tlvTimestamp, 7, 0, 0, 0, 0, 0, 0, 0})), signedAt, ErrBadSignature},
		{"other TLVs signed", k, withMAC(k, cat(plain, []byte{0x07, 1, 0xaa}, tsTLV(signedAt), []byte{0x08, 0})), signedAt, nil},
		{"other label", k, cat(plain, tsTLV(signedAt), []byte{tlvMAC, MACSize}, k.Sign("lanlobby mdns v1", cat(plain, tsTLV(signedAt)))), signedAt, ErrBadSignature},
		{"not a beacon", k, []byte("HTTP/1.1"), signedAt, ErrNotBeacon},
		{"malformed tail", k, signed[:len(signed)-1], signedAt, ErrMalformed},
	}
	for _, tt := range tests {
		p, err := tt.key.VerifyPacket(tt.in, tt.now, w)
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want == nil && !reflect.DeepEqual(&p, base):
			t.Errorf("%s: packet %+v", tt.name, p)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestVerifyPacketEveryBit: any one bit flipped anywhere in a signed
// packet of each kind makes it fail, and never passes as unsigned-but-fine.
func TestVerifyPacketEveryBit(t *testing.T) {
	k := testKey(t, "lan party")
	for _, p := range validPackets() {
		plain, _ := Encode(p)
		signed, err := k.SignPacket(plain, signedAt)
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(signed) * 8 {
			b := bytes.Clone(signed)
			b[i/8] ^= 1 << (i % 8)
			_, err := k.VerifyPacket(b, signedAt, DefaultReplayWindow)
			if err == nil {
				t.Fatalf("%s: bit %d flipped, still verifies", p.Kind, i)
			}
			if !isSentinel(err) {
				t.Fatalf("%s: bit %d: error without sentinel: %v", p.Kind, i, err)
			}
		}
	}
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrNotBeacon, ErrVersion, ErrMalformed, ErrUnsigned, ErrBadSignature, ErrBadTimestamp} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestSignedDecodesUnkeyed: receivers without a key skip the signature
// TLVs and get the same packet (a mixed LAN degrades gracefully).
func TestSignedDecodesUnkeyed(t *testing.T) {
	k := testKey(t, "lan party")
	for _, p := range validPackets() {
		b, _ := Encode(p)
		signed, err := k.SignPacket(b, signedAt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(signed)
		if err != nil {
			t.Fatalf("%s: %v", p.Kind, err)
		}
		if !reflect.DeepEqual(&got, p) {
			t.Fatalf("%s: got %+v, want %+v", p.Kind, got, *p)
		}
	}
}

// TestSignedPack: signing senders leave room for the signature, so every
// signed packet fits MaxPacketSize and verifies; SignPacket refuses to
// overflow.
func TestSignedPack(t *testing.T) {
	k := testKey(t, "lan party")
	s := &signing{key: k, window: DefaultReplayWindow, now: func() time.Time { return signedAt }}
	big := validPackets()[2].Lobbies[0] // every string at its limit
	var ls []Lobby
	for i := range 100 {
		l := big
		l.ID = fmt.Sprintf("%s%03d", l.ID[:MaxIDLen-3], i)
		ls = append(ls, l)
	}
	pkts, err := s.pack(&Packet{Kind: KindAnnounce, Seq: 1, TTLSeconds: 6, Lobbies: ls})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, b := range pkts {
		if len(b) > MaxPacketSize {
			t.Fatalf("%d bytes", len(b))
		}
		p, err := k.VerifyPacket(b, signedAt, DefaultReplayWindow)
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Lobbies)
	}
	if n != len(ls) {
		t.Fatalf("%d lobbies in %d packets, want %d", n, len(pkts), len(ls))
	}
	if b, err := k.SignPacket(make([]byte, MaxPacketSize-SignedOverhead), signedAt); err != nil || len(b) != MaxPacketSize {
		t.Errorf("full size: %d bytes, %v", len(b), err)
	}
	if _, err := k.SignPacket(make([]byte, MaxPacketSize-SignedOverhead+1), signedAt); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversize: %v", err)
	}
	if _, err := (Key{}).SignPacket(make([]byte, 20), signedAt); err == nil {
		t.Error("zero key signed")
	}
	// Without a key, nothing changes.
	plain := &signing{now: func() time.Time { return signedAt }}
	p := validPackets()[0]
	got, _ := plain.pack(p)
	want, _ := Pack(p)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unkeyed pack differs from Pack")
	}
}

// testClock is a clock seam that tests move: the real time plus an offset.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// recvRaw returns the next packet c receives, undecoded.
func recvRaw(t *testing.T, c *fakeConn) []byte {
	t.Helper()
	select {
	case p := <-c.in:
		return p.data
	case <-time.After(waitTimeout):
		t.Fatal("nothing within", waitTimeout)
		return nil
	}
}

// TestSignedAdvertiserQueries: a keyed advertiser answers only queries
// signed with its key within the window, counting the others by kind,
// and signs its answers.
func TestSignedAdvertiserQueries(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	k, other := testKey(t, "lan party"), testKey(t, "other")
	clock := &testClock{}
	a, _ := runAdvertiser(t, n, h1, AdvertiserConfig{Interval: time.Hour, Key: k, now: clock.now}, testLobby("a"))
	querier := n.open(h2, false)
	defer querier.Close()
	q, _ := Encode(&Packet{Kind: KindQuery})
	sign := func(k Key, at time.Time) []byte {
		b, err := k.SignPacket(bytes.Clone(q), at)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	querier.SendMulticast(q)
	querier.SendMulticast(sign(other, clock.now()))
	querier.SendMulticast(sign(k, clock.now().Add(-DefaultReplayWindow-time.Second)))
	testutil.WaitFor(t, waitTimeout, "rejected queries counted", func() bool {
		s := a.Stats()
		return s.Unsigned == 1 && s.BadSignature == 1 && s.BadTimestamp == 1
	})
	// Rejected queries never reach the answering loop, so the first
	// packet the querier gets answers the signed query.
	querier.SendMulticast(sign(k, clock.now()))
	ans := recvRaw(t, querier)
	p, err := k.VerifyPacket(ans, clock.now(), DefaultReplayWindow)
	if err != nil || p.Kind != KindAnnounce || p.Flags&FlagReply == 0 || len(p.Lobbies) != 1 {
		t.Fatalf("answer %+v: %v", p, err)
	}
	// Counted once the answer is out: poll.
	testutil.WaitFor(t, waitTimeout, "answer counted", func() bool { return a.Stats().Answers == 1 })
	if s := a.Stats(); s.Queries != 4 {
		t.Fatalf("stats %+v", s)
	}
}

// TestSignedBrowserQueryFresh: a keyed browser signs each query when it
// sends it, so a refresh long after the start is still answered.
func TestSignedBrowserQueryFresh(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	k := testKey(t, "lan party")
	clock := &testClock{}
	a, _ := runAdvertiser(t, n, h1, AdvertiserConfig{Interval: time.Hour, Key: k, now: clock.now}, testLobby("a"))
	b, _ := newTestBrowser(t, n, h2, BrowserConfig{Key: k, now: clock.now})
	start(t, b)
	if ev := nextEvent(t, b.Events()); ev.Type != Added || ev.Lobby.ID != "a" {
		t.Fatalf("event %+v", ev)
	}
	testutil.WaitFor(t, waitTimeout, "the start's queries answered", func() bool {
		const all = 1 + uint64(len(queryRepeats))
		// Answers are counted once sent: after the browser may have them.
		return b.Stats().Queries == all && a.Stats().Queries == all && a.Stats().Answers == all
	})
	answered := a.Stats().Answers
	clock.advance(time.Hour) // both hosts' clocks: they still agree
	b.Query()
	testutil.WaitFor(t, waitTimeout, "refresh answered", func() bool { return a.Stats().Answers == answered+1 })
	if s, bs := a.Stats(), b.Stats(); s.BadTimestamp != 0 || bs.BadTimestamp != 0 || bs.Unsigned != 0 || bs.BadSignature != 0 {
		t.Fatalf("advertiser %+v\nbrowser %+v", s, bs)
	}
}

// TestSignedConfig: a negative window is refused; zero means the default.
func TestSignedConfig(t *testing.T) {
	if _, err := NewAdvertiser(AdvertiserConfig{ReplayWindow: -1}); err == nil {
		t.Error("advertiser: negative ReplayWindow accepted")
	}
	if _, err := NewBrowser(BrowserConfig{ReplayWindow: -1}); err == nil {
		t.Error("browser: negative ReplayWindow accepted")
	}
	a, err := NewAdvertiser(AdvertiserConfig{})
	if err != nil || a.sig.window != DefaultReplayWindow || !a.sig.key.IsZero() {
		t.Errorf("advertiser defaults: %v window %v key %v", err, a.sig.window, a.sig.key)
	}
	b, err := NewBrowser(BrowserConfig{Key: testKey(t, "k")})
	if err != nil || b.sig.window != DefaultReplayWindow || b.table.hold != 2*DefaultReplayWindow {
		t.Errorf("browser defaults: %v window %v hold %v", err, b.sig.window, b.table.hold)
	}
	if b, _ := NewBrowser(BrowserConfig{}); b.table.hold != 0 {
		t.Errorf("unkeyed browser holds tombstones %v", b.table.hold)
	}
}
