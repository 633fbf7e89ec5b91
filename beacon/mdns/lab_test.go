package mdns

// Real-socket tests: responders and browsers run inside network
// namespaces built by netlab, never on the machine's own interfaces,
// against independent mDNS implementations: avahi-daemon (with its
// avahi-browse and avahi-publish), libp2p/zeroconf/v2 and hashicorp/mdns
// (both in-process, inside a lab host through Host.Do).

import (
	"context"
	"fmt"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hmdns "github.com/hashicorp/mdns"
	"github.com/libp2p/zeroconf/v2"
	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/internal/netlab"
)

func labResponder(t testing.TB, h *netlab.Host, cfg ResponderConfig) *Responder {
	t.Helper()
	cfg.Logger = quiet
	r, err := NewResponder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runIn(t, h, r)
	return r
}

func labBrowser(t testing.TB, h *netlab.Host, cfg BrowserConfig) *Browser {
	t.Helper()
	cfg.Logger = quiet
	b, err := NewBrowser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runIn(t, h, b)
	return b
}

func zoeLobby() beacon.Lobby {
	return beacon.Lobby{ID: "zoe1", Game: "demo", Name: "Zoë's game", Players: 1, Capacity: 4, State: beacon.StateOpen, Port: 7600}
}

// publish registers l on r and waits until it is established.
func publish(t testing.TB, r *Responder, l beacon.Lobby) *Registration {
	t.Helper()
	reg, err := r.SetLobby(l)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-reg.Established():
	case <-time.After(waitTimeout):
		t.Fatalf("%q not established", l.Name)
	}
	return reg
}

// avahiBrowse runs avahi-browse -rtp (resolve, terminate after the cache
// dump) for a service type and returns the resolved entries.
func avahiBrowse(t *testing.T, av *netlab.Avahi, typ string) []netlab.AvahiBrowseEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := av.Command(ctx, "avahi-browse", "-rtp", typ).Output()
	if err != nil {
		t.Fatalf("avahi-browse -rtp %s: %v\n%s", typ, err, out)
	}
	var res []netlab.AvahiBrowseEntry
	for _, line := range strings.Split(string(out), "\n") {
		if e, ok := netlab.ParseAvahiBrowse(line); ok && e.Event == "=" {
			res = append(res, e)
		}
	}
	return res
}

// TestLabAvahiResolvesOurLobby: a lobby whose name has a space, an
// apostrophe and a non-ASCII letter, published on h1, is found and
// resolved by avahi on h2 (name, h1's addresses, port, TXT), also through
// its game's subtype, and not through another game's.
func TestLabAvahiResolvesOurLobby(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	av := h2.StartAvahi(t)
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	ll, err := h1.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}
	entries := avahiBrowse(t, av, "_lanlobby._tcp")
	if len(entries) == 0 {
		t.Fatal("avahi-browse found nothing")
	}
	for _, e := range entries {
		t.Logf("avahi: %+v", e)
		if e.Name != "Zoë's game" || e.Type != "_lanlobby._tcp" || e.Port != 7600 || e.Host != strings.TrimSuffix(r.HostName(), ".") {
			t.Errorf("entry %+v", e)
		}
		if a := e.Addr.WithZone(""); a != h1.IPv4 && a != h1.IPv6 && a != ll.WithZone("") {
			t.Errorf("address %v is not h1's", e.Addr)
		}
		slices.Sort(e.TXT)
		if want := []string{"c=4", "g=demo", "id=zoe1", "n=Zoë's game", "p=1", "s=open", "v=1"}; !slices.Equal(e.TXT, want) {
			t.Errorf("TXT %q, want %q", e.TXT, want)
		}
	}
	if sub := avahiBrowse(t, av, "_demo._sub._lanlobby._tcp"); len(sub) == 0 || sub[0].Name != "Zoë's game" {
		t.Errorf("subtype browse: %+v", sub)
	}
	if other := avahiBrowse(t, av, "_other._sub._lanlobby._tcp"); len(other) != 0 {
		t.Errorf("other subtype browse: %+v", other)
	}
}

// TestLabGoLibrariesFindOurLobby: libp2p/zeroconf/v2 (Browse, Lookup)
// and hashicorp/mdns (Query) inside h3 find the lobby published on h1.
//
// Both work inside a namespace when called through Host.Do: they list
// interfaces (netlink) and open their sockets on the calling thread,
// which is the namespace's. Both report instance names in miekg/dns
// presentation form (`Zo\195\171\'s\ game`), and zeroconf's Lookup only
// matches a name given in that form (it compares its own unescaped name
// with the escaped received ones), so the test passes it escaped.
// hashicorp/mdns sends its query from an ephemeral port, which makes it a
// legacy unicast query to us, and always waits for its full timeout.
func TestLabGoLibrariesFindOurLobby(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h3 := lab.Hosts[0], lab.Hosts[2]
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	escaped := escapeLabel("Zoë's game")

	// zeroconf's Browse and Lookup open their sockets on the calling
	// goroutine, which must therefore be the namespace's: run them inside
	// Do and let Do return only when they are done.
	for _, lookup := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		entries := make(chan *zeroconf.ServiceEntry, 16)
		start := time.Now()
		var got *zeroconf.ServiceEntry
		var took time.Duration
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case got = <-entries:
				took = time.Since(start)
			case <-ctx.Done():
			}
			cancel()
		}()
		err := h3.Do(func() error {
			ifi, err := net.InterfaceByName(netlab.HostIface)
			if err != nil {
				return err
			}
			opts := []zeroconf.ClientOption{zeroconf.SelectIfaces([]net.Interface{*ifi})}
			if lookup {
				return zeroconf.Lookup(ctx, escaped, "_lanlobby._tcp", "local.", entries, opts...)
			}
			return zeroconf.Browse(ctx, "_lanlobby._tcp", "local.", entries, opts...)
		})
		wg.Wait()
		if err != nil && err != context.Canceled {
			t.Fatalf("zeroconf (lookup %v): %v", lookup, err)
		}
		if got == nil {
			t.Fatalf("zeroconf (lookup %v) found nothing", lookup)
		}
		t.Logf("zeroconf (lookup %v) found it after %v: %q port %d host %s %v %v %q", lookup, took.Round(100*time.Microsecond), got.Instance, got.Port, got.HostName, got.AddrIPv4, got.AddrIPv6, got.Text)
		if got.Instance != escaped || got.Port != 7600 || got.HostName != r.HostName() || !slices.ContainsFunc(got.AddrIPv4, func(ip net.IP) bool { return ip.Equal(h1.IPv4.AsSlice()) }) {
			t.Errorf("zeroconf entry %+v", got)
		}
		if !slices.Contains(got.Text, "id=zoe1") {
			t.Errorf("zeroconf TXT %q", got.Text)
		}
		for _, a := range append(got.AddrIPv4, got.AddrIPv6...) {
			ip, _ := netip.AddrFromSlice(a)
			if ip = ip.Unmap(); ip != h1.IPv4 && ip != h1.IPv6 && !ip.IsLinkLocalUnicast() {
				t.Errorf("zeroconf got address %v, not h1's", ip)
			}
		}
	}

	entries := make(chan *hmdns.ServiceEntry, 16)
	start := time.Now()
	err := h3.Do(func() error {
		return hmdns.Query(&hmdns.QueryParam{Service: "_lanlobby._tcp", Domain: "local", Timeout: time.Second, Entries: entries})
	})
	if err != nil {
		t.Fatalf("hashicorp/mdns: %v", err)
	}
	close(entries)
	var found []*hmdns.ServiceEntry
	for e := range entries {
		found = append(found, e)
	}
	if len(found) == 0 {
		t.Fatal("hashicorp/mdns found nothing")
	}
	e := found[0]
	t.Logf("hashicorp/mdns (%v, its full timeout): %q host %s %v port %d %q", time.Since(start).Round(time.Millisecond), e.Name, e.Host, e.AddrV4, e.Port, e.InfoFields)
	if e.Name != instanceName("Zoë's game") || e.Port != 7600 || !e.AddrV4.Equal(h1.IPv4.AsSlice()) || !slices.Contains(e.InfoFields, "g=demo") {
		t.Errorf("hashicorp/mdns entry %+v", e)
	}
}

// watcher follows a Browser's events.
type watcher struct {
	t  testing.TB
	ch <-chan beacon.Event
}

// until returns the first event matching match within the timeout.
func (w watcher) until(timeout time.Duration, what string, match func(beacon.Event) bool) beacon.Event {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-w.ch:
			if !ok {
				w.t.Fatal("events closed")
			}
			w.t.Logf("event: %s %s %q host %v players %d rtt %v", ev.Type, ev.Lobby.ID, ev.Lobby.Name, ev.Lobby.Host, ev.Lobby.Players, ev.Lobby.RTT)
			if match(ev) {
				return ev
			}
		case <-deadline:
			w.t.Fatalf("no %s within %v", what, timeout)
			return beacon.Event{}
		}
	}
}

func is(typ beacon.EventType, id string) func(beacon.Event) bool {
	return func(ev beacon.Event) bool { return ev.Type == typ && ev.Lobby.ID == id }
}

// bobService is a static avahi service file for the lobby bob1.
func bobService(players int) string {
	return fmt.Sprintf(`<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Bob's lobby</name>
  <service>
    <type>_lanlobby._tcp</type>
    <subtype>_demo._sub._lanlobby._tcp</subtype>
    <port>7600</port>
    <txt-record>v=1</txt-record>
    <txt-record>id=bob1</txt-record>
    <txt-record>g=demo</txt-record>
    <txt-record>p=%d</txt-record>
    <txt-record>c=4</txt-record>
    <txt-record>s=open</txt-record>
  </service>
</service-group>
`, players)
}

// writeService installs bob.service in avahi's static service directory
// and reloads avahi-daemon. The file is renamed into place, so avahi never
// reads half of it, with an mtime of its own: avahi reloads a file only
// when its mtime, in whole seconds, changed.
func writeService(t *testing.T, av *netlab.Avahi, version int, content string) {
	t.Helper()
	mtime := time.Now().Unix() + int64(10*version)
	runAvahi(t, av, "sh", "-c", fmt.Sprintf(
		"cat > /etc/avahi/services/.bob.tmp <<'EOF'\n%sEOF\ntouch -d @%d /etc/avahi/services/.bob.tmp && mv /etc/avahi/services/.bob.tmp /etc/avahi/services/bob.service",
		content, mtime))
	runAvahi(t, av, "avahi-daemon", "--reload")
}

func runAvahi(t *testing.T, av *netlab.Avahi, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := av.Command(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}

// TestLabBrowserFindsThirdParties: our browser on h2 finds lobbies
// published by avahi on h1 (avahi-publish, then a static service file
// whose TXT changes on reload) and by libp2p/zeroconf/v2 on h3 (SetText,
// Shutdown), keeps them while they answer its liveness queries, and
// drops them on goodbyes.
func TestLabBrowserFindsThirdParties(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	av := h1.StartAvahi(t)
	b := labBrowser(t, h2, BrowserConfig{})
	w := watcher{t, b.Events()}

	pub := av.Start(t, "avahi-publish", "-s", "Bob's lobby", "_lanlobby._tcp", "7600", "v=1", "id=bob1", "g=demo", "p=1", "c=4", "s=open")
	start := time.Now()
	ev := w.until(waitTimeout, "bob1 added", is(beacon.Added, "bob1"))
	t.Logf("avahi-publish start -> Added in our running browser: %v", time.Since(start).Round(time.Millisecond))
	if ev.Lobby.Name != "Bob's lobby" || ev.Lobby.Host.Port() != 7600 || ev.Lobby.Players != 1 || ev.Lobby.Source != "mdns" ||
		(ev.Lobby.Host.Addr() != h1.IPv4 && ev.Lobby.Host.Addr() != h1.IPv6 && !ev.Lobby.Host.Addr().IsLinkLocalUnicast()) {
		t.Errorf("lobby %+v", ev.Lobby)
	}
	testutil.WaitFor(t, waitTimeout, "bob1 at h1's IPv4 address", func() bool {
		l := b.Lobbies()
		return len(l) == 1 && l[0].Host == netip.AddrPortFrom(h1.IPv4, 7600)
	})
	pub.Stop() // avahi-publish exits: avahi-daemon says goodbye
	w.until(waitTimeout, "bob1 removed", is(beacon.Removed, "bob1"))

	// A static service: its TXT changes on reload (SIGHUP).
	writeService(t, av, 1, bobService(1))
	w.until(waitTimeout, "static bob1 added", is(beacon.Added, "bob1"))
	writeService(t, av, 2, bobService(3))
	w.until(waitTimeout, "bob1 with 3 players", func(ev beacon.Event) bool {
		return ev.Lobby.ID == "bob1" && ev.Type != beacon.Removed && ev.Lobby.Players == 3
	})

	// libp2p/zeroconf/v2 on h3, with its own host name (not the machine's,
	// which it would otherwise take from os.Hostname), in a process of its
	// own (zeroconfPeer). Its instance name is plain ASCII: with a space it
	// would not answer the SRV/TXT questions of our liveness checks (it
	// compares escaped with unescaped names).
	zc := h3.Start(t, zeroconfPeer(t), "-instance", "Carol-zeroconf", "-port", "7602", "-host", "carol-zc",
		"-ips", h3.IPv4.String()+","+h3.IPv6.String(),
		"-txt", "v=1,id=carol1,g=demo,p=1,c=4,s=open", "-txt2", "v=1,id=carol1,g=demo,p=2,c=4,s=started")
	zc.WaitForLine(t, waitTimeout, netlab.Contains("registered"))
	ev = w.until(waitTimeout, "carol1 added", is(beacon.Added, "carol1"))
	if ev.Lobby.Host != netip.AddrPortFrom(h3.IPv4, 7602) || ev.Lobby.Name != "Carol-zeroconf" {
		t.Errorf("lobby %+v", ev.Lobby)
	}
	if err := zc.Signal(syscall.SIGUSR1); err != nil { // SetText
		t.Fatal(err)
	}
	ev = w.until(waitTimeout, "carol1 updated", is(beacon.Updated, "carol1"))
	if ev.Lobby.Players != 2 || ev.Lobby.State != beacon.StateStarted {
		t.Errorf("lobby %+v", ev.Lobby)
	}

	// Both third parties answer the liveness checks: they stay for
	// several liveness rounds (no event means no removal).
	checks := b.Stats().LivenessChecks
	deadline := time.Now().Add(20 * time.Second)
	for b.Stats().LivenessChecks < checks+6 {
		select {
		case ev := <-b.Events():
			if ev.Type == beacon.Removed {
				t.Fatalf("removed while alive: %+v (stats %+v)", ev, b.Stats())
			}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("liveness checks stalled: %+v", b.Stats())
		}
	}
	if got := len(b.Lobbies()); got != 2 {
		t.Errorf("%d lobbies after the liveness rounds: %+v", got, b.Lobbies())
	}
	t.Logf("stats after %d liveness checks: %+v", b.Stats().LivenessChecks-checks, b.Stats())

	if err := zc.Signal(syscall.SIGTERM); err != nil { // Shutdown: goodbyes
		t.Fatal(err)
	}
	start = time.Now()
	w.until(waitTimeout, "carol1 removed", is(beacon.Removed, "carol1"))
	t.Logf("zeroconf Shutdown -> Removed: %v", time.Since(start).Round(time.Millisecond))
}

// TestLabLegacyUnicast: a query from an ephemeral port (a plain DNS
// resolver) sent by unicast to h1's address, and one sent to the group,
// get unicast answers with the ID copied, the question echoed and TTLs
// capped at 10 s (RFC 6762 §6.7); dig does the same when installed.
func TestLabLegacyUnicast(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())

	for _, dst := range []netip.Addr{h1.IPv4, group4, h1.IPv6} {
		var reply *dns.Msg
		var from netip.AddrPort
		err := h2.Do(func() error {
			network := "udp4"
			if dst.Is6() {
				network = "udp6"
			}
			c, err := net.ListenPacket(network, ":0")
			if err != nil {
				return err
			}
			defer c.Close()
			m := query(q(ServiceType, dns.TypePTR, false))
			m.Id = 0xbeef
			b, _ := m.Pack()
			if _, err := c.WriteTo(b, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, Port))); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 9000)
			n, src, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			from = src.(*net.UDPAddr).AddrPort()
			reply = new(dns.Msg)
			return reply.Unpack(buf[:n])
		})
		if err != nil {
			t.Fatalf("to %v: %v", dst, err)
		}
		t.Logf("legacy query to %v: reply from %v:\n%v", dst, from, reply)
		if want := dst; !dst.IsMulticast() && from.Addr().Unmap() != want {
			t.Errorf("reply from %v, want %v", from, want)
		}
		if from.Port() != Port {
			t.Errorf("reply from port %d", from.Port())
		}
		if reply.Id != 0xbeef || len(reply.Question) != 1 || reply.Question[0].Name != ServiceType || len(reply.Answer) != 1 {
			t.Errorf("reply %v", reply)
		}
		for _, rr := range append(reply.Answer, reply.Extra...) {
			if rr.Header().Ttl > 10 || cacheFlush(rr) {
				t.Errorf("record %v", rr)
			}
		}
	}

	if _, err := exec.LookPath("dig"); err != nil {
		t.Fatal("dig is needed (Debian bind9-dnsutils; .ci/run installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h2.Command(ctx, "dig", "+tries=1", "+time=3", "-p", "5353", "@"+h1.IPv4.String(), "_lanlobby._tcp.local", "PTR").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	t.Logf("dig:\n%s", out)
	// dig escapes its own way: `Zo\195\171's\032game`.
	if !strings.Contains(string(out), `PTR	Zo\195\171's\032game._lanlobby._tcp.local.`) || !strings.Contains(string(out), "ANSWER: 1") {
		t.Errorf("dig output lacks the answer")
	}
}

// TestLabNameConflict: two hosts registering the same lobby name end
// with distinct names, one of them "(2)", and avahi sees both.
func TestLabNameConflict(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	av := h3.StartAvahi(t)
	r1 := labResponder(t, h1, ResponderConfig{})
	r2 := labResponder(t, h2, ResponderConfig{})
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
	start := time.Now()
	for _, reg := range []*Registration{reg1, reg2} {
		select {
		case <-reg.Established():
		case <-time.After(waitTimeout):
			t.Fatal("not established")
		}
	}
	names := []string{reg1.Name(), reg2.Name()}
	t.Logf("names %q after %v", names, time.Since(start).Round(time.Millisecond))
	slices.Sort(names)
	if names[0] != "Zoë's game" || names[1] != "Zoë's game (2)" {
		t.Fatalf("names %q", names)
	}
	var seen []string
	for _, e := range avahiBrowse(t, av, "_lanlobby._tcp") {
		if !slices.Contains(seen, e.Name) {
			seen = append(seen, e.Name)
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, names) {
		t.Errorf("avahi sees %q", seen)
	}
}

// TestLabBesideAvahi: our responder and avahi-daemon share port 5353 on
// h1; avahi on h2 sees our lobby and the one avahi publishes on h1, and
// so does our browser on h2.
func TestLabBesideAvahi(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	avs := lab.StartAvahi(t, h1, h2)
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	pub := avs[0].Start(t, "avahi-publish", "-s", "Avahi's lobby", "_lanlobby._tcp", "7601", "v=1", "id=av1", "g=demo", "p=1", "c=4", "s=open")
	pub.WaitForLine(t, waitTimeout, netlab.Contains("Established under name"))
	b := labBrowser(t, h2, BrowserConfig{})
	testutil.WaitFor(t, waitTimeout, "both lobbies in our browser", func() bool { return len(b.Lobbies()) == 2 })
	var names []string
	for _, e := range avahiBrowse(t, avs[1], "_lanlobby._tcp") {
		if !slices.Contains(names, e.Name) {
			names = append(names, e.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Avahi's lobby", "Zoë's game"}) {
		t.Errorf("avahi on h2 sees %q", names)
	}
	// avahi on h1 sees our lobby too (through the shared port).
	if local := avahiBrowse(t, avs[0], "_lanlobby._tcp"); !slices.ContainsFunc(local, func(e netlab.AvahiBrowseEntry) bool { return e.Name == "Zoë's game" }) {
		t.Errorf("avahi on h1 does not see our lobby: %+v", local)
	}
}

// TestLabLiveness: a lobby whose host drops off the LAN without goodbyes
// (its cable cut) leaves our browser within the expiry, not after its
// 120 s TTLs.
func TestLabLiveness(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	b := labBrowser(t, h2, BrowserConfig{})
	w := watcher{t, b.Events()}
	w.until(waitTimeout, "added", is(beacon.Added, "zoe1"))
	// Let a few liveness rounds pass first.
	testutil.WaitFor(t, 15*time.Second, "liveness checks", func() bool { return b.Stats().LivenessChecks >= 2 })
	if err := h1.SetLink(false); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	w.until(10*time.Second, "removed", is(beacon.Removed, "zoe1"))
	gone := time.Since(cut)
	t.Logf("removed %v after the cut (expiry %v)", gone.Round(time.Millisecond), DefaultExpiry)
	if gone > DefaultExpiry+500*time.Millisecond {
		t.Errorf("removed %v after the cut", gone)
	}
}

var (
	peersMu  sync.Mutex
	peersDir string            // where the peers are built; removed by TestMain
	peerBins map[string]string // by testdata directory
)

// zeroconfPeer builds testdata/zeroconfpeer (without the race detector:
// zeroconf's SetText races with its own goroutines) once per test binary.
func zeroconfPeer(t *testing.T) string { return peerBinary(t, "zeroconfpeer") }

// peerBinary builds the program in testdata/<name> without the race
// detector, once per test binary, and returns its path.
func peerBinary(t *testing.T, name string) string {
	t.Helper()
	peersMu.Lock()
	defer peersMu.Unlock()
	if bin, ok := peerBins[name]; ok {
		return bin
	}
	if peersDir == "" {
		dir, err := os.MkdirTemp("", "mdns-peers-")
		if err != nil {
			t.Fatal(err)
		}
		peersDir, peerBins = dir, map[string]string{}
	}
	bin := filepath.Join(peersDir, name)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "build", "-o", bin, "./testdata/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./testdata/%s: %v\n%s", name, err, out)
	}
	peerBins[name] = bin
	return bin
}
