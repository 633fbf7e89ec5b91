package mdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// fakeLAN is an in-memory link: every host has one interface "eth0" with
// 10.0.0.K/24 and fe80::K; multicast reaches every open conn (the
// sender's own included, like IP_MULTICAST_LOOP); unicast to port 5353
// reaches the host's querier conn if it has one, else one of its conns,
// as Linux does; a querier conn also has a legacy port of its own, which
// its legacy queries come from and unicast to it reaches.
type fakeLAN struct {
	connsMu sync.Mutex // guards conns
	conns   []*fakeConn
}

type fakeConn struct {
	lan        *fakeLAN
	addr       netip.Addr
	querier    bool
	legacyPort uint16 // querier conns: their ephemeral port
	in         chan inbound

	closeOnce sync.Once
	closed    chan struct{}
	mute      atomic.Bool // drop everything sent and received: a dead host
}

var _ packetConn = (*fakeConn)(nil)

func fakeIface(k int) netutil.Iface {
	return netutil.Iface{Index: 1, Name: "eth0", Flags: net.FlagUp | net.FlagMulticast, Prefixes: []netip.Prefix{
		netip.MustParsePrefix(fmt.Sprintf("10.0.0.%d/24", k)), netip.MustParsePrefix(fmt.Sprintf("fe80::%d/64", k)),
	}}
}

// seams returns the config seams that put a component on host k, and a
// function returning the conns it opened.
func (l *fakeLAN) seams(k int) (func() (netutil.IfaceStatus, error), listenFunc, func() []*fakeConn) {
	var mu sync.Mutex
	var mine []*fakeConn
	ifaces := func() (netutil.IfaceStatus, error) {
		return netutil.IfaceStatus{Ifaces: []netutil.Iface{fakeIface(k)}}, nil
	}
	listen := func(_ []netutil.Iface, querier bool) (packetConn, error) {
		c := &fakeConn{lan: l, addr: fakeIface(k).IPv4()[0], querier: querier, in: make(chan inbound, 256), closed: make(chan struct{})}
		if querier {
			c.legacyPort = uint16(40000 + fakePorts.Add(1))
		}
		l.connsMu.Lock()
		l.conns = append(l.conns, c)
		l.connsMu.Unlock()
		mu.Lock()
		mine = append(mine, c)
		mu.Unlock()
		return c, nil
	}
	return ifaces, listen, func() []*fakeConn { mu.Lock(); defer mu.Unlock(); return slices.Clone(mine) }
}

// SetIfaces: a fake host keeps its one interface.
func (c *fakeConn) SetIfaces([]netutil.Iface) error { return nil }

func (c *fakeConn) Read() (inbound, error) {
	select {
	case in := <-c.in:
		return in, nil
	case <-c.closed:
		return inbound{}, net.ErrClosed
	}
}

func (c *fakeConn) deliver(in inbound) {
	if c.mute.Load() {
		return
	}
	select {
	case <-c.closed:
	case c.in <- in:
	default: // full: lost, like a UDP socket buffer
	}
}

func (c *fakeConn) open() []*fakeConn {
	c.lan.connsMu.Lock()
	defer c.lan.connsMu.Unlock()
	return slices.Clone(c.lan.conns)
}

func (c *fakeConn) WriteMulticast(b []byte, ifIndex int) error {
	if c.mute.Load() {
		return nil
	}
	for _, o := range c.open() {
		o.deliver(inbound{data: slices.Clone(b), src: netip.AddrPortFrom(c.addr, Port), dst: group4, ifIndex: 1, ttl: 255})
	}
	return nil
}

var fakePorts atomic.Uint32

func (c *fakeConn) WriteLegacy(b []byte, ifIndex int) error {
	if c.mute.Load() || c.legacyPort == 0 {
		return nil
	}
	for _, o := range c.open() {
		o.deliver(inbound{data: slices.Clone(b), src: netip.AddrPortFrom(c.addr, c.legacyPort), dst: group4, ifIndex: 1, ttl: 255})
	}
	return nil
}

func (c *fakeConn) WriteTo(b []byte, dst netip.AddrPort, _ int, _ netip.Addr) error {
	if c.mute.Load() {
		return nil
	}
	var to *fakeConn
	for _, o := range c.open() {
		switch {
		case o.addr != dst.Addr():
		case dst.Port() != Port:
			if o.legacyPort == dst.Port() {
				to = o
			}
		case to == nil || o.querier:
			to = o
		}
	}
	if to != nil {
		to.deliver(inbound{data: slices.Clone(b), src: netip.AddrPortFrom(c.addr, Port), dst: to.addr, ifIndex: 1, ttl: 255, legacy: dst.Port() != Port})
	}
	return nil
}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.lan.connsMu.Lock()
		c.lan.conns = slices.DeleteFunc(c.lan.conns, func(o *fakeConn) bool { return o == c })
		c.lan.connsMu.Unlock()
	})
	return nil
}

// start runs r in the background; the test's cleanup closes it and checks
// that Run returned nil.
func start(t *testing.T, r runner) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func fakeResponder(t *testing.T, lan *fakeLAN, k int) (*Responder, func() []*fakeConn) {
	t.Helper()
	cfg := ResponderConfig{Logger: quiet}
	var conns func() []*fakeConn
	cfg.ifaces, cfg.listen, conns = lan.seams(k)
	r, err := NewResponder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	return r, conns
}

func fakeBrowser(t *testing.T, lan *fakeLAN, k int, cfg BrowserConfig) *Browser {
	t.Helper()
	cfg.Logger = quiet
	cfg.ifaces, cfg.listen, _ = lan.seams(k)
	b, err := NewBrowser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, b)
	return b
}

func waitEstablished(t *testing.T, reg *Registration) {
	t.Helper()
	select {
	case <-reg.Established():
	case <-time.After(waitTimeout):
		t.Fatalf("%q not established", reg.Name())
	}
}

func TestFakeLifecycle(t *testing.T) {
	lan := &fakeLAN{}
	r, _ := fakeResponder(t, lan, 1)
	b := fakeBrowser(t, lan, 2, BrowserConfig{})
	l := zoeLobby()
	reg, err := r.SetLobby(l)
	if err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, reg)
	ev := nextEvent(t, b.Events(), waitTimeout)
	if ev.Type != beacon.Added || ev.Lobby.Name != l.Name || ev.Lobby.Host != netip.MustParseAddrPort("10.0.0.1:7600") {
		t.Fatalf("event %+v", ev)
	}
	l.Players = 2
	if _, err := r.SetLobby(l); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Updated || ev.Lobby.Players != 2 {
		t.Fatalf("event %+v", ev)
	}
	// A new name is a new service: the old one says goodbye.
	l.Name = "Renamed"
	reg2, err := r.SetLobby(l)
	if err != nil || reg2 == reg {
		t.Fatal(err)
	}
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Removed {
		t.Fatalf("event %+v", ev)
	}
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Added || ev.Lobby.Name != "Renamed" {
		t.Fatalf("event %+v", ev)
	}
	if err := r.RemoveLobby(l.ID); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Removed {
		t.Fatalf("event %+v", ev)
	}
	if err := reg2.SetTXT([]string{"x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("SetTXT after Remove: %v", err)
	}
	// Close says goodbye for what is left.
	if _, err := r.SetLobby(zoeLobby()); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Added {
		t.Fatalf("event %+v", ev)
	}
	r.Close()
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Removed {
		t.Fatalf("event %+v", ev)
	}
	if _, err := r.Register(zoeService); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close: %v", err)
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	t.Logf("responder %+v", r.Stats())
	t.Logf("browser %+v", b.Stats())
}

func TestFakeNameConflict(t *testing.T) {
	lan := &fakeLAN{}
	r1, _ := fakeResponder(t, lan, 1)
	r2, _ := fakeResponder(t, lan, 2)
	a, b := zoeLobby(), zoeLobby()
	b.ID = "zoe2"
	reg1, err := r1.SetLobby(a)
	if err != nil {
		t.Fatal(err)
	}
	reg2, err := r2.SetLobby(b)
	if err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, reg1)
	waitEstablished(t, reg2)
	names := []string{reg1.Name(), reg2.Name()}
	slices.Sort(names)
	if names[0] != "Zoë's game" || names[1] != "Zoë's game (2)" {
		t.Fatalf("names %q", names)
	}
	// A third, registered after both are established, gets (3)... or (2)
	// if that is free: here both are taken.
	r3, _ := fakeResponder(t, lan, 3)
	c := zoeLobby()
	c.ID = "zoe3"
	reg3, err := r3.SetLobby(c)
	if err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, reg3)
	if reg3.Name() != "Zoë's game (3)" {
		t.Errorf("third named %q", reg3.Name())
	}
}

func TestFakeLiveness(t *testing.T) {
	lan := &fakeLAN{}
	r, conns := fakeResponder(t, lan, 1)
	b := fakeBrowser(t, lan, 2, BrowserConfig{LivenessInterval: 500 * time.Millisecond, Expiry: 2 * time.Second})
	reg, err := r.SetLobby(zoeLobby())
	if err != nil {
		t.Fatal(err)
	}
	waitEstablished(t, reg)
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Added {
		t.Fatalf("event %+v", ev)
	}
	// Alive for a while: the liveness checks are answered.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case ev := <-b.Events():
			t.Fatalf("event while alive: %+v", ev)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if s := b.Stats(); s.LivenessChecks == 0 {
		t.Errorf("no liveness checks: %+v", s)
	}
	for _, c := range conns() {
		c.mute.Store(true) // the host dies without goodbyes
	}
	died := time.Now()
	if ev := nextEvent(t, b.Events(), waitTimeout); ev.Type != beacon.Removed {
		t.Fatalf("event %+v", ev)
	}
	if d := time.Since(died); d > 2500*time.Millisecond {
		t.Errorf("removed %v after the host died, Expiry 2 s", d)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []ResponderConfig{
		{HostName: "bad name"}, {HostName: "a.b"}, {TTL: time.Millisecond}, {Announcements: 1}, {Announcements: 9},
		{ResignInterval: 999 * time.Millisecond}, {ResignInterval: -time.Second},
	} {
		if _, err := NewResponder(cfg); err == nil {
			t.Errorf("NewResponder(%+v) accepted", cfg)
		}
	}
	r, err := NewResponder(ResponderConfig{HostName: "mybox.local."})
	if err != nil || r.HostName() != "mybox.local." {
		t.Errorf("host %v %v", r.HostName(), err)
	}
	r, _ = NewResponder(ResponderConfig{})
	if h := r.HostName(); len(h) != len("lanlobby-12345678.local.") {
		t.Errorf("default host %q", h)
	}
	for _, s := range []Service{{Instance: "", Port: 1}, {Instance: "x"}, {Instance: "x", Port: 1, Game: "A"}, {Instance: "x", Port: 1, TXT: []string{string(make([]byte, 300))}}} {
		if _, err := r.Register(s); !errors.Is(err, ErrInvalidService) {
			t.Errorf("Register(%+v) = %v", s, err)
		}
	}
	for _, cfg := range []BrowserConfig{{Game: "Bad Game"}, {LivenessInterval: 5 * time.Second, Expiry: 5 * time.Second}, {MaxLobbies: -1}, {ReplayWindow: -time.Second}} {
		if _, err := NewBrowser(cfg); err == nil {
			t.Errorf("NewBrowser(%+v) accepted", cfg)
		}
	}
}

// TestFakeMerge: the Browser is a beacon.Source; Merge passes its lobbies
// on and drops them when it stops.
func TestFakeMerge(t *testing.T) {
	lan := &fakeLAN{}
	r, _ := fakeResponder(t, lan, 1)
	b := fakeBrowser(t, lan, 2, BrowserConfig{})
	m := beacon.NewMerge(b)
	start(t, m)
	waitEstablished(t, publishFake(t, r, zoeLobby()))
	ev := nextEvent(t, m.Events(), waitTimeout)
	if ev.Type != beacon.Added || ev.Lobby.ID != "zoe1" || ev.Lobby.Source != SourceName {
		t.Fatalf("merged event %+v", ev)
	}
	b.Close()
	if ev := nextEvent(t, m.Events(), waitTimeout); ev.Type != beacon.Removed {
		t.Fatalf("merged event %+v", ev)
	}
}

func publishFake(t *testing.T, r *Responder, l beacon.Lobby) *Registration {
	t.Helper()
	reg, err := r.SetLobby(l)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
