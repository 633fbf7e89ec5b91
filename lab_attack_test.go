package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/internal/netlab"
	"github.com/lanlobby/lanlobby/internal/testutil"
)

// TestLabAttackUnknownSources (RELIABILITY.md, attacks, row 3): a host
// floods an advertiser holding 896 lobbies with queries whose sources are
// addresses of the LAN that no machine holds, so every answer waits in
// the kernel for an address resolution that never succeeds. Meanwhile
// another host runs List with the beacon alone (list --no-mdns), again and
// again: every one of them finds the lobby it looks for.
func TestLabAttackUnknownSources(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	cfg := labConfig(h1)
	adv, err := beacon.NewAdvertiser(beacon.AdvertiserConfig{Net: cfg.beaconNet(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 896 {
		l := beacon.Lobby{ID: fmt.Sprintf("flood-%04d", i), Game: "flood", Name: fmt.Sprintf("Lobby %d of many", i),
			Players: 1, Capacity: 8, State: beacon.StateOpen, Port: 7600}
		if err := adv.Set(l); err != nil {
			t.Fatal(err)
		}
	}
	real := beacon.Lobby{ID: "real-1", Game: "real", Name: "The real one", Players: 1, Capacity: 4, State: beacon.StateOpen, Port: 7600}
	if err := adv.Set(real); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- h1.Do(func() error { return adv.Run(context.Background()) }) }()
	t.Cleanup(func() {
		adv.Close()
		if err := <-errc; err != nil {
			t.Errorf("advertiser: %v", err)
		}
	})
	testutil.WaitFor(t, waitTimeout, "advertiser up", func() bool { return adv.Stats().Sent > 0 })

	spoof, err := h2.Spoofer()
	if err != nil {
		t.Fatal(err)
	}
	q, err := beacon.Encode(&beacon.Packet{Kind: beacon.KindQuery})
	if err != nil {
		t.Fatal(err)
	}
	for len(q)+257 <= beacon.MaxPacketSize { // padded: the largest answers
		q = append(append(q, 0xee, 255), make([]byte, 255)...)
	}
	group := netip.AddrPortFrom(netip.MustParseAddr(beacon.DefaultGroupIPv4), beacon.DefaultPort)
	const attack, rate = 4 * time.Second, 500 // queries a second, from 150 addresses nobody holds
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		for i := 0; time.Since(start) < attack; i++ {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(100 + i%150)}), uint16(20000+i%30000))
			if _, err := spoof.SendUDP(src, group, 1, q); err != nil {
				t.Errorf("spoof: %v", err)
				return
			}
			if i%10 == 9 {
				select {
				case <-stop:
					return
				case <-time.After(time.Until(start.Add(time.Duration(i+1) * time.Second / rate))):
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	lcfg := labConfig(h3)
	lcfg.NoMDNS = true
	// Room for a loaded machine: each List waits up to 500 ms for a first
	// answer. Periodic announcements (every 1-2 s) alone fall into that
	// window about a third of the time; answers make it every time.
	lcfg.FirstAnswerWait, lcfg.MaxWait = 500*time.Millisecond, 2*time.Second
	var runs, found int
	var slowest time.Duration
	start := time.Now()
	for time.Since(start) < attack {
		runs++
		t0 := time.Now()
		ls, err := List(context.Background(), lcfg, "real")
		d := time.Since(t0)
		slowest = max(slowest, d)
		switch {
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("List: %v", err)
		case len(ls) == 1 && ls[0].ID == real.ID:
			found++
		default:
			t.Logf("List %d at %v: %d lobbies in %v", runs, t0.Sub(start).Round(time.Millisecond), len(ls), d.Round(time.Millisecond))
		}
	}
	t.Logf("under %d spoofed queries/s from unknown sources: List found the lobby %d of %d times (slowest %v); advertiser %+v",
		rate, found, runs, slowest.Round(time.Millisecond), adv.Stats())
	if found != runs {
		t.Errorf("List missed the lobby %d of %d times", runs-found, runs)
	}
	// Announcements go out from the group port, answers from a port of
	// their own: every send that failed was an answer dropped at a full
	// buffer, never an announcement. (A dropped answer is counted in
	// SendDrops first, and Stats reads SendErrors first.)
	if s := adv.Stats(); s.SendErrors > s.SendDrops {
		t.Errorf("%d sends failed, %d of them answers", s.SendErrors, s.SendDrops)
	}
}
