package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// The lab benchmarks time discovery between hosts in network namespaces,
// with a binary built without the race detector. They report medians
// (p50) and p90 over the iterations: run with -benchtime 20x or more.

var (
	benchBinOnce sync.Once
	benchBin     string
	benchBinErr  error
)

// plainBinary builds the binary the lab benchmarks run, or takes the one
// LANLOBBY_BENCH_BIN names: a baseline build (an earlier commit) measured
// in the same run, for ratios.
func plainBinary(b *testing.B) string {
	if bin := os.Getenv("LANLOBBY_BENCH_BIN"); bin != "" {
		return bin
	}
	benchBinOnce.Do(func() {
		benchBin = filepath.Join(filepath.Dir(binPath), "lanlobby-norace")
		out, err := exec.Command("go", "build", "-o", benchBin, ".").CombinedOutput()
		if err != nil {
			benchBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBinErr != nil {
		b.Fatal(benchBinErr)
	}
	return benchBin
}

func reportDurations(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	p := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(float64(len(ds))*q))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.5), name+"-p50-ms")
	b.ReportMetric(p(0.9), name+"-p90-ms")
}

func jsonEvent(line, event string) map[string]any {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil || (event != "" && m["event"] != event) {
		return nil
	}
	return m
}

// BenchmarkLabHostVisible: time from starting `lanlobby host` on one lab
// host to the lobby appearing in a `lanlobby watch` already running on
// another (process start, coordinator start, daemon lookup and announce
// included), with the default --daemon-wait and with --daemon-wait 0.
func BenchmarkLabHostVisible(b *testing.B) {
	bin := plainBinary(b)
	lab := netlab.New(b, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	watch := h2.Start(b, bin, "watch", "--interface", labIface, "--json")
	for _, wait := range []string{"default", "0"} {
		b.Run("daemon-wait="+wait, func(b *testing.B) {
			var visible []time.Duration
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("bench %s %d", wait, i)
				args := []string{"host", "--game", "bench", "--name", name, "--players", "2", "--port", "1", "--interface", labIface, "--json"}
				if wait != "default" {
					args = append(args, "--daemon-wait", wait)
				}
				start := time.Now()
				host := h1.Start(b, bin, args...)
				watch.WaitForStdoutLine(b, 10*time.Second, func(l string) bool {
					m := jsonEvent(l, "added")
					return m != nil && m["name"] == name
				})
				visible = append(visible, time.Since(start))
				host.Signal(syscall.SIGTERM)
				watch.WaitForStdoutLine(b, 10*time.Second, func(l string) bool {
					m := jsonEvent(l, "removed")
					return m != nil && m["name"] == name
				})
				host.Wait(5 * time.Second)
			}
			reportDurations(b, "visible", visible)
		})
	}
}

// BenchmarkLabList: `lanlobby list` with three lobbies up on three other
// hosts: time to the first result and wall time (both from process start),
// and the first answer's delay after the query (rtt_ms, measured inside).
func BenchmarkLabList(b *testing.B) {
	bin := plainBinary(b)
	lab := netlab.New(b, netlab.Options{Hosts: 4})
	for i := 0; i < 3; i++ {
		p := lab.Hosts[i].Start(b, bin, "host", "--game", "bench", "--name", fmt.Sprint("lobby ", i), "--players", "4",
			"--port", "1", "--interface", labIface, "--json")
		p.WaitForStdoutLine(b, 10*time.Second, func(l string) bool { return jsonEvent(l, "created") != nil })
	}
	h4 := lab.Hosts[3]
	var first, wall, rtt []time.Duration
	for i := 0; i < b.N; i++ {
		cmd := h4.Command(b.Context(), bin, "list", "--interface", labIface, "--json")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, _ := out.Read(buf)
		first = append(first, time.Since(start))
		rest := make([]byte, 0, 4096)
		rest = append(rest, buf[:n]...)
		for {
			k, err := out.Read(buf)
			rest = append(rest, buf[:k]...)
			if err != nil {
				break
			}
		}
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		wall = append(wall, time.Since(start))
		lines := 0
		best := time.Duration(0)
		for _, l := range splitLines(string(rest)) {
			if m := jsonEvent(l, ""); m != nil {
				lines++
				if r, ok := m["rtt_ms"].(float64); ok {
					d := time.Duration(r * float64(time.Millisecond))
					if best == 0 || d < best {
						best = d
					}
				}
			}
		}
		if lines != 3 {
			b.Fatalf("list saw %d lobbies, want 3:\n%s", lines, rest)
		}
		rtt = append(rtt, best)
	}
	reportDurations(b, "first", first)
	reportDurations(b, "wall", wall)
	reportDurations(b, "query-to-answer", rtt)
}

// BenchmarkLabColdJoin: a cold `lanlobby join --game` on a fourth host,
// from process start to the peers printed, with three lobbies up: when the
// best has two free seats (the look settles) and when it has one (joined
// as soon as it answers).
func BenchmarkLabColdJoin(b *testing.B) {
	bin := plainBinary(b)
	for _, best := range []int{2, 1} {
		b.Run(fmt.Sprintf("best-free=%d", best), func(b *testing.B) {
			lab := netlab.New(b, netlab.Options{Hosts: 4})
			for i, free := range []int{best + 2, best, best + 1} {
				p := lab.Hosts[i].Start(b, bin, "host", "--game", "bench", "--name", fmt.Sprint("lobby ", i),
					"--players", fmt.Sprint(free+1), "--port", "1", "--interface", labIface, "--json")
				p.WaitForStdoutLine(b, 10*time.Second, func(l string) bool { return jsonEvent(l, "created") != nil })
			}
			h4 := lab.Hosts[3]
			var peers []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				j := h4.Start(b, bin, "join", "--game", "bench", "--port", "2", "--interface", labIface, "--json")
				var got map[string]any
				j.WaitForStdoutLine(b, 10*time.Second, func(l string) bool {
					got = jsonEvent(l, "joined")
					return got != nil
				})
				peers = append(peers, time.Since(start))
				if got["name"] != "lobby 1" {
					b.Fatalf("joined %v, want lobby 1 (fewest free seats)", got["name"])
				}
				j.Signal(syscall.SIGTERM)
				j.Wait(5 * time.Second)
			}
			reportDurations(b, "peers", peers)
		})
	}
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// BenchmarkLabAvahiReference measures avahi in the same lab, as the
// reference the beacon is compared with: publish on one host to resolved
// in an avahi-browse already running on another, and the wall time of a
// fresh `avahi-browse -rtp` (what a player's "list" costs with avahi).
// Each iteration takes about a second: run with -benchtime 5x.
func BenchmarkLabAvahiReference(b *testing.B) {
	lab := netlab.New(b, netlab.Options{Hosts: 3})
	avahis := lab.StartAvahi(b, lab.Hosts...)
	pub, browse, fresh := avahis[0], avahis[1], avahis[2]
	running := browse.Start(b, "avahi-browse", "-rp", "_lanlobby._tcp")
	var visible, wall []time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("avahi bench %d", i)
		start := time.Now()
		p := pub.Start(b, "avahi-publish", "-s", name, "_lanlobby._tcp", "7600", "v=1")
		running.WaitForStdoutLine(b, 10*time.Second, func(l string) bool {
			e, ok := netlab.ParseAvahiBrowse(l)
			return ok && e.Event == "=" && e.Name == name
		})
		visible = append(visible, time.Since(start))

		cmd := fresh.Command(b.Context(), "avahi-browse", "-rtp", "_lanlobby._tcp")
		t0 := time.Now()
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("avahi-browse -rtp: %v", err)
		}
		wall = append(wall, time.Since(t0))
		if !strings.Contains(string(out), "bench") {
			b.Fatalf("avahi-browse -rtp did not list the service:\n%s", out)
		}
		p.Stop()
		running.WaitForStdoutLine(b, 10*time.Second, func(l string) bool {
			e, ok := netlab.ParseAvahiBrowse(l)
			return ok && e.Event == "-" && e.Name == name
		})
	}
	reportDurations(b, "publish-to-visible", visible)
	reportDurations(b, "browse-rtp-wall", wall)
}

// BenchmarkLabMDNS: the mDNS side of the CLI. Per iteration: `lanlobby
// host` starts on h1; time until a running `watch --no-beacon` on h2 and a
// running avahi-browse on h3 show it (mDNS probing takes most of it, as it
// does for avahi-publish: see BenchmarkLabAvahiReference); then a fresh
// `list --no-beacon` on h2: time to its first result, its wall time, and
// the query-to-answer delay it measured. Run with -benchtime 5x.
func BenchmarkLabMDNS(b *testing.B) {
	bin := plainBinary(b)
	lab := netlab.New(b, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	av := h3.StartAvahi(b)
	browse := av.Start(b, "avahi-browse", "-rp", "_lanlobby._tcp")
	watch := h2.Start(b, bin, "watch", "--no-beacon", "--interface", labIface, "--json")
	var toWatch, toAvahi, first, wall, rtt []time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("mdns bench %d", i)
		start := time.Now()
		host := h1.Start(b, bin, "host", "--game", "bench", "--name", name, "--players", "2", "--port", "1", "--interface", labIface, "--json")
		watch.WaitForStdoutLine(b, 15*time.Second, func(l string) bool {
			m := jsonEvent(l, "added")
			return m != nil && m["name"] == name
		})
		toWatch = append(toWatch, time.Since(start))
		browse.WaitForStdoutLine(b, 15*time.Second, func(l string) bool {
			e, ok := netlab.ParseAvahiBrowse(l)
			return ok && e.Event == "=" && e.Name == name
		})
		toAvahi = append(toAvahi, time.Since(start))

		cmd := h2.Command(b.Context(), bin, "list", "--no-beacon", "--interface", labIface, "--json")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 8192)
		n, _ := out.Read(buf)
		first = append(first, time.Since(t0))
		all := append([]byte(nil), buf[:n]...)
		for {
			k, err := out.Read(buf)
			all = append(all, buf[:k]...)
			if err != nil {
				break
			}
		}
		cmd.Wait()
		wall = append(wall, time.Since(t0))
		for _, l := range splitLines(string(all)) {
			if m := jsonEvent(l, ""); m != nil && m["name"] == name {
				if r, ok := m["rtt_ms"].(float64); ok {
					rtt = append(rtt, time.Duration(r*float64(time.Millisecond)))
				}
			}
		}
		host.Signal(syscall.SIGTERM)
		watch.WaitForStdoutLine(b, 15*time.Second, func(l string) bool {
			m := jsonEvent(l, "removed")
			return m != nil && m["name"] == name
		})
		host.Wait(5 * time.Second)
	}
	reportDurations(b, "host-to-watch", toWatch)
	reportDurations(b, "host-to-avahi-browse", toAvahi)
	reportDurations(b, "list-first", first)
	reportDurations(b, "list-wall", wall)
	reportDurations(b, "list-query-to-answer", rtt)
}
