package lobby_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/bench"
	"github.com/lanlobby/lanlobby/lobby"
)

// BenchmarkSubscriptionLatency: from an owner's set_meta to the change
// arriving in a subscriber's Changes, over loopback, with p50 and p99;
// the baseline of the same run is the owner's own round trip (the
// set_meta call's return).
func BenchmarkSubscriptionLatency(b *testing.B) {
	ctx := context.Background()
	srv, err := lobby.NewServer(lobby.ServerConfig{RequestRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	owner, err := lobby.Dial(ctx, ln.Addr().String(), lobby.ClientConfig{Player: "owner"})
	if err != nil {
		b.Fatal(err)
	}
	defer owner.Close()
	j, err := owner.Create(ctx, lobby.CreateOptions{Game: "demo", Name: "bench", Capacity: 4, JoinOptions: lobby.JoinOptions{Port: 1}})
	if err != nil {
		b.Fatal(err)
	}
	watcher, err := lobby.Dial(ctx, ln.Addr().String(), lobby.ClientConfig{Player: "watcher"})
	if err != nil {
		b.Fatal(err)
	}
	defer watcher.Close()
	sub, err := watcher.Subscribe(ctx, "demo", lobby.Filter{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	<-sub.Changes() // the snapshot's add
	delivered := make([]time.Duration, 0, b.N)
	replied := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		meta := map[string]string{"n": strconv.Itoa(i)}
		start := time.Now()
		if err := owner.SetMeta(ctx, j.Lobby.ID, meta); err != nil {
			b.Fatal(err)
		}
		replied = append(replied, time.Since(start))
		select {
		case <-sub.Changes():
			delivered = append(delivered, time.Since(start))
		case <-time.After(5 * time.Second):
			b.Fatal("no change within 5s")
		}
	}
	b.StopTimer()
	p50, p99 := bench.Summarize(delivered)
	r50, r99 := bench.Summarize(replied)
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(r50.Nanoseconds()), "reply-p50-ns")
	b.ReportMetric(float64(r99.Nanoseconds()), "reply-p99-ns")
}
