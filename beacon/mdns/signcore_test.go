package mdns

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// Pure tests of signed TXT records: the responder's signing and
// re-signing, the browser's checks.

// keyedCore is testCore with a LAN key (resign 60 s), established.
func keyedCore(t *testing.T, key beacon.Key, l beacon.Lobby) (*core, *Registration, *fakeClock, []sent) {
	t.Helper()
	clk := newClock()
	c := newCore(coreConfig{ttl: 120, announceCount: 3, jitter: noJitter, log: quiet, key: key, resign: DefaultResignInterval}, "me")
	reg := &Registration{established: make(chan struct{})}
	reg.svc = &service{reg: reg, owner: owner{base: l.Name}, game: l.Game, port: l.Port, txt: EncodeTXT(l)}
	c.add(clk.now(), reg.svc)
	c.start(clk.now(), []netutil.Iface{eth1})
	return c, reg, clk, establish(t, c, clk)
}

// txtsIn returns the TXT records of the responses in out, with when
// they went out.
func txtsIn(out []sent) (at []time.Duration, txts [][]string) {
	for _, s := range out {
		for _, rr := range append(s.msg.Answer, s.msg.Extra...) {
			if r, ok := rr.(*dns.TXT); ok && r.Hdr.Ttl > 0 {
				at = append(at, s.at)
				txts = append(txts, txtStrings(r))
			}
		}
	}
	return at, txts
}

// TestCoreSignsTXT: with a key, every TXT record the responder sends is
// signed; it signs again every ResignInterval and announces the new
// record at once and a second later; a rename signs the same content
// and time for the new name; an answer after a long pause of the
// process carries a fresh signature.
func TestCoreSignsTXT(t *testing.T) {
	k, _ := testKeys(t)
	l := zoeLobby()
	c, reg, clk, out := keyedCore(t, k, l)
	start := clk.now().Add(-5 * time.Second)
	_, txts := txtsIn(out)
	if len(txts) == 0 {
		t.Fatal("no TXT record sent")
	}
	for _, txt := range txts {
		if err := VerifyTXT(k, l.Name, l.Port, txt, clk.now(), 10*time.Second); err != nil {
			t.Errorf("%q: %v", txt, err)
		}
		if got := txt[:len(txt)-2]; !slices.Equal(got, EncodeTXT(l)) {
			t.Errorf("signed content %q", got)
		}
	}
	// Re-signing: 60 s after registration, announced at once and 1 s
	// later, with a new timestamp.
	out = runFor(t, c, clk, 70*time.Second)
	at, txts := txtsIn(out)
	if want := []time.Duration{55 * time.Second, 56 * time.Second}; !slices.Equal(at, want) {
		t.Errorf("TXT announced at %v after establishing, want %v", at, want)
	}
	for _, txt := range txts {
		if err := VerifyTXT(k, l.Name, l.Port, txt, start.Add(DefaultResignInterval), 0); err != nil {
			t.Errorf("re-signed %q: %v", txt, err)
		}
	}
	if c.stats.Resigns != 1 {
		t.Errorf("stats %+v", c.stats)
	}
	// A query answered after 10 minutes without a tick (the process was
	// suspended) gets a record signed now.
	clk.advance(10 * time.Minute)
	reply := c.handle(clk.now(), fromPeer(t, query(q(instanceName(l.Name), dns.TypeTXT, true))))
	if len(reply) != 1 {
		t.Fatalf("%d replies", len(reply))
	}
	_, txts = txtsIn([]sent{{msg: unpack(t, reply[0].data)}})
	if len(txts) != 1 || VerifyTXT(k, l.Name, l.Port, txts[0], clk.now(), 0) != nil {
		t.Errorf("answer after a pause %q", txts)
	}
	// A rename (name conflict after announcing, then taken) signs the
	// same content and time under the new name.
	stamp := reg.svc.signedAt
	reg.svc.owner.label = renamed(l.Name, 2)
	txt := txtStrings(c.txtRecord(reg.svc, 120).(*dns.TXT))
	if err := VerifyTXT(k, l.Name+" (2)", l.Port, txt, stamp, 0); err != nil {
		t.Errorf("after a rename %q: %v", txt, err)
	}
	// A TXT change is signed at once.
	clk.advance(time.Second)
	l.Players = 3
	c.setTXT(clk.now(), reg.svc, EncodeTXT(l))
	txt = txtStrings(c.txtRecord(reg.svc, 120).(*dns.TXT))
	if err := VerifyTXT(k, l.Name+" (2)", l.Port, txt, clk.now(), 0); err != nil || !slices.Contains(txt, "p=3") {
		t.Errorf("after a change %q: %v", txt, err)
	}
}

func newKeyedBrowser(t *testing.T, key beacon.Key) *testBrowser {
	clk := newClock()
	tb := &testBrowser{t: t, clk: clk, start: clk.now()}
	tb.b = newBrowseCore(browseConfig{liveness: 2 * time.Second, expiry: 6 * time.Second, maxLobbies: 16, jitter: noJitter,
		key: key, window: DefaultTXTReplayWindow, log: quiet})
	tb.b.sink = func(ev beacon.Event) { tb.events = append(tb.events, ev) }
	tb.b.start(clk.now(), []netutil.Iface{browserIface})
	return tb
}

// TestBrowseSigned: a browser with a key shows the lobbies of responders
// with the same key, ignores and counts the others (unsigned, another
// key, replayed after the window); a browser without a key shows signed
// lobbies like any other.
func TestBrowseSigned(t *testing.T) {
	k, other := testKeys(t)
	l := zoeLobby()
	_, _, _, good := keyedCore(t, k, l)
	_, _, _, wrong := keyedCore(t, other, l)
	_, _, _, plain := responderFor(t, l)
	announcement := func(out []sent) []sent { return out[3:4] } // the first one: PTR, SRV, TXT, addresses

	tb := newKeyedBrowser(t, k)
	tb.feedAll(announcement(good))
	if ev := tb.takeEvents(); len(ev) != 1 || ev[0].Type != beacon.Added || ev[0].Lobby.Players != 1 {
		t.Fatalf("same key: events %+v", ev)
	}
	if s := tb.b.stats; s.Unsigned+s.BadSignature+s.BadTimestamp != 0 {
		t.Errorf("stats %+v", s)
	}

	for _, c := range []struct {
		name string
		ann  []sent
		at   time.Duration // after the signing
		stat func(BrowserStats) uint64
	}{
		{"unsigned", plain, 0, func(s BrowserStats) uint64 { return s.Unsigned }},
		{"another key", wrong, 0, func(s BrowserStats) uint64 { return s.BadSignature }},
		{"replayed after the window", good, DefaultTXTReplayWindow + time.Second, func(s BrowserStats) uint64 { return s.BadTimestamp }},
		{"from the future", good, -DefaultTXTReplayWindow - time.Second, func(s BrowserStats) uint64 { return s.BadTimestamp }},
	} {
		tb := newKeyedBrowser(t, k)
		tb.clk.advance(c.at)
		tb.feedAll(announcement(c.ann))
		tb.clk.advance(time.Millisecond)
		tb.feedAll(announcement(c.ann)) // counted per arrival
		if ev := tb.takeEvents(); len(ev) != 0 {
			t.Errorf("%s: events %+v", c.name, ev)
		}
		if n := c.stat(tb.b.stats); n != 2 {
			t.Errorf("%s: counted %d, stats %+v", c.name, n, tb.b.stats)
		}
	}

	// Without a key, t and h are unknown keys: the lobby shows.
	tb, _ = newTestBrowser(t, "")
	tb.feedAll(announcement(good))
	if ev := tb.takeEvents(); len(ev) != 1 || ev[0].Type != beacon.Added || ev[0].Lobby.Name != l.Name {
		t.Errorf("no key: events %+v", ev)
	}
}

// TestBrowseSignedKeepAndExpire: a lobby shown whose newest TXT record
// fails the check (here: one signed with another key, with the
// cache-flush bit) stays as last verified, but only verified TXT records
// keep it alive: unsigned or wrongly signed answers to its liveness
// checks do not, and it leaves Expiry after the last valid record; a
// valid record in time keeps it.
func TestBrowseSignedKeepAndExpire(t *testing.T) {
	k, other := testKeys(t)
	l := zoeLobby()
	_, _, _, good := keyedCore(t, k, l)
	l2 := l
	l2.Players = 3
	_, _, _, wrong := keyedCore(t, other, l2)
	tb := newKeyedBrowser(t, k)
	tb.feedAll(good[3:4])
	tb.takeEvents()
	last := tb.clk.now()

	for tb.clk.now().Sub(last) < 10*time.Second {
		tb.run(500 * time.Millisecond)
		tb.feedAll(wrong[3:4]) // keeps coming, never valid
		for _, ev := range tb.takeEvents() {
			if ev.Type != beacon.Removed {
				t.Fatalf("event %+v", ev)
			}
			if d := tb.clk.now().Sub(last); d < 6*time.Second || d > 6500*time.Millisecond {
				t.Errorf("removed %v after the last valid TXT, want 6 s", d)
			}
			if tb.b.stats.BadSignature == 0 || tb.b.stats.LivenessRemovals != 1 {
				t.Errorf("stats %+v", tb.b.stats)
			}
			goto valid
		}
		if got := tb.b.snapshot(); len(got) != 1 || got[0].Players != 1 {
			t.Fatalf("shown %+v, want the last verified state", got)
		}
	}
	t.Fatal("never removed")

valid:
	// A valid record coming in time keeps the lobby, whatever bad ones
	// come between.
	tb = newKeyedBrowser(t, k)
	tb.feedAll(good[3:4])
	tb.takeEvents()
	for range 20 {
		tb.run(500 * time.Millisecond)
		tb.feedAll(wrong[3:4])
		tb.feedAll(good[3:4])
	}
	if ev := tb.takeEvents(); len(ev) != 0 {
		t.Errorf("events %+v", ev)
	}
	if got := tb.b.snapshot(); len(got) != 1 || got[0].Players != 1 || got[0].Host != netip.MustParseAddrPort("10.0.0.1:7600") {
		t.Errorf("shown %+v", got)
	}
}

// TestResponderSignedTXTRoom: with a key, a TXT record must leave room
// for the signature; Service still reports the TXT as given.
func TestResponderSignedTXTRoom(t *testing.T) {
	k, _ := testKeys(t)
	r, err := NewResponder(ResponderConfig{Key: k, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	full := []string{strings.Repeat("x", 255), strings.Repeat("y", 255), strings.Repeat("z", 255), strings.Repeat("w", 255), strings.Repeat("v", MaxTXTLen-4*256-1-20)}
	if err := validateTXT(full); err != nil {
		t.Fatalf("unsigned: %v", err)
	}
	if _, err := r.Register(Service{Instance: "x", Port: 1, TXT: full}); !errors.Is(err, ErrInvalidService) {
		t.Errorf("Register with no room for the signature: %v", err)
	}
	reg, err := r.SetLobby(zoeLobby())
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Service().TXT; !slices.Equal(got, EncodeTXT(zoeLobby())) {
		t.Errorf("Service().TXT %q", got)
	}
	if err := reg.SetTXT(full); !errors.Is(err, ErrInvalidTXT) {
		t.Errorf("SetTXT with no room for the signature: %v", err)
	}
	r.Close()
}
