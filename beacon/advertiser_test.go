package beacon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"

	"github.com/lanlobby/lanlobby/netutil"
)

// newTestAdvertiser returns an Advertiser on host h of n, not yet running.
func newTestAdvertiser(t *testing.T, n *fakeNet, h fakeHost, cfg AdvertiserConfig) (*Advertiser, *opened) {
	t.Helper()
	var opened *opened
	cfg.ifaces, cfg.listen, opened = n.seams(h)
	cfg.Logger = quiet
	a, err := NewAdvertiser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, opened
}

// startListening runs a and returns once its socket is open.
func startListening(t *testing.T, a *Advertiser, o *opened) {
	t.Helper()
	start(t, a)
	testutil.WaitFor(t, waitTimeout, "advertiser listening", func() bool { return o.count() > 0 })
}

// slow keeps periodic announcements out of the way of a test.
var slow = AdvertiserConfig{Interval: time.Hour}

// TestAdvertiserAnnounces: set sends at once, an unchanged set sends
// nothing, a change sends at once, remove sends a goodbye at once, and
// stopping says goodbye for the rest.
func TestAdvertiserAnnounces(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	tap := n.tap(t, h2)
	a, _ := newTestAdvertiser(t, n, h1, slow)
	if err := a.Set(testLobby("early")); err != nil { // before Run: sent when it starts
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()

	p, src := tap.nextKind(t, KindAnnounce)
	if src != netip.AddrPortFrom(h1.v4, DefaultPort) || len(p.Lobbies) != 1 || p.Lobbies[0].ID != "early" || p.TTLSeconds != uint16(MaxTTL/time.Second) {
		t.Fatalf("first announce %+v from %v", p, src)
	}
	l := testLobby("a")
	if err := a.Set(l); err != nil {
		t.Fatal(err)
	}
	p, _ = tap.nextKind(t, KindAnnounce)
	if len(p.Lobbies) != 1 || p.Lobbies[0] != l {
		t.Fatalf("announce %+v", p)
	}
	seq := p.Seq
	if err := a.Set(l); err != nil { // unchanged: nothing
		t.Fatal(err)
	}
	l.Players++
	if err := a.Set(l); err != nil {
		t.Fatal(err)
	}
	p, _ = tap.nextKind(t, KindAnnounce)
	if p.Seq == seq+1 && p.Lobbies[0].Players != l.Players {
		p, _ = tap.nextKind(t, KindAnnounce) // a new lobby's repeat (changeRepeat) came first
	}
	if len(p.Lobbies) != 1 || p.Lobbies[0].Players != l.Players || seqOrder(p.Seq, seq) <= 0 {
		t.Fatalf("change %+v (seq was %d)", p, seq)
	}
	if err := a.Remove("a"); err != nil {
		t.Fatal(err)
	}
	p, _ = tap.nextKind(t, KindGoodbye) // maybe after a new lobby's repeat
	if p.Kind != KindGoodbye || len(p.Lobbies) != 1 || p.Lobbies[0].ID != "a" {
		t.Fatalf("goodbye %+v", p)
	}
	if err := a.Remove("a"); !errors.Is(err, ErrUnknownLobby) {
		t.Fatalf("Remove twice: %v", err)
	}
	a.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	p, _ = tap.nextKind(t, KindGoodbye)
	if p.Kind != KindGoodbye || len(p.Lobbies) != 1 || p.Lobbies[0].ID != "early" {
		t.Fatalf("farewell %+v", p)
	}
	if err := a.Set(l); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if err := a.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if s := a.Stats(); s.SendErrors != 0 || s.Sent < 5 {
		t.Fatalf("stats %+v", s)
	}
}

// TestAdvertiserPeriodic: with a short interval announcements repeat, with
// the whole set, from a fresh sequence number each time.
func TestAdvertiserPeriodic(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, ""), newFakeHost(2, "")
	tap := n.tap(t, h2)
	a, _ := newTestAdvertiser(t, n, h1, AdvertiserConfig{Interval: 20 * time.Millisecond})
	if a.TTL() != time.Second {
		t.Fatalf("TTL %v, want 1s (3 × 26.6 ms rounded up)", a.TTL())
	}
	a.Set(testLobby("a"))
	a.Set(testLobby("b"))
	start(t, a)
	var last uint32
	full := 0
	for full < 3 {
		p, _ := tap.nextKind(t, KindAnnounce)
		if p.Seq == last { // the other family's copy
			continue
		}
		last = p.Seq
		if len(p.Lobbies) == 2 {
			full++
		}
	}
}

// TestAdvertiserAnswersQuery: a query gets a unicast answer to its source
// at once, flagged as a reply, from the advertiser's own answer port, with
// only the asked game; its source's budget is per address: another port
// of the same address shares it.
func TestAdvertiserAnswersQuery(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	// 60 bytes a second, 120 in a burst: one answer (28 + 14 + 26 + 26
	// bytes at most), then too little for another.
	a, o := newTestAdvertiser(t, n, h1, AdvertiserConfig{Interval: time.Hour, AnswerBytesPerSource: 60})
	doom := testLobby("d")
	doom.Game = "doom"
	a.Set(testLobby("q"))
	a.Set(doom)
	startListening(t, a, o)
	querier := n.open(h2, false)
	defer querier.Close()
	q, _ := Encode(&Packet{Kind: KindQuery, Game: "doom"})
	querier.SendMulticast(q)
	p, src := querier.next(t)
	if p.Kind != KindAnnounce || p.Flags != FlagReply || src.Addr() != h1.v4 || src.Port() == DefaultPort {
		t.Fatalf("answer %+v from %v", p, src)
	}
	if len(p.Lobbies) != 1 || p.Lobbies[0] != doom {
		t.Fatalf("answer lobbies %+v", p.Lobbies)
	}
	// From another port of the same address, at once: over the source's
	// budget.
	q2 := n.open(h2, false)
	defer q2.Close()
	all, _ := Encode(&Packet{Kind: KindQuery})
	q2.SendMulticast(all)
	testutil.WaitFor(t, waitTimeout, "rate limit", func() bool { return a.Stats().RateLimited == 1 })
	// Another address is answered: both lobbies fit the unpadded query's
	// 3 × 43 bytes.
	h3 := newFakeHost(3, "udp4")
	q3 := n.open(h3, false)
	defer q3.Close()
	q3.SendMulticast(all)
	if p, _ := q3.next(t); len(p.Lobbies) != 2 || p.Flags != FlagReply {
		t.Fatalf("answer to all %+v", p)
	}
	// Counted once the packets are out: poll.
	testutil.WaitFor(t, waitTimeout, "2 answers counted", func() bool { return a.Stats().Answers == 2 })
	if s := a.Stats(); s.Queries != 3 || s.RateLimited != 1 {
		t.Fatalf("stats %+v", s)
	}
	select {
	case p := <-q2.in:
		t.Fatalf("rate-limited querier got %x", p.data)
	default:
	}
}

// TestAdvertiserAnswerBounds: an answer is at most MaxAmplification times
// its query (IP and UDP headers counted) and MaxAnswerPackets datagrams;
// an answer cut short says so (FlagMore on its last packet) and a
// follow-up query for the lobbies after its last id, sent to the port the
// answer came from, gets the next page; a query too small for any lobby
// gets nothing.
func TestAdvertiserAnswerBounds(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	a, o := newTestAdvertiser(t, n, h1, AdvertiserConfig{Interval: time.Hour,
		Coordinator: &Coordinator{ID: "daemon", Name: "LAN server", Port: 7600}})
	const total = 300
	for i := range total {
		if err := a.Set(testLobby(fmt.Sprintf("lobby-%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	startListening(t, a, o)
	querier := n.open(h2, false)
	defer querier.Close()
	var sig signing
	full, err := sig.encodeQuery(&Packet{Kind: KindQuery})
	if err != nil || len(full) != MaxPacketSize {
		t.Fatalf("padded query: %d bytes, %v", len(full), err)
	}
	seen := map[string]bool{}
	var from netip.AddrPort
	query := full
	for round := 0; ; round++ {
		if round == 0 {
			querier.SendMulticast(query)
		} else {
			querier.SendTo(query, from)
		}
		testutil.WaitFor(t, waitTimeout, "answered", func() bool { return a.Stats().Answers == uint64(round+1) })
		bytes, packets, coord := 0, 0, false
		var last Packet
		for _, raw := range querier.drain() {
			p, err := Decode(raw.data)
			if err != nil {
				t.Fatal(err)
			}
			from = raw.src
			packets++
			bytes += len(raw.data) + ipv4Overhead
			switch p.Kind {
			case KindAnnounce:
				for _, l := range p.Lobbies {
					if seen[l.ID] {
						t.Fatalf("round %d: %s again", round, l.ID)
					}
					seen[l.ID] = true
				}
				last = p
			case KindCoordinator:
				coord = true
			}
		}
		if packets == 0 || packets > MaxAnswerPackets || bytes > MaxAmplification*(len(query)+ipv4Overhead) {
			t.Fatalf("round %d: %d packets, %d bytes for a %d-byte query", round, packets, bytes, len(query))
		}
		if coord != (round == 0) {
			t.Fatalf("round %d: coordinator packet %v", round, coord)
		}
		if last.Flags&FlagMore == 0 {
			if len(seen) != total {
				t.Fatalf("round %d: no FlagMore with %d of %d lobbies", round, len(seen), total)
			}
			t.Logf("%d lobbies in %d rounds", total, round+1)
			break
		}
		after := last.Lobbies[len(last.Lobbies)-1].ID
		if query, err = sig.encodeQuery(&Packet{Kind: KindQuery, After: after}); err != nil {
			t.Fatal(err)
		}
	}
	// Too small for any lobby: an unpadded query for game "b", 16 bytes,
	// earns 3 × 44; a lobby record of 92 bytes does not fit in them after
	// the IP, UDP and beacon headers (an advertiser without a coordinator,
	// whose packet would fit).
	h3 := newFakeHost(3, "udp4")
	small, o := newTestAdvertiser(t, n, h3, AdvertiserConfig{Interval: time.Hour})
	big := Lobby{ID: "a-long-lobby-id-xyz", Game: "b", Name: strings.Repeat("x", 63), Players: 1, Capacity: 2, State: StateOpen, Port: 1}
	small.Set(big)
	startListening(t, small, o)
	tiny, _ := Encode(&Packet{Kind: KindQuery, Game: "b"})
	querier.SendMulticast(tiny)
	testutil.WaitFor(t, waitTimeout, "too small counted", func() bool { return small.Stats().TooSmall == 1 })
	if s := small.Stats(); s.Answers != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestAdvertiserRefutes: the advertiser's own packets coming back are no
// claims; another host's announcement of one of its lobbies with other
// content, or with the same content from another address, or a goodbye,
// is refuted by an announcement of the truth at once with a seq past the
// claim's; a claim about a lobby it does not hold is none of its business.
func TestAdvertiserRefutes(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	tap := n.tap(t, h2)
	a, o := newTestAdvertiser(t, n, h1, slow)
	l := testLobby("a")
	a.Set(l)
	startListening(t, a, o)
	p, _ := tap.nextKind(t, KindAnnounce)
	for range 3 { // changes: our own packets come back
		l.Players = 1 + (l.Players % 4)
		a.Set(l)
		p, _ = tap.nextKind(t, KindAnnounce)
	}
	forger := n.open(h2, true)
	defer forger.Close()
	trap := l
	trap.Port = 6666
	other := testLobby("not-ours")
	for i, claim := range []*Packet{
		{Kind: KindAnnounce, Seq: p.Seq + 100, TTLSeconds: 6, Lobbies: []Lobby{trap}},
		{Kind: KindAnnounce, Seq: p.Seq + 200, TTLSeconds: 6, Lobbies: []Lobby{l}}, // true, but from elsewhere
		{Kind: KindGoodbye, Seq: p.Seq + 300, Lobbies: []Lobby{l}},
	} {
		b, _ := Encode(claim)
		forger.SendMulticast(b)
		got, _ := tap.nextKind(t, KindAnnounce)
		for seqOrder(got.Seq, claim.Seq) <= 0 { // the forgery itself, or a new lobby's repeat from before
			got, _ = tap.nextKind(t, KindAnnounce)
		}
		if seqOrder(got.Seq, claim.Seq) <= 0 || len(got.Lobbies) != 1 || got.Lobbies[0] != l {
			t.Fatalf("claim %d: refutation %+v", i, got)
		}
	}
	b, _ := Encode(&Packet{Kind: KindGoodbye, Seq: 1, Lobbies: []Lobby{other}})
	forger.SendMulticast(b)
	testutil.WaitFor(t, waitTimeout, "3 refutations", func() bool { return a.Stats().Refutations == 3 })
	if s := a.Stats(); s.Claims != 3 {
		t.Fatalf("stats %+v", s)
	}
	// Another term of the lobby is no claim to refute: a higher one is
	// its coordinator after a takeover or a move, a lower one (or its
	// goodbye) a stale coordinator's. A goodbye of a higher term is.
	l.Term = 3
	a.Set(l)
	higher, lower := l, l
	higher.Term, lower.Term = 4, 2
	for _, claim := range []*Packet{
		{Kind: KindAnnounce, Seq: p.Seq + 400, TTLSeconds: 6, Lobbies: []Lobby{higher}},
		{Kind: KindAnnounce, Seq: p.Seq + 500, TTLSeconds: 6, Lobbies: []Lobby{lower}},
		{Kind: KindGoodbye, Seq: p.Seq + 600, Lobbies: []Lobby{lower}},
		{Kind: KindGoodbye, Seq: p.Seq + 700, Lobbies: []Lobby{higher}},
	} {
		b, _ := Encode(claim)
		forger.SendMulticast(b)
	}
	testutil.WaitFor(t, waitTimeout, "4 refutations", func() bool { return a.Stats().Refutations == 4 })
	if s := a.Stats(); s.Claims != 4 {
		t.Fatalf("claims of other terms refuted: %+v", s)
	}
}

// TestAdvertiserIgnoresOffLink: a query whose source is not on the link
// it came in on gets no answer (no amplification towards third parties).
func TestAdvertiserIgnoresOffLink(t *testing.T) {
	n := newFakeNet()
	h1 := newFakeHost(1, "udp4")
	far := fakeHost{v4: netip.MustParseAddr("192.0.2.7"), v6: netip.MustParseAddr("2001:db8::7"), only: "udp4"}
	a, o := newTestAdvertiser(t, n, h1, slow)
	a.Set(testLobby("a"))
	startListening(t, a, o)
	q := n.open(far, false)
	defer q.Close()
	b, _ := Encode(&Packet{Kind: KindQuery})
	q.SendMulticast(b)
	testutil.WaitFor(t, waitTimeout, "off-link count", func() bool { return a.Stats().OffLink == 1 })
	if a.Stats().Answers != 0 {
		t.Fatal("answered an off-link query")
	}
}

func TestAdvertiserConfig(t *testing.T) {
	for name, cfg := range map[string]AdvertiserConfig{
		"negative interval":  {Interval: -1},
		"jitter >= interval": {Interval: time.Second, Jitter: time.Second},
		"ttl too long":       {TTL: 70000 * time.Second},
		"bad coordinator":    {Coordinator: &Coordinator{ID: "", Port: 1}},
		"bad network":        {Net: NetConfig{Network: "tcp"}},
		"unicast group":      {Net: NetConfig{Group4: netip.MustParseAddr("10.0.0.1")}},
	} {
		if _, err := NewAdvertiser(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	a, err := NewAdvertiser(AdvertiserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if a.TTL() != 6*time.Second || a.cfg.Jitter != 500*time.Millisecond {
		t.Fatalf("defaults: TTL %v, jitter %v", a.TTL(), a.cfg.Jitter)
	}
	d := DefaultAdvertiserConfig()
	if b, _ := NewAdvertiser(d); b.TTL() != a.TTL() || b.cfg.Interval != a.cfg.Interval {
		t.Fatal("DefaultAdvertiserConfig differs from the zero-value defaults")
	}
	for range 1000 {
		if p := a.period(); p < time.Second || p > 2*time.Second {
			t.Fatalf("period %v outside 1-2 s", p)
		}
	}
	if err := a.Set(Lobby{ID: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Set(invalid) = %v", err)
	}
	for i := range MaxAdvertisedLobbies {
		if err := a.Set(testLobby(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Set(testLobby("one-more")); !errors.Is(err, ErrTooManyLobbies) {
		t.Fatalf("Set beyond the limit: %v", err)
	}
	a.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAdvertiserFollowsNetwork: without an interface the advertiser runs,
// reports that it waits and sends nothing; when the network signals an
// interface, it announces at once and repeats changeRepeat later (its
// period is an hour).
func TestAdvertiserFollowsNetwork(t *testing.T) {
	n := newFakeNet()
	h1, h2 := newFakeHost(1, "udp4"), newFakeHost(2, "udp4")
	tap := n.tap(t, h2)
	cfg := slow
	var o *opened
	_, cfg.listen, o = n.seams(h1)
	var ifacesMu sync.Mutex
	st := netutil.IfaceStatus{Missing: netutil.ErrNoInterfaces}
	cfg.ifaces = func() (netutil.IfaceStatus, error) {
		ifacesMu.Lock()
		defer ifacesMu.Unlock()
		return st, nil
	}
	changes := make(chan struct{}, 1)
	cfg.changes = changes
	cfg.Logger = quiet
	a, err := NewAdvertiser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Set(testLobby("a")); err != nil {
		t.Fatal(err)
	}
	startListening(t, a, o)
	testutil.WaitFor(t, waitTimeout, "waiting status", func() bool { return a.Interfaces().Waiting() })
	ifacesMu.Lock()
	st = netutil.IfaceStatus{Ifaces: []netutil.Iface{h1.iface()}}
	ifacesMu.Unlock()
	changes <- struct{}{}
	p, _ := tap.nextKind(t, KindAnnounce)
	if len(p.Lobbies) != 1 || p.Lobbies[0].ID != "a" {
		t.Fatalf("announce %+v", p)
	}
	tap.nextKind(t, KindAnnounce) // the repeat: the period is an hour
	// Counted after the fake delivered: poll.
	testutil.WaitFor(t, waitTimeout, "2 sent", func() bool { return a.Stats().Sent >= 2 })
	if s := a.Stats(); s.Sent != 2 || s.SendErrors != 0 {
		t.Fatalf("stats %+v, want 2 sent: none while waiting", s)
	}
	if got := a.Interfaces().Names(); len(got) != 1 || got[0] != "eth0" {
		t.Fatalf("interfaces %v", got)
	}
}
