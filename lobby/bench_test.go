package lobby_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/bench"
	"github.com/lanlobby/lanlobby/lobby"
)

// BenchmarkRoundTrip measures each op of internal/bench over loopback and
// reports p50 and p99 besides the mean. `lanlobby bench latency` runs the
// same ops interleaved, with ratios to the echo baseline.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	env, err := bench.NewEnv(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	for _, op := range env.Ops() {
		b.Run(op.Name, func(b *testing.B) {
			samples := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				d, err := op.Run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				samples = append(samples, d)
			}
			p50, p99 := bench.Summarize(samples)
			b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkRegistryQuickJoin measures matchmaking alone: quick-join and
// leave against 2,500 lobbies of one game.
func BenchmarkRegistryQuickJoin(b *testing.B) {
	r := lobby.NewRegistry(lobby.RegistryConfig{})
	for i := 0; i < 2500; i++ {
		_, err := r.Create(lobby.Member{ID: fmt.Sprint("o", i), Addr: "198.18.0.1:1"},
			lobby.CreateSpec{Game: "demo", Name: "l", Capacity: 2 + i%8})
		if err != nil {
			b.Fatal(err)
		}
	}
	m := lobby.Member{ID: "p", Addr: "198.18.0.2:1"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, _, err := r.QuickJoin(m, "demo")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Leave(m.ID, l.ID, lobby.ReasonLeft); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuickJoinParallel is quick-join throughput over loopback: 8
// clients at once (SetParallelism(4) on 2 cores), each quick-joining and
// leaving 64 open lobbies of 64 seats in a loop. ns/op is the coordinator's
// (and the clients') time per quick-join + leave pair.
func BenchmarkQuickJoinParallel(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := lobby.NewServer(lobby.ServerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RequestRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := lobby.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()
	var clients []*lobby.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func(player string) *lobby.Client {
		c, err := lobby.Dial(ctx, addr, lobby.ClientConfig{Player: player})
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		go func() {
			for range c.Events() {
			}
		}()
		return c
	}
	for o := 0; o < 8; o++ {
		owner := dial(fmt.Sprint("owner", o))
		for l := 0; l < 8; l++ {
			if _, err := owner.Create(ctx, lobby.CreateOptions{Game: "qj", Name: "l", Capacity: lobby.MaxCapacity,
				JoinOptions: lobby.JoinOptions{Port: 7000}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var next atomic.Int32
	players := make([]*lobby.Client, 16)
	for i := range players {
		players[i] = dial(fmt.Sprint("player", i))
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := players[next.Add(1)-1]
		for pb.Next() {
			j, err := c.QuickJoin(ctx, "qj", lobby.JoinOptions{Port: 7001})
			if err != nil {
				b.Error(err)
				return
			}
			if err := c.Leave(ctx, j.Lobby.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
