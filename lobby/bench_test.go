package lobby_test

import (
	"context"
	"fmt"
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
