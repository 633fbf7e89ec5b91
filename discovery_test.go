package lanlobby

import (
	"context"
	"errors"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/lobby"
)

// TestDiscoveryCannotStart: with an interface that does not exist, every
// call ends at once with an error naming it, never waiting out its
// timeout (and nothing is sent anywhere).
func TestDiscoveryCannotStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Interfaces = []string{"nosuch0"}
	cfg.Logger = quiet
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	check := func(what string, err error) {
		t.Helper()
		var de *DiscoveryError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "nosuch0") {
			t.Fatalf("%s: %v, want a DiscoveryError naming nosuch0", what, err)
		}
		if de.Beacon == nil || de.MDNS == nil {
			t.Fatalf("%s: %+v, want both protocols' causes", what, de)
		}
	}
	_, err := List(ctx, cfg, "")
	check("List", err)
	_, err = QuickJoin(ctx, cfg, "demo", JoinOptions{Port: 1})
	check("QuickJoin", err)
	_, err = Join(ctx, cfg, "x", JoinOptions{Port: 1})
	check("Join", err)
	_, err = Host(ctx, cfg, HostOptions{Game: "demo", Name: "x", Players: 2, Port: 1})
	if !errors.Is(err, ErrNoAnnounce) || !strings.Contains(err.Error(), "nosuch0") {
		t.Fatalf("Host: %v, want ErrNoAnnounce naming nosuch0", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the four calls took %v: they must fail at once", d)
	}
}

// TestBadInputBeforeNetwork: options and config a caller must fix are
// refused before any socket opens, with the coordinator's own codes.
func TestBadInputBeforeNetwork(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Interfaces = []string{"nosuch0"} // would fail later, differently
	for _, tc := range []struct {
		o    HostOptions
		want error
	}{
		{HostOptions{Game: "Bad Game!", Name: "x", Players: 2, Port: 1}, lobby.ErrInvalidGame},
		{HostOptions{Game: "demo", Name: " ", Players: 2, Port: 1}, lobby.ErrInvalidName},
		{HostOptions{Game: "demo", Name: "x", Players: 1, Port: 1}, lobby.ErrInvalidCapacity},
		{HostOptions{Game: "demo", Name: "x", Players: 2}, lobby.ErrInvalidAddress},
	} {
		if _, err := Host(ctx, cfg, tc.o); !errors.Is(err, tc.want) {
			t.Errorf("Host(%+v): %v, want %v", tc.o, err, tc.want)
		}
	}
	off := cfg
	off.NoBeacon, off.NoMDNS = true, true
	if _, err := List(ctx, off, ""); !errors.Is(err, ErrNoDiscovery) {
		t.Errorf("List with both protocols off: %v", err)
	}
	if _, err := QuickJoin(ctx, cfg, "Bad Game!", JoinOptions{Port: 1}); !errors.Is(err, lobby.ErrInvalidGame) {
		t.Errorf("QuickJoin with a bad game: %v", err)
	}
}

// TestLabBeaconPortTaken: another program holds the beacon port without
// sharing it. Host still hosts, says at once that the beacon could not
// start (address in use), and the lobby is found over mDNS; List on the
// same host carries on with mDNS too.
func TestLabBeaconPortTaken(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	blocker := in(t, h1, func() (net.PacketConn, error) { return net.ListenPacket("udp", ":7601") })
	defer blocker.Close()
	s := host(t, h1, labConfig(h1), HostOptions{Game: "demo", Name: "mdns only", Players: 2, Port: 7777})
	var de *DiscoveryError
	if err := s.AnnounceProblem(); !errors.As(err, &de) || de.Beacon == nil || de.MDNS != nil || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("announce problem %v, want the beacon's EADDRINUSE only", err)
	}
	testutil.WaitFor(t, waitTimeout, "lobby found over mDNS", func() bool {
		ls := in(t, h2, func() ([]LobbyInfo, error) { return List(context.Background(), labConfig(h2), "demo") })
		return len(ls) == 1 && ls[0].ID == s.ID() && ls[0].Source == "mdns"
	})
	b := in(t, h1, func() (*Browser, error) { return Browse(context.Background(), labConfig(h1), "") })
	defer b.Close()
	if err := b.Problem(); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("browser problem %v, want EADDRINUSE", err)
	}
}
