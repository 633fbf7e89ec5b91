package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A short latency run measures every op, the fan-outs included, and
// compares each with its base from the same run.
func TestLatencyShortRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Latency(ctx, Config{Rounds: 20, Warmup: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{OpEcho: OpEcho, OpJoin: OpEcho, OpColdJoin: OpEcho, OpFanout: OpFloorFanout, OpFloorFanout: OpEcho}
	for _, r := range res {
		if r.N != 20 || r.P50 <= 0 || r.P99 < r.P50 || r.Ratio <= 0 || r.Ratio99 <= 0 {
			t.Errorf("%s: %+v", r.Name, r)
		}
		if base, ok := want[r.Name]; ok {
			if r.Base != base {
				t.Errorf("%s compared with %q, want %q", r.Name, r.Base, base)
			}
			delete(want, r.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("ops not measured: %v", want)
	}
	if out := Format(res); !strings.Contains(out, OpFanout) || !strings.Contains(out, "tcp fan-out to 63") {
		t.Errorf("format:\n%s", out)
	}
	// Every sample is in its op's split by predecessor, once.
	names := map[string]bool{"": true}
	for _, r := range res {
		names[r.Name] = true
	}
	for _, r := range res {
		n := 0
		for _, a := range r.After {
			if !names[a.Op] || a.N <= 0 || a.P50 <= 0 {
				t.Errorf("%s after %q: %+v", r.Name, a.Op, a)
			}
			n += a.N
		}
		if n != r.N {
			t.Errorf("%s: %d samples split by predecessor, want %d", r.Name, n, r.N)
		}
	}
	if out := FormatAfter(res); !strings.Contains(out, OpJoin) || !strings.Contains(out, "p50/echo") {
		t.Errorf("format after:\n%s", out)
	}
}

// The table's rows are the medians of the runs' ratios, each against its
// own run's baseline.
func TestTableFigures(t *testing.T) {
	run := func(echo, join, fanFloor, fan time.Duration) []Result {
		return []Result{
			{Name: OpEcho, P50: echo, P99: echo, Base: OpEcho, Ratio: 1, Ratio99: 1},
			{Name: OpJoin, P50: join, P99: join, Base: OpEcho, Ratio: float64(join) / float64(echo)},
			{Name: OpFloorFanout, P50: fanFloor, P99: fanFloor, Base: OpEcho},
			{Name: OpFanout, P50: fan, P99: fan, Base: OpFloorFanout, Ratio99: float64(fan) / float64(fanFloor)},
		}
	}
	lat := [][]Result{
		run(10*time.Microsecond, 20*time.Microsecond, time.Millisecond, 3*time.Millisecond),
		run(20*time.Microsecond, 24*time.Microsecond, time.Millisecond, time.Millisecond),
		run(10*time.Microsecond, 15*time.Microsecond, time.Millisecond, 1500*time.Microsecond),
	}
	loads := []*LoadResult{
		{Members: 10, Heartbeat: 1, CPUVsFloor: 1.2, RSSVsFloor: 2, RSSPerMember: 9000, QJPerSec: 3 * IssueQJPerSec, Floor: &FloorResult{CPUPct: 10, RSSPerConn: 4500}},
		{Members: 10, Heartbeat: 1, CPUVsFloor: 1.0, RSSVsFloor: 1.5, RSSPerMember: 6000, QJPerSec: 4 * IssueQJPerSec, Floor: &FloorResult{CPUPct: 10, RSSPerConn: 4000}},
		{Members: 10, Heartbeat: 1, CPUVsFloor: 1.1, RSSVsFloor: 1.6, RSSPerMember: 7000, QJPerSec: 1 * IssueQJPerSec, Floor: &FloorResult{CPUPct: 10, RSSPerConn: 4400}},
	}
	figs := tableFigures(lat, loads)
	got := map[string]Figure{}
	for _, f := range figs {
		got[f.Name] = f
	}
	check := func(name string, median float64, met bool) {
		t.Helper()
		f, ok := got[name]
		if !ok {
			t.Fatalf("no figure %q in %v", name, figs)
		}
		if f.Median < median-1e-9 || f.Median > median+1e-9 || f.Met != met || len(f.Values) != 3 {
			t.Errorf("%s: median %v met %v (values %v), want %v %v", name, f.Median, f.Met, f.Values, median, met)
		}
	}
	check(OpJoin+", p50", 1.5, false)  // 2, 1.2, 1.5
	check(OpFanout+", p99", 1.5, true) // 3, 1, 1.5; p99 1.5 ms ≤ 2 ms
	check("coordinator CPU, 10 members, 1s heartbeats", 1.1, false)
	check("RSS per member", 1.6, true) // 7000 B ≤ 8 KB
	check("quick-joins/s (bench load)", 3, true)
	if out := FormatTable(figs, 3); !strings.Contains(out, "MISSED") || !strings.Contains(out, "1.50×") {
		t.Errorf("format:\n%s", out)
	}
}
