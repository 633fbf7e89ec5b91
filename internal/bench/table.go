package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// The speed table of issue 13: every figure as a ratio to a baseline
// measured in the same run, the median of several runs. `make bench`
// prints it (lanlobby bench table).

// IssueQJPerSec is the quick-join throughput measured on the project's
// 2-core machine when issue 13 was filed: the one figure of the table
// whose baseline is not from the same run (its target is 3× that, same
// machine, same run conditions).
const IssueQJPerSec = 8120.0

// TableConfig sizes a table run.
type TableConfig struct {
	Runs    int        // runs of each bench; figures are their medians [3]
	Latency Config     // each latency run
	Load    LoadConfig // each load run; Floor must be set
	// Progress, when set, gets a line as each run starts.
	Progress io.Writer
}

// Figure is one row of the table.
type Figure struct {
	Name   string
	Base   string    // what it is divided by
	Values []float64 // one per run
	Median float64
	Unit   string // of the values: "×", "KB", "/s", "ms"
	Target string
	Met    bool
	Detail string // medians of the raw figures behind the ratio
}

// Table runs the latency bench and the load bench cfg.Runs times each and
// returns the issue's figures.
func Table(ctx context.Context, cfg TableConfig) ([]Figure, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 3
	}
	if len(cfg.Load.Floor) == 0 {
		return nil, fmt.Errorf("bench: the table needs the floor server")
	}
	logf := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench table: "+format+"\n", args...)
		}
	}
	var lat [][]Result
	for i := range cfg.Runs {
		logf("latency run %d of %d", i+1, cfg.Runs)
		res, err := Latency(ctx, cfg.Latency)
		if err != nil {
			return nil, err
		}
		lat = append(lat, res)
	}
	var loads []*LoadResult
	for i := range cfg.Runs {
		logf("load run %d of %d", i+1, cfg.Runs)
		res, err := Load(ctx, cfg.Load)
		if err != nil {
			return nil, err
		}
		if res.FalseDrops+res.QJFalseDrops > 0 || res.Connected != res.Members || res.ListFull != res.Lobbies {
			return nil, fmt.Errorf("bench: load run %d: %d false drops, %d of %d connected, %d of %d lobbies full",
				i+1, res.FalseDrops+res.QJFalseDrops, res.Connected, res.Members, res.ListFull, res.Lobbies)
		}
		loads = append(loads, res)
	}
	return tableFigures(lat, loads), nil
}

// tableFigures turns the runs into the table's rows.
func tableFigures(lat [][]Result, loads []*LoadResult) []Figure {
	find := func(rs []Result, name string) Result {
		for _, r := range rs {
			if r.Name == name {
				return r
			}
		}
		return Result{}
	}
	latency := func(name, target string, limit float64, p99 bool) Figure {
		f := Figure{Name: name, Unit: "×", Target: fmt.Sprintf("≤ %g×", limit)}
		var p, base []float64
		for _, rs := range lat {
			r := find(rs, name)
			b := find(rs, r.Base)
			if p99 {
				f.Values = append(f.Values, r.Ratio99)
				p, base = append(p, us(r.P99)), append(base, us(b.P99))
			} else {
				f.Values = append(f.Values, r.Ratio)
				p, base = append(p, us(r.P50)), append(base, us(b.P50))
			}
			f.Base = b.Name
		}
		f.Median = median(f.Values)
		f.Met = f.Median <= limit
		q := "p50"
		if p99 {
			q = "p99"
		}
		f.Name = fmt.Sprintf("%s, %s", name, q)
		f.Detail = fmt.Sprintf("%.0fµs / %.0fµs", median(p), median(base))
		if target != "" {
			f.Target = target
		}
		return f
	}
	var figs []Figure
	figs = append(figs,
		latency(OpJoin, "", 1.3, false),
		latency(OpQuickJoin, "", 1.3, false),
		latency(OpColdJoin, "", 3, false))
	// The cold join against a TCP dial + echo too: the handshake is the
	// same for both.
	cold := Figure{Name: OpColdJoin + ", p50", Base: OpDialEcho, Unit: "×", Target: "(for reference)", Met: true}
	for _, rs := range lat {
		if b := find(rs, OpDialEcho); b.P50 > 0 {
			cold.Values = append(cold.Values, float64(find(rs, OpColdJoin).P50)/float64(b.P50))
		}
	}
	cold.Median = median(cold.Values)
	figs = append(figs, cold)

	fan := latency(OpFanout, "", 0, true)
	var fanMS []float64
	for _, rs := range lat {
		fanMS = append(fanMS, us(find(rs, OpFanout).P99)/1000)
	}
	fan.Target = fmt.Sprintf("≤ 2 ms (%.2f ms)", median(fanMS))
	fan.Met = median(fanMS) <= 2
	figs = append(figs, fan)

	if len(loads) == 0 {
		return figs
	}
	cpu := Figure{Name: fmt.Sprintf("coordinator CPU, %d members, %gs heartbeats", loads[0].Members, loads[0].Heartbeat),
		Base: "floor server", Unit: "×", Target: "≤ 1.05×"}
	rss := Figure{Name: "RSS per member", Base: "floor server's per connection", Unit: "×", Target: "≤ 8 KB"}
	qj := Figure{Name: "quick-joins/s (bench load)", Base: fmt.Sprintf("%.0f/s, the issue's figure", IssueQJPerSec), Unit: "×", Target: "≥ 3×"}
	var cpuC, cpuF, rssC, rssF, qjs []float64
	for _, r := range loads {
		cpu.Values = append(cpu.Values, r.CPUVsFloor)
		rss.Values = append(rss.Values, r.RSSVsFloor)
		qj.Values = append(qj.Values, r.QJPerSec/IssueQJPerSec)
		cpuC, rssC, qjs = append(cpuC, r.CPUPct), append(rssC, r.RSSPerMember), append(qjs, r.QJPerSec)
		if r.Floor != nil {
			cpuF, rssF = append(cpuF, r.Floor.CPUPct), append(rssF, r.Floor.RSSPerConn)
		}
	}
	cpu.Median, rss.Median, qj.Median = median(cpu.Values), median(rss.Values), median(qj.Values)
	cpu.Met = cpu.Median <= 1.05
	cpu.Detail = fmt.Sprintf("%.1f%% / %.1f%% of a core", median(cpuC), median(cpuF))
	rss.Met = median(rssC) <= 8*1024
	rss.Detail = fmt.Sprintf("%.1f KB / %.1f KB", median(rssC)/1024, median(rssF)/1024)
	qj.Met = qj.Median >= 3
	qj.Detail = fmt.Sprintf("%.0f/s", median(qjs))
	errs := int64(0)
	for _, r := range loads {
		errs += r.QJErrors
	}
	if errs > 0 {
		qj.Detail += fmt.Sprintf(", %d errors (see bench load)", errs)
	}
	return append(figs, cpu, rss, qj)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// FormatTable renders the figures: the median, each run's value, what it
// is a ratio to, the raw medians behind it, and the target.
func FormatTable(figs []Figure, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "issue 13 figures: medians of %d runs, each a ratio to a baseline from the same run\n", runs)
	fmt.Fprintf(&b, "%-46s %8s  %-22s %-34s %-28s %s\n", "figure", "median", "runs", "baseline", "raw (medians)", "target")
	for _, f := range figs {
		var vals []string
		for _, v := range f.Values {
			vals = append(vals, fmt.Sprintf("%.2f", v))
		}
		check := "ok"
		if !f.Met {
			check = "MISSED"
		}
		if strings.HasPrefix(f.Target, "(") {
			check = ""
		}
		fmt.Fprintf(&b, "%-46s %7.2f%s  %-22s %-34s %-28s %s %s\n", f.Name, f.Median, f.Unit, strings.Join(vals, " "), f.Base, f.Detail, f.Target, check)
	}
	return b.String()
}
