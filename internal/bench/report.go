package bench

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// LoadResult is what a load run measured. Sizes are bytes, CPU figures are
// percent of one core, durations seconds.
type LoadResult struct {
	Members   int     `json:"members"`
	Lobbies   int     `json:"lobbies"`
	PerLobby  int     `json:"per_lobby"`
	Heartbeat float64 `json:"heartbeat_s"`
	Misses    int     `json:"misses"`
	Sources   int     `json:"sources"`
	PID       int     `json:"coordinator_pid"`
	// CoordinatorArgs is the coordinator's command line after the binary.
	CoordinatorArgs []string `json:"coordinator_args"`

	BaselineRSS    int64   `json:"baseline_rss_bytes"`
	BaselineCPUPct float64 `json:"baseline_cpu_pct"`

	ConnectSeconds float64 `json:"connect_s"`
	ConnectRate    float64 `json:"connect_members_per_s"`
	Connected      int     `json:"connected"`

	HoldSeconds     float64 `json:"hold_s"`
	CPUPct          float64 `json:"cpu_pct"`        // coordinator, mean over the hold
	CPUPctMax1s     float64 `json:"cpu_pct_max_1s"` // busiest one-second sample
	GeneratorCPUPct float64 `json:"generator_cpu_pct"`
	LoadedRSS       int64   `json:"loaded_rss_bytes"` // at the end of the hold
	PeakRSS         int64   `json:"peak_rss_bytes"`   // VmHWM: high-water mark so far
	RSSPerMember    float64 `json:"rss_per_member_bytes"`
	FalseDrops      int     `json:"false_drops"` // distinct members dropped while all were alive
	DropNotices     int64   `json:"drop_notices"`
	LostLinks       int64   `json:"lost_links"`
	Unexpected      int64   `json:"unexpected"` // closed notices, stray error replies
	ListLobbies     int     `json:"list_lobbies"`
	ListFull        int     `json:"list_full"`
	ListMembers     int     `json:"list_members"`
	PingsPerSec     float64 `json:"pings_per_s"` // pings the members answered, per second of the hold

	// Floor is the floor phase (nil when skipped); the ratios divide the
	// coordinator's hold figures by the floor's (0 when the floor measured
	// no CPU time or memory).
	Floor      *FloorResult `json:"floor,omitempty"`
	CPUVsFloor float64      `json:"cpu_vs_floor,omitempty"`
	RSSVsFloor float64      `json:"rss_per_member_vs_floor,omitempty"`

	QJSeconds  float64 `json:"qj_s"`
	QJConns    int     `json:"qj_conns"`
	QJDepth    int     `json:"qj_depth"`
	QJLobbies  int     `json:"qj_lobbies"`
	QuickJoins int64   `json:"quick_joins"`
	QJPerSec   float64 `json:"quick_joins_per_s"`
	QJP50us    float64 `json:"qj_p50_us"`
	QJP99us    float64 `json:"qj_p99_us"`
	QJErrors   int64   `json:"qj_errors"`
	// QJErrorCodes counts the errors by op and code ("quick_join:
	// no_open_lobby"); FormatLoad says what each means.
	QJErrorCodes      map[string]int64 `json:"qj_error_codes,omitempty"`
	QJCPUPct          float64          `json:"qj_cpu_pct"`
	QJGeneratorCPUPct float64          `json:"qj_generator_cpu_pct"`
	QJFalseDrops      int              `json:"qj_false_drops"`
	RSSAfterQJ        int64            `json:"rss_after_qj_bytes"`
	ShutdownSecond    float64          `json:"shutdown_s"`
}

// FloorResult is what the floor phase measured: the floor server holding
// as many plain connections as the coordinator holds members, one ping out
// and one pong in per connection and heartbeat. Its figures are taken as
// the coordinator's are.
type FloorResult struct {
	PID             int      `json:"pid"`
	Args            []string `json:"args"`
	Conns           int      `json:"conns"`
	Connected       int      `json:"connected"`
	BaselineRSS     int64    `json:"baseline_rss_bytes"`
	BaselineCPUPct  float64  `json:"baseline_cpu_pct"`
	ConnectSeconds  float64  `json:"connect_s"`
	HoldSeconds     float64  `json:"hold_s"`
	CPUPct          float64  `json:"cpu_pct"`
	CPUPctMax1s     float64  `json:"cpu_pct_max_1s"`
	GeneratorCPUPct float64  `json:"generator_cpu_pct"`
	LoadedRSS       int64    `json:"loaded_rss_bytes"`
	PeakRSS         int64    `json:"peak_rss_bytes"`
	RSSPerConn      float64  `json:"rss_per_conn_bytes"`
	PingsPerSec     float64  `json:"pings_per_s"`
	LostLinks       int64    `json:"lost_links"`
	Unexpected      int64    `json:"unexpected"`
	ShutdownSecond  float64  `json:"shutdown_s"`
}

func fmtBytes(n int64) string {
	switch a := max(n, -n); {
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case a >= 10<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func ratioText(ratio float64, detail string) string {
	if ratio == 0 {
		return "- (" + detail + ")"
	}
	return fmt.Sprintf("%.2f× (%s)", ratio, detail)
}

// FormatLoad renders a load result as a table, with the targets.
func FormatLoad(r *LoadResult) string {
	var b strings.Builder
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	row := func(phase, metric, value, target string) {
		fmt.Fprintf(&b, "%-15s %-24s %-40s %s\n", phase, metric, value, target)
	}
	fmt.Fprintf(&b, "coordinator: %s\n", strings.Join(r.CoordinatorArgs, " "))
	row("phase", "metric", "value", "target")
	row("baseline", "coordinator RSS", fmtBytes(r.BaselineRSS), "")
	row("", "coordinator CPU (idle)", fmt.Sprintf("%.1f%%", r.BaselineCPUPct), "")
	row("connect", "members", fmt.Sprintf("%d of %d in %d lobbies of %d", r.Connected, r.Members, r.Lobbies, r.PerLobby), "")
	row("", "time", fmt.Sprintf("%.2fs (%.0f members/s)", r.ConnectSeconds, r.ConnectRate), "")
	row(fmt.Sprintf("hold %.0fs", r.HoldSeconds), "coordinator CPU", fmt.Sprintf("%.1f%% of a core (max 1s: %.0f%%)", r.CPUPct, r.CPUPctMax1s),
		fmt.Sprintf("< %.0f%% %s", TargetCPUPct, check(r.CPUPct < TargetCPUPct)))
	row("", "coordinator RSS", fmt.Sprintf("%s (peak %s)", fmtBytes(r.LoadedRSS), fmtBytes(r.PeakRSS)), "")
	row("", "RSS per member", fmtBytes(int64(r.RSSPerMember)),
		fmt.Sprintf("< %s %s", fmtBytes(TargetRSSPerMember), check(r.RSSPerMember < TargetRSSPerMember)))
	row("", "false drops", fmt.Sprintf("%d (notices %d, lost links %d)", r.FalseDrops, r.DropNotices, r.LostLinks),
		"0 "+check(r.FalseDrops == 0 && r.DropNotices == 0 && r.LostLinks == 0))
	row("", "list", fmt.Sprintf("%d/%d lobbies full, %d members", r.ListFull, r.ListLobbies, r.ListMembers),
		check(r.ListFull == r.Lobbies && r.ListLobbies == r.Lobbies))
	row("", "generator CPU", fmt.Sprintf("%.1f%% of a core", r.GeneratorCPUPct), "")
	row("", "pings answered", fmt.Sprintf("%.0f/s", r.PingsPerSec), "")
	if f := r.Floor; f != nil {
		row(fmt.Sprintf("floor %.0fs", f.HoldSeconds), "floor CPU", fmt.Sprintf("%.1f%% of a core (max 1s: %.0f%%, idle %.1f%%)", f.CPUPct, f.CPUPctMax1s, f.BaselineCPUPct), "")
		row("", "floor RSS", fmt.Sprintf("%s (baseline %s, peak %s)", fmtBytes(f.LoadedRSS), fmtBytes(f.BaselineRSS), fmtBytes(f.PeakRSS)), "")
		row("", "floor RSS per conn", fmtBytes(int64(f.RSSPerConn)), "")
		row("", "connections", fmt.Sprintf("%d of %d, %.0f pings/s, lost links %d", f.Connected, f.Conns, f.PingsPerSec, f.LostLinks),
			check(f.Connected == f.Conns && f.LostLinks == 0))
		row("", "generator CPU", fmt.Sprintf("%.1f%% of a core", f.GeneratorCPUPct), "")
		row("vs floor", "coordinator CPU", ratioText(r.CPUVsFloor, fmt.Sprintf("%.1f%% / %.1f%%", r.CPUPct, f.CPUPct)), "")
		row("", "RSS per member", ratioText(r.RSSVsFloor, fmt.Sprintf("%s / %s", fmtBytes(int64(r.RSSPerMember)), fmtBytes(int64(f.RSSPerConn)))), "")
	}
	if r.QJSeconds > 0 {
		row(fmt.Sprintf("quick-join %.0fs", r.QJSeconds), "quick-joins/s",
			fmt.Sprintf("%.0f (%d conns × %d in flight)", r.QJPerSec, r.QJConns, r.QJDepth),
			fmt.Sprintf("> %.0f %s", TargetQJPerSec, check(r.QJPerSec > TargetQJPerSec)))
		row("", "latency p50 / p99", fmt.Sprintf("%.0fµs / %.0fµs", r.QJP50us, r.QJP99us), "")
		row("", "errors", strconv.FormatInt(r.QJErrors, 10), "")
		for _, line := range explainQJErrors(r.QJErrorCodes) {
			row("", "", line, "")
		}
		row("", "coordinator CPU", fmt.Sprintf("%.0f%% of a core (generator %.0f%%)", r.QJCPUPct, r.QJGeneratorCPUPct), "")
		row("", "false drops", strconv.Itoa(r.QJFalseDrops), "0 "+check(r.QJFalseDrops == 0))
		row("", "coordinator RSS", fmtBytes(r.RSSAfterQJ), "")
	}
	row("end", "coordinator shutdown", fmt.Sprintf("%.2fs", r.ShutdownSecond), "")
	if r.Unexpected > 0 {
		row("", "unexpected messages", strconv.FormatInt(r.Unexpected, 10), "")
	}
	return b.String()
}

// qjErrorMeaning says why the quick-join phase gets an error code.
var qjErrorMeaning = map[string]string{
	"rate_limited":     "over the coordinator's per-connection request rate (--keep-rate-limit)",
	"no_open_lobby":    "no open lobby of the connection's game without its member (all full, or it is in all of them)",
	"too_many_lobbies": "the member was in its maximum of lobbies (more quick-joins answered than leaves)",
	"not_member":       "a leave of a lobby the member was no longer in",
	"unknown_lobby":    "a leave of a lobby that had closed",
	"shutting_down":    "the coordinator was stopping",
}

// explainQJErrors lists error counts, most frequent first, each with what
// it means.
func explainQJErrors(codes map[string]int64) []string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if codes[keys[i]] != codes[keys[j]] {
			return codes[keys[i]] > codes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		line := fmt.Sprintf("%d × %s", codes[k], k)
		if _, code, ok := strings.Cut(k, ": "); ok {
			if m := qjErrorMeaning[code]; m != "" {
				line += " (" + m + ")"
			}
		}
		out = append(out, line)
	}
	return out
}
