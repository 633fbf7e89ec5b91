package mdns

// The network changes under a running responder (inside netlab
// namespaces): an address that arrives after the start, a new DHCP
// address, an interface down and up; and the start-up failures that must
// be immediate (port 5353 held by another program, an interface that
// does not exist).

import (
	"context"
	"errors"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/netutil"
)

// followBound is how soon after a network change the other host must see
// a lobby as it now is.
const followBound = 2 * time.Second

// followed polls cond from the change at start until it holds, failing
// the test if that takes over followBound; it returns the time taken.
func followed(t *testing.T, start time.Time, what string, cond func() bool) time.Duration {
	t.Helper()
	for !cond() {
		if time.Since(start) > followBound {
			t.Fatalf("%s: not within %v of the change", what, followBound)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%s: %v after the change", what, took.Round(time.Millisecond))
	return took
}

// hostIs reports whether b lists lobby id at address a.
func hostIs(b *Browser, id string, a netip.Addr) func() bool {
	return func() bool {
		for _, l := range b.Lobbies() {
			if l.ID == id && l.Host.Addr() == a {
				return true
			}
		}
		return false
	}
}

// TestLabMDNSAddressArrives: a responder started on a host whose only LAN
// interface has no address yet runs, says it waits, establishes nothing,
// and once DHCP (here ip) gives the address probes and announces: a
// browser on another host sees the lobby within followBound.
func TestLabMDNSAddressArrives(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	if err := h1.IP("addr flush dev " + h1.Iface); err != nil {
		t.Fatal(err)
	}
	b := labBrowser(t, h2, BrowserConfig{})
	r, err := NewResponder(ResponderConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.SetLobby(zoeLobby())
	if err != nil {
		t.Fatal(err)
	}
	runIn(t, h1, r)
	testutil.WaitFor(t, waitTimeout, "responder waiting for the network", func() bool {
		st := r.Interfaces()
		return st.Waiting() && errors.Is(st.Missing, netutil.ErrNoInterfaces)
	})
	select {
	case <-reg.Established():
		t.Fatal("established without a network")
	default:
	}
	if s := r.Stats(); s.Probes != 0 || s.Announcements != 0 {
		t.Fatalf("worked without a network: %+v", s)
	}
	start := time.Now()
	if err := h1.IP("addr add " + h1.IPv4.String() + "/24 dev " + h1.Iface); err != nil {
		t.Fatal(err)
	}
	followed(t, start, "mDNS lobby seen", hostIs(b, "zoe1", h1.IPv4))
	select {
	case <-reg.Established():
	default:
		t.Fatal("seen but not established")
	}
}

// TestLabMDNSAddressChange: a new DHCP address (the old one removed,
// another added) is where a browser on another host finds the lobby
// within followBound: the responder says goodbye to the old address and
// announces the new one on the interface.
func TestLabMDNSAddressChange(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	b := labBrowser(t, h2, BrowserConfig{})
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	testutil.WaitFor(t, waitTimeout, "lobby at the first address", hostIs(b, "zoe1", h1.IPv4))
	goodbyes := r.Stats().Goodbyes
	moved := netip.AddrFrom4([4]byte{198, 18, 1, 101})
	start := time.Now()
	if err := h1.IP("addr del " + h1.IPv4.String() + "/24 dev lan0\naddr add " + moved.String() + "/24 dev lan0"); err != nil {
		t.Fatal(err)
	}
	followed(t, start, "mDNS lobby at the new address", hostIs(b, "zoe1", moved))
	if r.Stats().Goodbyes == goodbyes {
		t.Error("no goodbye for the address that went away")
	}
}

// TestLabMDNSLinkDownUp: a responder whose only interface goes down
// waits; when it is up again it probes and announces: a browser on
// another host, which by itself asks only once a minute, hears from the
// lobby within followBound of the link coming up.
func TestLabMDNSLinkDownUp(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	b := labBrowser(t, h2, BrowserConfig{LivenessInterval: time.Minute, Expiry: 2 * time.Minute})
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	testutil.WaitFor(t, waitTimeout, "lobby seen", hostIs(b, "zoe1", h1.IPv4))
	if err := h1.IP("link set lan0 down"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, waitTimeout, "responder waiting while the link is down", func() bool { return r.Interfaces().Waiting() })
	start := time.Now()
	if err := h1.IP("link set lan0 up"); err != nil {
		t.Fatal(err)
	}
	followed(t, start, "mDNS lobby heard again", func() bool {
		l := b.Lobbies()
		return len(l) == 1 && l[0].Seen.After(start) && l[0].Host.Addr() == h1.IPv4
	})
}

// runErr runs r inside h and returns Run's error; Run must return by
// itself, at once.
func runErr(t *testing.T, h *netlab.Host, r runner) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- h.Do(func() error { return r.Run(context.Background()) }) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitTimeout):
		r.Close()
		<-errc
		t.Fatal("Run hung instead of failing")
		return nil
	}
}

// TestLabMDNSStartFailures: port 5353 held by another program without
// sharing (an mDNS stack that does not share), and an interface name that
// does not exist, make Run fail at once with an error that says which.
func TestLabMDNSStartFailures(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	h := lab.Hosts[0]
	for _, network := range []string{"udp4", "udp6"} {
		var hold net.PacketConn
		if err := h.Do(func() (err error) {
			addr := "0.0.0.0:5353"
			if network == "udp6" {
				addr = "[::]:5353"
			}
			hold, err = net.ListenPacket(network, addr)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		r, err := NewResponder(ResponderConfig{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := runErr(t, h, r); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "5353") {
			t.Errorf("responder, %s port held: %v", network, err)
		}
		b, err := NewBrowser(BrowserConfig{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := runErr(t, h, b); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "5353") {
			t.Errorf("browser, %s port held: %v", network, err)
		}
		hold.Close()
	}
	r, err := NewResponder(ResponderConfig{Logger: quiet, Interfaces: netutil.IfaceOptions{Names: []string{"lan0", "nosuch0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := runErr(t, h, r); !errors.Is(err, netutil.ErrUnknownInterface) || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Errorf("unknown interface: %v", err)
	}
}

// TestLabMDNSBrowserAddressArrives: a browser started on a host without
// an address yet waits, and queries as soon as the address comes: it
// lists a lobby published long before within followBound.
func TestLabMDNSBrowserAddressArrives(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	r := labResponder(t, h1, ResponderConfig{})
	publish(t, r, zoeLobby())
	if err := h2.IP("addr flush dev " + h2.Iface); err != nil {
		t.Fatal(err)
	}
	b := labBrowser(t, h2, BrowserConfig{})
	testutil.WaitFor(t, waitTimeout, "browser waiting for the network", func() bool {
		st := b.Interfaces()
		return st.Waiting() && st.Missing != nil
	})
	if s := b.Stats(); s.Queries != 0 {
		t.Fatalf("queried without a network: %+v", s)
	}
	start := time.Now()
	if err := h2.IP("addr add " + h2.IPv4.String() + "/24 dev " + h2.Iface); err != nil {
		t.Fatal(err)
	}
	followed(t, start, "mDNS lobby found by the new browser", hostIs(b, "zoe1", h1.IPv4))
}
