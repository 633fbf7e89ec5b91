package beacon

// The network changes under running components (inside netlab
// namespaces): an address that arrives after the start, a new DHCP
// address, an interface down and up; and the start-up failures that must
// be immediate (a port held by another program, an interface that does
// not exist).

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

// quietBrowser starts a browser on h and waits until its queries at start
// are over, so that what it learns afterwards comes from announcements.
func quietBrowser(t *testing.T, h *netlab.Host) *Browser {
	t.Helper()
	b := labBrowser(t, h, BrowserConfig{})
	testutil.WaitFor(t, waitTimeout, h.Name+" browser's first queries sent", func() bool {
		return b.Stats().Queries >= uint64(1+len(queryRepeats))
	})
	return b
}

// hourly announces once an hour: whatever a browser hears within seconds
// of a network change was sent because of it.
var hourly = AdvertiserConfig{Interval: time.Hour}

// TestLabAddressArrives: an advertiser started on a host whose only LAN
// interface has no address yet runs, says it waits, and announces as soon
// as DHCP (here ip) gives the address.
func TestLabAddressArrives(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	if err := h1.IP("addr flush dev " + h1.Iface); err != nil {
		t.Fatal(err)
	}
	b := quietBrowser(t, h2)
	cfg := hourly
	cfg.Logger = quiet
	a, err := NewAdvertiser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Set(testLobby("a")); err != nil {
		t.Fatal(err)
	}
	runIn(t, h1, a)
	testutil.WaitFor(t, waitTimeout, "advertiser waiting for the network", func() bool {
		st := a.Interfaces()
		return st.Waiting() && errors.Is(st.Missing, netutil.ErrNoInterfaces)
	})
	if s := a.Stats(); s.Sent != 0 || s.SendErrors != 0 {
		t.Fatalf("sent while waiting: %+v", s)
	}
	start := time.Now()
	if err := h1.IP("addr add " + h1.IPv4.String() + "/24 dev " + h1.Iface); err != nil {
		t.Fatal(err)
	}
	followed(t, start, "beacon lobby seen", hostIs(b, "a", h1.IPv4))
	if st := a.Interfaces(); st.Waiting() || st.Names()[0] != h1.Iface {
		t.Fatalf("advertiser status %v", st)
	}
}

// TestLabAddressChange: a new DHCP address (the old one removed, another
// added) is where browsers find the lobby within followBound.
func TestLabAddressChange(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	b := quietBrowser(t, h2)
	labAdvertiser(t, h1, hourly, testLobby("a"))
	testutil.WaitFor(t, waitTimeout, "lobby at the first address", hostIs(b, "a", h1.IPv4))
	moved := netip.AddrFrom4([4]byte{198, 18, 1, 101})
	start := time.Now()
	if err := h1.IP("addr del " + h1.IPv4.String() + "/24 dev lan0\naddr add " + moved.String() + "/24 dev lan0"); err != nil {
		t.Fatal(err)
	}
	followed(t, start, "beacon lobby at the new address", hostIs(b, "a", moved))
}

// TestLabLinkDownUp: an advertiser whose interface goes down waits, and
// announces when it is up again: the browser hears from the lobby within
// followBound of the link coming up (its announcements are an hour
// apart).
func TestLabLinkDownUp(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	b := quietBrowser(t, h2)
	a := labAdvertiser(t, h1, hourly, testLobby("a"))
	testutil.WaitFor(t, waitTimeout, "lobby seen", hostIs(b, "a", h1.IPv4))
	if err := h1.IP("link set lan0 down"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, waitTimeout, "advertiser waiting while the link is down", func() bool { return a.Interfaces().Waiting() })
	start := time.Now()
	if err := h1.IP("link set lan0 up"); err != nil {
		t.Fatal(err)
	}
	followed(t, start, "beacon lobby heard again", func() bool {
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

// TestLabStartFailures: a beacon port held by another program without
// sharing, and an interface name that does not exist, make Run fail at
// once with an error that says which; a named interface without an
// address is waited for.
func TestLabStartFailures(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 1})
	h := lab.Hosts[0]
	var hold net.PacketConn
	if err := h.Do(func() (err error) {
		hold, err = net.ListenPacket("udp4", "0.0.0.0:7601")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a, err := NewAdvertiser(AdvertiserConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := runErr(t, h, a); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "7601") {
		t.Errorf("advertiser on a held port: %v", err)
	}
	b, err := NewBrowser(BrowserConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := runErr(t, h, b); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "7601") {
		t.Errorf("browser on a held port: %v", err)
	}
	hold.Close()

	a, err = NewAdvertiser(AdvertiserConfig{Logger: quiet, Net: NetConfig{Interfaces: netutil.IfaceOptions{Names: []string{"nosuch0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := runErr(t, h, a); !errors.Is(err, netutil.ErrUnknownInterface) || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Errorf("unknown interface: %v", err)
	}

	if err := h.IP("addr flush dev lan0"); err != nil {
		t.Fatal(err)
	}
	b, err = NewBrowser(BrowserConfig{Logger: quiet, Net: NetConfig{Interfaces: netutil.IfaceOptions{Names: []string{"lan0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	runIn(t, h, b)
	testutil.WaitFor(t, waitTimeout, "browser waiting for lan0's address", func() bool {
		st := b.Interfaces()
		return st.Waiting() && errors.Is(st.Missing, netutil.ErrUnusableInterface) && strings.Contains(st.String(), "lan0")
	})
}

// TestLabBrowserAddressArrives: a browser started on a host without an
// address yet waits, and queries as soon as the address comes: it lists
// a lobby whose advertiser announces only once an hour within
// followBound.
func TestLabBrowserAddressArrives(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	labAdvertiser(t, h1, hourly, testLobby("a"))
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
	followed(t, start, "beacon lobby found by the new browser", hostIs(b, "a", h1.IPv4))
}
