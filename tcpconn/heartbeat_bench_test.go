package tcpconn

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"
)

// BenchmarkHeartbeatRound is one heartbeat round over 256 loopback links:
// every slot of the wheel served once, each link checked and pinged, the
// peers draining their pings. It is the coordinator's steady cost per
// held member and heartbeat, the work the floor server's ticker does with
// a plain Write per connection.
func BenchmarkHeartbeatRound(b *testing.B) {
	const links = 256
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	// An interval no tick of the benchmark's length reaches: the
	// benchmark serves the slots itself.
	hb := NewHeartbeat(time.Hour, time.Hour, nil)
	defer hb.Close()
	var wg sync.WaitGroup
	var conns []*Conn
	var peers []net.Conn
	for range links {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		c := New(s, Config{Heartbeat: hb})
		c.Start(&recorder{})
		conns, peers = append(conns, c), append(peers, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(cl, 1024)
			for {
				if _, err := br.ReadSlice('\n'); err != nil {
					return
				}
			}
		}()
	}
	frame := []byte(`{"event":"ping","seq":12345}` + "\n")
	var due []*Conn
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for slot := range hb.wheel {
			due = hb.serveSlot(slot, uint64(i+1), frame, due)
		}
	}
	b.StopTimer()
	for i, c := range conns {
		c.Close(ReasonClosed)
		<-c.Done()
		peers[i].Close()
	}
	wg.Wait()
}
