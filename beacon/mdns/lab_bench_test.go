package mdns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/internal/netlab"
)

// Lab benchmarks: discovery latency between hosts in network namespaces.
// They report medians (p50) and p90 over the iterations; run them with
// -benchtime 10x or more, e.g.
//
//	go test -run '^$' -bench Lab -benchtime 20x ./beacon/mdns/

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

// BenchmarkLabFirstResult: a fresh Browser on h2 finds the lobby published
// on h1. query-to-event is from its first (QU) query to the Added event;
// rtt is the query to the first answer; start-to-event includes opening
// the sockets.
func BenchmarkLabFirstResult(b *testing.B) {
	lab := netlab.New(b, netlab.Options{Hosts: 2})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	r := labResponder(b, h1, ResponderConfig{})
	publish(b, r, zoeLobby())
	var q2e, rtts, s2e []time.Duration
	for i := 0; i < b.N; i++ {
		br, err := NewBrowser(BrowserConfig{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		errc := make(chan error, 1)
		go func() { errc <- h2.Do(func() error { return br.Run(context.Background()) }) }()
		select {
		case ev := <-br.Events():
			at := time.Now()
			br.stateMu.Lock()
			sent := br.core.querySent
			br.stateMu.Unlock()
			q2e = append(q2e, at.Sub(sent))
			rtts = append(rtts, ev.Lobby.RTT)
			s2e = append(s2e, at.Sub(start))
		case <-time.After(waitTimeout):
			b.Fatal("nothing found")
		}
		br.Close()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	reportDurations(b, "query-to-event", q2e)
	reportDurations(b, "rtt", rtts)
	reportDurations(b, "start-to-event", s2e)
}

// BenchmarkLabPublishVisible: from Register (ours, on h1) or the start of
// avahi-publish (avahi on h1) to the lobby showing in our Browser already
// running on h2 and in avahi-browse -rp already running on h3.
func BenchmarkLabPublishVisible(b *testing.B) {
	lab := netlab.New(b, netlab.Options{Hosts: 3})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	avs := lab.StartAvahi(b, h1, h3)
	r := labResponder(b, h1, ResponderConfig{})
	br := labBrowser(b, h2, BrowserConfig{})
	browse := avs[1].Start(b, "avahi-browse", "-rp", "_lanlobby._tcp")
	w := watcher{b, br.Events()}
	var oursBrowser, oursAvahi, avBrowser, avAvahi []time.Duration
	for i := 0; i < b.N; i++ {
		for _, who := range []string{"ours", "avahi"} {
			id := fmt.Sprintf("%s%d", who, i)
			l := beacon.Lobby{ID: id, Game: "demo", Name: "bench-" + id, Players: 1, Capacity: 4, State: beacon.StateOpen, Port: 7600}
			start := time.Now()
			var pub *netlab.Process
			if who == "ours" {
				if _, err := r.SetLobby(l); err != nil {
					b.Fatal(err)
				}
			} else {
				pub = avs[0].Start(b, "avahi-publish", "-s", l.Name, "_lanlobby._tcp", "7600",
					"v=1", "id="+id, "g=demo", "p=1", "c=4", "s=open")
			}
			seen := map[string]time.Duration{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				browse.WaitForStdoutLine(b, waitTimeout, func(line string) bool {
					return strings.HasPrefix(line, "=;") && strings.Contains(line, ";"+l.Name+";")
				})
			}()
			w.until(waitTimeout, id+" added", is(beacon.Added, id))
			seen["browser"] = time.Since(start)
			<-done
			seen["avahi"] = time.Since(start)
			if who == "ours" {
				oursBrowser, oursAvahi = append(oursBrowser, seen["browser"]), append(oursAvahi, seen["avahi"])
				if err := r.RemoveLobby(id); err != nil {
					b.Fatal(err)
				}
			} else {
				avBrowser, avAvahi = append(avBrowser, seen["browser"]), append(avAvahi, seen["avahi"])
				pub.Stop()
			}
			w.until(waitTimeout, id+" removed", is(beacon.Removed, id))
		}
	}
	reportDurations(b, "register-to-our-browser", oursBrowser)
	reportDurations(b, "register-to-avahi-browse", oursAvahi)
	reportDurations(b, "avahi-publish-to-our-browser", avBrowser)
	reportDurations(b, "avahi-publish-to-avahi-browse", avAvahi)
}
