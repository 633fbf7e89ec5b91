package lobby

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
)

// dialFrom opens a raw connection from a given loopback source address.
func dialFrom(t *testing.T, src, addr string) *rawClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := &rawClient{t: t, conn: nc, pongs: true}
	r.br = newBufReader(nc)
	return r
}

func TestConnectionLimits(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxConns: 5, MaxConnsPerIP: 3})
	var open []*rawClient
	for i := 0; i < 3; i++ {
		r := dialFrom(t, "127.0.0.1", ts.addr)
		r.hello(fmt.Sprint("a", i))
		open = append(open, r)
	}
	fourth := dialFrom(t, "127.0.0.1", ts.addr)
	fourth.expectError(CodeTooManyConnections, nil)
	fourth.expectClosed(2 * time.Second)
	for i := 0; i < 2; i++ {
		r := dialFrom(t, "127.0.0.2", ts.addr)
		r.hello(fmt.Sprint("b", i))
		open = append(open, r)
	}
	sixth := dialFrom(t, "127.0.0.3", ts.addr)
	sixth.expectError(CodeTooManyConnections, nil)
	sixth.expectClosed(2 * time.Second)
	// Everyone admitted is still served.
	for _, r := range open {
		r.send(map[string]any{"op": "ping", "id": 9})
		if m := r.recv(); m["ok"] != true {
			t.Fatalf("admitted connection not served: %v", m)
		}
	}
	// A slot frees up when a connection closes.
	open[0].conn.Close()
	testutil.WaitFor(t, 2*time.Second, "slot freed", func() bool { return ts.stats(t).Connections == 4 })
	again := dialFrom(t, "127.0.0.1", ts.addr)
	again.hello("again")
	if st := ts.stats(t); st.Rejected != 2 {
		t.Fatalf("rejected = %d", st.Rejected)
	}
}

func TestRequestRateLimit(t *testing.T) {
	ts := startServer(t, ServerConfig{RequestRate: 20, RequestBurst: 10})
	r := dialRaw(t, ts.addr)
	r.hello("flood") // spends one token
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, `{"op":"list","id":%d}`+"\n", 100+i)
	}
	r.conn.Write([]byte(b.String()))
	ok, limited := 0, 0
	for i := 0; i < 40; i++ {
		m := r.recv()
		switch {
		case m["ok"] == true:
			ok++
		case m["error"].(map[string]any)["code"] == string(CodeRateLimited):
			limited++
			if m["id"] == nil {
				t.Fatalf("rate_limited reply lost the id: %v", m)
			}
		default:
			t.Fatalf("unexpected reply %v", m)
		}
	}
	if ok < 9 || ok > 12 || limited != 40-ok {
		t.Fatalf("ok=%d limited=%d, want about 9 served of a burst of 10", ok, limited)
	}
	// The bucket refills; the connection was never closed.
	testutil.WaitFor(t, 2*time.Second, "bucket refill", func() bool {
		r.send(map[string]any{"op": "ping", "id": 1})
		return r.recv()["ok"] == true
	})
}

// TestSlowConsumerKeepsOthersFast: while a member that never reads is fed a
// thousand notices and cut, the other members' notice latency stays within
// twice the quiet case (medians, with a small absolute allowance for
// scheduler noise on a 2-core machine).
func TestSlowConsumerKeepsOthersFast(t *testing.T) {
	ts := startServer(t, ServerConfig{RequestRate: -1})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	j, _ := owner.Create(ctx, CreateOptions{Game: "demo", Name: "x", Capacity: 8, JoinOptions: JoinOptions{Port: 1}})
	watchers := make([]*Client, 3)
	for i := range watchers {
		watchers[i] = dial(t, ts.addr, fmt.Sprint("w", i))
		if _, err := watchers[i].Join(ctx, j.Lobby.ID, JoinOptions{Port: 2}); err != nil {
			t.Fatal(err)
		}
	}
	drainEvents := func(c *Client) {
		for {
			select {
			case <-c.Events():
			default:
				return
			}
		}
	}
	pad := strings.Repeat("p", 200)
	var other []Event // events other than the measured notices
	// measure sends n notices and returns the median latency until every
	// watcher has each one.
	measure := func(n, base int) time.Duration {
		var lat []time.Duration
		for i := 0; i < n; i++ {
			seq := strconv.Itoa(base + i)
			start := time.Now()
			if err := owner.SetMeta(ctx, j.Lobby.ID, map[string]string{"n": seq, "pad": pad}); err != nil {
				t.Fatal(err)
			}
			for _, w := range watchers {
				for {
					ev := nextEvent(t, w, 5*time.Second)
					if ev.Kind == NoticeUpdated && ev.Lobby.Meta["n"] == seq {
						break
					}
					if ev.Kind != NoticeUpdated {
						other = append(other, ev)
					}
				}
			}
			lat = append(lat, time.Since(start))
			drainEvents(owner)
		}
		slices.Sort(lat)
		return lat[len(lat)/2]
	}
	quiet := measure(300, 0)

	stuck := dialRaw(t, ts.addr)
	stuckID := stuck.hello("stuck")
	stuck.send(map[string]any{"op": "join", "id": 2, "lobby": j.Lobby.ID, "port": 5})
	stuck.recv()
	for _, w := range watchers {
		expectEvent(t, w, NoticeMemberJoined, nil)
	}
	drainEvents(owner)
	// stuck never reads again: a thousand notices fill its socket buffers,
	// its writes block, and the write timeout cuts it.
	loaded := measure(1000, 1000)
	testutil.WaitFor(t, 10*time.Second, "the slow consumer cut", func() bool { return ts.stats(t).Members == 4 })
	for _, w := range watchers {
		for {
			ev := nextEvent(t, w, 5*time.Second)
			other = append(other, ev)
			if ev.Kind == NoticeMemberLeft {
				break
			}
		}
	}
	drops := 0
	for _, ev := range other {
		if ev.Kind == NoticeMemberLeft && ev.Member.ID == stuckID && ev.Reason == ReasonSlowConsumer {
			drops++
		}
	}
	if drops != len(watchers) {
		t.Fatalf("%d watchers were told of the slow consumer's drop, want %d (other events: %+v)", drops, len(watchers), other)
	}
	t.Logf("notice latency p50: quiet %v, with a slow consumer %v (%.2fx)", quiet, loaded, float64(loaded)/float64(quiet))
	if loaded > 2*quiet+500*time.Microsecond {
		t.Fatalf("others slowed down: p50 %v vs %v quiet", loaded, quiet)
	}
}

// TestTrickledHellosAreShed: 2,000 connections that send their hello a byte
// at a time are all closed at the hello deadline, a normal client still
// gets in fast meanwhile, and connections and goroutines return to the
// baseline.
func TestTrickledHellosAreShed(t *testing.T) {
	const conns = 2000
	const deadline = 400 * time.Millisecond
	ts := startServer(t, ServerConfig{HelloTimeout: deadline, MaxConnsPerIP: -1})
	ts.stats(t) // the server's own goroutines are all up once it answers
	baseGoroutines := runtime.NumGoroutine()
	hello := []byte(`{"op":"hello","id":1,"v":1,"player":"slowpoke"}` + "\n")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var shedAfter []time.Duration
	for i := 0; i < conns; i++ {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		start := time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nc.Close()
			go func() { // notice the server closing us
				buf := make([]byte, 512)
				for {
					if _, err := nc.Read(buf); err != nil {
						mu.Lock()
						shedAfter = append(shedAfter, time.Since(start))
						mu.Unlock()
						nc.Close()
						return
					}
				}
			}()
			for _, b := range hello {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := nc.Write([]byte{b}); err != nil {
					return
				}
			}
		}()
	}
	// Meanwhile a normal client dials, creates and is joined quickly.
	t0 := time.Now()
	c := dial(t, ts.addr, "normal")
	if _, err := c.Create(context.Background(), CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("normal client in %v among %d trickling connections", time.Since(t0), conns)
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("normal client took %v", d)
	}
	testutil.WaitFor(t, 10*time.Second, "every trickler shed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(shedAfter) == conns
	})
	close(stop)
	wg.Wait()
	mu.Lock()
	slices.Sort(shedAfter)
	first, last := shedAfter[0], shedAfter[len(shedAfter)-1]
	mu.Unlock()
	t.Logf("tricklers shed between %v and %v after connecting (deadline %v)", first, last, deadline)
	// (The client's clock starts after Dial returns, which on a loaded
	// machine can be well after the coordinator accepted, so the first
	// figure is only indicative; the upper bound is what matters.)
	if last > deadline+3*time.Second {
		t.Fatalf("a trickler lingered %v past connecting (deadline %v)", last, deadline)
	}
	testutil.WaitFor(t, 5*time.Second, "connections back to baseline", func() bool { return ts.stats(t).Connections == 1 })
	// The normal client still holds its 3 goroutines and its session 2.
	deadlineG := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines+5 {
		if time.Now().After(deadlineG) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), baseGoroutines, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
