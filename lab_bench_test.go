package lanlobby

import (
	"context"
	"github.com/lanlobby/lanlobby/internal/testutil"
	"slices"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// BenchmarkLabBrowseQuickJoin: a game with a running Browse view
// quick-joins a lobby on another lab host: the time from the call to the
// peers in hand (dial, hello, join over the lab's veth), reported as p50
// and p90 besides the mean.
func BenchmarkLabBrowseQuickJoin(b *testing.B) {
	lab := netlab.New(b, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	hosted := in(b, h1, func() (*Session, error) {
		return Host(context.Background(), labConfig(h1), HostOptions{Game: "bench", Name: "bench", Players: 64, Port: 7777})
	})
	defer hosted.Close()
	go func() { // the host's notices, unread here
		for range hosted.Events() {
		}
	}()
	br := in(b, h2, func() (*Browser, error) { return Browse(context.Background(), labConfig(h2), "bench") })
	defer br.Close()
	testutil.WaitFor(b, waitTimeout, "lobby in view, first look over", func() bool {
		br.viewMu.Lock()
		over := time.Now().After(br.look.deadline())
		br.viewMu.Unlock()
		return over && len(br.Lobbies()) == 1
	})
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		s, err := br.QuickJoin(context.Background(), "", JoinOptions{Port: 7778})
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)*9/10].Microseconds())/1000, "p90-ms")
}
