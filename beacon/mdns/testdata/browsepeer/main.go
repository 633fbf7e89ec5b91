// Command browsepeer runs one mdns.Browser, as a browsing process of its
// own for the lab tests (several of them on one host, like `lanlobby
// watch` and `lanlobby list` on one machine). Built without the race
// detector, it starts as fast as the CLI does.
//
// It prints one JSON line per event:
//
//	{"event":"added","id":"zoe1","ms":1.2,"rtt_ms":0.4,"host":"198.18.1.1:7600"}
//
// where ms is the time since the process started, and on SIGTERM or
// SIGINT a last line {"event":"stats",...} with the Browser's counters.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lanlobby/lanlobby/beacon/mdns"
	"github.com/lanlobby/lanlobby/netutil"
)

func main() {
	start := time.Now()
	iface := flag.String("iface", "lan0", "interface")
	game := flag.String("game", "", "game to browse")
	flag.Parse()
	b, err := mdns.NewBrowser(mdns.BrowserConfig{
		Interfaces: netutil.IfaceOptions{Names: []string{*iface}},
		Game:       *game,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- b.Run(ctx) }()
	out := json.NewEncoder(os.Stdout)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for ev := range b.Events() {
		out.Encode(map[string]any{
			"event": ev.Type.String(), "id": ev.Lobby.ID, "ms": ms(time.Since(start)),
			"rtt_ms": ms(ev.Lobby.RTT), "host": ev.Lobby.Host.String(),
		})
	}
	if err := <-errc; err != nil {
		log.Fatal(err)
	}
	out.Encode(map[string]any{"event": "stats", "stats": b.Stats()})
}
