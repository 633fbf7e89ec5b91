package tcpconn

import (
	"fmt"
	"net"
	"runtime"
	"testing"
)

// BenchmarkIdleLinkMemory is the memory (heap in use plus goroutine
// stacks) of one idle link: 512 loopback links, each of which has read one
// frame and waits for the next, with a 1 KiB read buffer kept, as before,
// or given back while idle (ReleaseIdleReadBuffer). It reports B/link for
// both ends of the link: the peer's end (a bare net.Conn) is the same in
// both.
func BenchmarkIdleLinkMemory(b *testing.B) {
	for _, release := range []bool{false, true} {
		b.Run(fmt.Sprintf("release=%v", release), func(b *testing.B) {
			const links = 512
			for i := 0; i < b.N; i++ {
				b.ReportMetric(idleLinkBytes(b, links, release), "B/link")
			}
		})
	}
}

func idleLinkBytes(b *testing.B, links int, release bool) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	read := make(chan struct{}, links)
	h := &recorder{onLine: func(string) error { read <- struct{}{}; return nil }}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]*Conn, 0, links)
	peers := make([]net.Conn, 0, links)
	for range links {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		c := New(s, Config{ReadBuffer: 1024, ReleaseIdleReadBuffer: release})
		c.Start(h)
		cl.Write([]byte(`{"op":"pong","seq":1}` + "\n"))
		conns, peers = append(conns, c), append(peers, cl)
	}
	for range links {
		<-read
	}
	h.mu.Lock()
	h.lines = nil
	h.mu.Unlock()
	runtime.GC()
	runtime.GC() // pooled buffers go in two
	runtime.ReadMemStats(&after)
	used := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	for i, c := range conns {
		c.Close(ReasonClosed)
		<-c.Done()
		peers[i].Close()
	}
	return used / float64(links)
}
