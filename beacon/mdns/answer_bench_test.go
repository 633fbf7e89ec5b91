package mdns

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// coreWith returns an established core on eth1 publishing n lobbies, as a
// daemon does, and its clock.
func coreWith(tb testing.TB, n int) (*core, *fakeClock) {
	tb.Helper()
	clk := newClock()
	c := newCore(coreConfig{ttl: 120, announceCount: 3, jitter: noJitter, log: quiet}, "me")
	for i := range n {
		l := beacon.Lobby{ID: fmt.Sprintf("lobby-%04d", i), Game: "demo", Name: fmt.Sprintf("Lobby %d of the daemon", i),
			Players: 1, Capacity: 8, State: beacon.StateOpen, Port: 7600}
		reg := &Registration{established: make(chan struct{})}
		reg.svc = &service{reg: reg, owner: owner{base: l.Name}, game: l.Game, port: l.Port, txt: EncodeTXT(l)}
		c.add(clk.now(), reg.svc)
	}
	c.start(clk.now(), []netutil.Iface{eth1})
	for {
		c.tick(clk.now())
		at, ok := c.next()
		if !ok || at.Sub(clk.now()) > 10*time.Second {
			break
		}
		clk.t = maxTime(clk.t, at)
	}
	if got := len(c.answeringServices()); got != n {
		tb.Fatalf("%d of %d services answering", got, n)
	}
	return c, clk
}

// BenchmarkAnswer512: the CPU the responder spends answering one query
// for every lobby (PTR _lanlobby._tcp) of a daemon publishing 512: a QU
// question (a unicast answer), a QM one (a delayed multicast answer,
// flushed), a legacy one (one packet).
func BenchmarkAnswer512(b *testing.B) {
	for _, kind := range []string{"qu", "qm", "legacy"} {
		b.Run(kind, func(b *testing.B) {
			c, clk := coreWith(b, 512)
			m := new(dns.Msg)
			m.Question = []dns.Question{q(ServiceType, dns.TypePTR, kind == "qu")}
			data, err := m.Pack()
			if err != nil {
				b.Fatal(err)
			}
			src := peer
			if kind == "legacy" {
				src = netip.MustParseAddrPort("10.0.0.9:40000")
			}
			in := inbound{data: data, src: src, dst: group4, ifIndex: 1, ttl: 255}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			var bytes int
			for range b.N {
				clk.advance(2 * time.Second) // past the once-a-second rule
				out := c.handle(clk.now(), in)
				if kind == "qm" {
					clk.advance(time.Second)
					out = append(out, c.tick(clk.now())...)
				}
				if len(out) == 0 {
					b.Fatal("no answer")
				}
				for _, p := range out {
					bytes += len(p.data)
				}
			}
			// CPU time, which other work on a busy machine does not
			// inflate as it does the wall time of ns/op (the process's: GC
			// included).
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/op")
		})
	}
}

// cpuTime is the CPU time the process used so far, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
