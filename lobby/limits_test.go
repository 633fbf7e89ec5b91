package lobby

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// No heartbeat: the raw connections held open answer no pings.
	ts := startServer(t, ServerConfig{MaxConns: 5, MaxConnsPerIP: 3, HeartbeatInterval: noHeartbeat})
	var open []*rawClient
	// Every admitted connection holds a seat: none may be shed at the cap.
	seat := func(r *rawClient, name string) {
		r.hello(name)
		r.send(map[string]any{"op": "create", "id": 2, "game": "demo", "name": name, "capacity": 2, "port": 1})
		if m := r.recv(); m["ok"] != true {
			t.Fatalf("create: %v", m)
		}
	}
	for i := 0; i < 3; i++ {
		r := dialFrom(t, "127.0.0.1", ts.addr)
		seat(r, fmt.Sprint("a", i))
		open = append(open, r)
	}
	fourth := dialFrom(t, "127.0.0.1", ts.addr)
	fourth.expectError(CodeTooManyConnections, nil)
	fourth.expectClosed(5 * time.Second)
	for i := 0; i < 2; i++ {
		r := dialFrom(t, "127.0.0.2", ts.addr)
		seat(r, fmt.Sprint("b", i))
		open = append(open, r)
	}
	sixth := dialFrom(t, "127.0.0.3", ts.addr)
	sixth.expectError(CodeTooManyConnections, nil)
	sixth.expectClosed(5 * time.Second)
	// Everyone admitted is still served.
	for _, r := range open {
		r.send(map[string]any{"op": "ping", "id": 9})
		if m := r.recv(); m["ok"] != true {
			t.Fatalf("admitted connection not served: %v", m)
		}
	}
	// A slot frees up when a connection closes.
	open[0].conn.Close()
	testutil.WaitFor(t, 5*time.Second, "slot freed", func() bool { return ts.stats(t).Connections == 4 })
	again := dialFrom(t, "127.0.0.1", ts.addr)
	again.hello("again")
	if st := ts.stats(t); st.Rejected != 2 {
		t.Fatalf("rejected = %d", st.Rejected)
	}
}

func TestRequestRateLimit(t *testing.T) {
	const rate, burst = 20, 10
	ts := startServer(t, ServerConfig{RequestRate: rate, RequestBurst: burst, HeartbeatInterval: noHeartbeat})
	// The bucket starts full and refills from the hello on: however slowly
	// the machine runs the test, the coordinator serves at most burst
	// requests plus rate × the time elapsed since before the hello.
	start := time.Now()
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
	elapsed := time.Since(start)
	if most := burst - 1 + rate*elapsed.Seconds(); ok < burst-1 || float64(ok) > most || limited != 40-ok {
		t.Fatalf("ok=%d limited=%d in %v; want %d served of the burst, and at most %.1f with the refill", ok, limited, elapsed, burst-1, most)
	}
	// The bucket refills; the connection was never closed.
	testutil.WaitFor(t, 5*time.Second, "bucket refill", func() bool {
		r.send(map[string]any{"op": "ping", "id": 1})
		return r.recv()["ok"] == true
	})
}

// TestSlowConsumerKeepsOthersFast: while a member that never reads is fed a
// thousand notices and cut, the other members of its lobby get their
// notices as fast as the members of a control lobby on the same coordinator
// (medians within twice, with a small absolute allowance for scheduler
// noise on a 2-core machine). The two lobbies' notices are sent in
// alternation, so both medians are taken under the same load of the
// machine, whatever else runs on it; a coordinator that waited on the slow
// member would delay its lobby's fan-out, and show.
func TestSlowConsumerKeepsOthersFast(t *testing.T) {
	// No heartbeat: the member that never reads never answers a ping either,
	// and must be cut for not reading (its writes block past the write
	// timeout), not dropped for silence first, which a slow machine would
	// otherwise make the likelier of the two.
	ts := startServer(t, ServerConfig{RequestRate: -1, HeartbeatInterval: noHeartbeat})
	ctx := context.Background()
	owner := dial(t, ts.addr, "owner")
	type testLobby struct {
		id       string
		watchers []*Client
	}
	newLobby := func(name string) testLobby {
		j, err := owner.Create(ctx, CreateOptions{Game: "demo", Name: name, Capacity: 8, JoinOptions: JoinOptions{Port: 1}})
		if err != nil {
			t.Fatal(err)
		}
		l := testLobby{id: j.Lobby.ID}
		for i := 0; i < 3; i++ {
			w := dial(t, ts.addr, fmt.Sprint(name, "-w", i))
			if _, err := w.Join(ctx, l.id, JoinOptions{Port: 2}); err != nil {
				t.Fatal(err)
			}
			l.watchers = append(l.watchers, w)
		}
		return l
	}
	control, loaded := newLobby("control"), newLobby("loaded")
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
	other := map[*Client][]Event{} // each watcher's events other than the measured notices
	// notify sends notice seq to lobby l and returns how long it took until
	// every watcher had it.
	notify := func(l testLobby, seq string) time.Duration {
		start := time.Now()
		if err := owner.SetMeta(ctx, l.id, map[string]string{"n": seq, "pad": pad}); err != nil {
			t.Fatal(err)
		}
		for _, w := range l.watchers {
			for {
				ev := nextEvent(t, w, 5*time.Second)
				if ev.Kind == NoticeUpdated && ev.Lobby.Meta["n"] == seq {
					break
				}
				if ev.Kind != NoticeUpdated {
					other[w] = append(other[w], ev)
				}
			}
		}
		d := time.Since(start)
		drainEvents(owner)
		return d
	}
	// measure sends n notices to each lobby, in alternation, and returns
	// each lobby's median latency.
	measure := func(n, base int) (controlP50, loadedP50 time.Duration) {
		var lc, ll []time.Duration
		for i := 0; i < n; i++ {
			seq := strconv.Itoa(base + i)
			if i%2 == 0 {
				lc = append(lc, notify(control, seq))
				ll = append(ll, notify(loaded, seq))
			} else {
				ll = append(ll, notify(loaded, seq))
				lc = append(lc, notify(control, seq))
			}
		}
		slices.Sort(lc)
		slices.Sort(ll)
		return lc[n/2], ll[n/2]
	}
	quietControl, quietLoaded := measure(300, 0)

	stuck := dialRaw(t, ts.addr)
	stuckID := stuck.hello("stuck")
	stuck.send(map[string]any{"op": "join", "id": 2, "lobby": loaded.id, "port": 5})
	stuck.recv()
	for _, w := range loaded.watchers {
		expectEvent(t, w, NoticeMemberJoined, nil)
	}
	drainEvents(owner)
	// stuck never reads again: a thousand notices fill its socket buffers,
	// its writes block, and the write timeout cuts it.
	controlP50, loadedP50 := measure(1000, 1000)
	testutil.WaitFor(t, 10*time.Second, "the slow consumer cut", func() bool { return ts.stats(t).Members == 7 })
	// Each watcher of its lobby is told, during the measurement (on a slow
	// machine the cut comes that early) or after it.
	drops := 0
	for _, w := range loaded.watchers {
		left := func() bool {
			return slices.ContainsFunc(other[w], func(ev Event) bool { return ev.Kind == NoticeMemberLeft })
		}
		for !left() {
			other[w] = append(other[w], nextEvent(t, w, 5*time.Second))
		}
		for _, ev := range other[w] {
			if ev.Kind == NoticeMemberLeft && ev.Member.ID == stuckID && ev.Reason == ReasonSlowConsumer {
				drops++
			}
		}
	}
	if drops != len(loaded.watchers) {
		t.Fatalf("%d watchers were told of the slow consumer's drop, want %d (other events: %+v)", drops, len(loaded.watchers), other)
	}
	for _, w := range control.watchers {
		for _, ev := range other[w] {
			if ev.Member.ID == stuckID {
				t.Fatalf("%s, in the control lobby, was told of the slow consumer: %+v", w.cfg.Player, ev)
			}
		}
	}
	t.Logf("notice latency p50 before the slow consumer: control %v, its lobby %v", quietControl, quietLoaded)
	t.Logf("notice latency p50 with the slow consumer: control %v, its lobby %v (%.2fx)",
		controlP50, loadedP50, float64(loadedP50)/float64(controlP50))
	if loadedP50 > 2*controlP50+500*time.Microsecond {
		t.Fatalf("the slow consumer's lobby slowed down: p50 %v vs %v in the control lobby", loadedP50, controlP50)
	}
}

// TestTrickledHellosAreShed: 2,000 connections that send their hello a byte
// at a time are all shed at the hello deadline, each before it could have
// sent its whole hello (so the trickle never extends the deadline), a
// normal client still gets in meanwhile before any trickler could have,
// and connections and goroutines return to the baseline. The bounds are
// the trickle's own length, not the wall clock of a busy machine.
func TestTrickledHellosAreShed(t *testing.T) {
	const conns = 2000
	const deadline = 400 * time.Millisecond
	const byteGap = 50 * time.Millisecond
	ts := startServer(t, ServerConfig{HelloTimeout: deadline, MaxConnsPerIP: -1, HeartbeatInterval: noHeartbeat})
	ts.stats(t) // the server's own goroutines are all up once it answers
	baseGoroutines := runtime.NumGoroutine()
	hello := []byte(`{"op":"hello","id":1,"v":1,"player":"slowpoke"}` + "\n")
	// Timers never fire early: a whole hello takes at least this long.
	trickleTime := time.Duration(len(hello)-1) * byteGap

	var wg sync.WaitGroup
	stop := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(func() { halt(); wg.Wait() }) // also when the test fails half-way
	release := make(chan struct{})
	var releasedAt time.Time // set before release closes
	var mu sync.Mutex
	var (
		shedAfter []time.Duration // from the release to the close
		whole     int             // tricklers that had sent all of their hello when shed
		told      int             // tricklers that got the parting hello_required
		wrong     []string        // what a trickler was told, when not that
	)
	for i := 0; i < conns; i++ {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		var sent atomic.Int32
		shed := make(chan struct{})
		phase := byteGap * time.Duration(i) / conns // spreads the bytes over the gap, as separate clients would
		wg.Add(2)
		go func() { // notice the server closing us, and what it said
			defer wg.Done()
			defer close(shed)
			said, _ := io.ReadAll(nc)
			select {
			case <-release:
			case <-stop:
				return
			}
			mu.Lock()
			defer mu.Unlock()
			shedAfter = append(shedAfter, time.Since(releasedAt))
			if int(sent.Load()) == len(hello) {
				whole++
			}
			// The parting error may be lost to a reset (the coordinator
			// closes with trickled bytes unread); an ok never may come.
			switch {
			case bytes.Contains(said, []byte(`"ok":true`)):
				wrong = append(wrong, string(said))
			case bytes.Contains(said, []byte(`"code":"hello_required"`)):
				told++
			case len(said) > 0:
				wrong = append(wrong, string(said))
			}
		}()
		go func() {
			defer wg.Done()
			defer nc.Close()
			select {
			case <-release:
			case <-stop:
				return
			}
			for k, b := range hello {
				gap := byteGap
				if k == 0 {
					gap += phase
				}
				select {
				case <-stop:
					return
				case <-shed:
					return
				case <-time.After(gap):
				}
				if _, err := nc.Write([]byte{b}); err != nil {
					return
				}
				sent.Add(1)
			}
			select {
			case <-stop:
			case <-shed:
			}
		}()
	}
	// The trickle starts once the coordinator has accepted every trickler,
	// so that how fast it accepts does not count against the trickle.
	testutil.WaitFor(t, 30*time.Second, "every trickler accepted", func() bool { return ts.stats(t).Accepted >= conns })
	releasedAt = time.Now()
	close(release)
	// Meanwhile a normal client dials, creates and is joined quickly.
	t0 := time.Now()
	c := dial(t, ts.addr, "normal")
	if _, err := c.Create(context.Background(), CreateOptions{Game: "demo", Name: "x", Capacity: 2, JoinOptions: JoinOptions{Port: 1}}); err != nil {
		t.Fatal(err)
	}
	normal := time.Since(t0)
	t.Logf("normal client in %v among %d trickling connections", normal, conns)
	if normal > trickleTime {
		t.Fatalf("normal client took %v, longer than a trickled hello (%v)", normal, trickleTime)
	}
	testutil.WaitFor(t, 30*time.Second, "every trickler shed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(shedAfter) == conns
	})
	halt()
	wg.Wait()
	mu.Lock()
	slices.Sort(shedAfter)
	first, last := shedAfter[0], shedAfter[len(shedAfter)-1]
	mu.Unlock()
	t.Logf("tricklers shed between %v and %v after the trickle began (deadline %v after accepting, whole hello %v); %d got the parting error",
		first, last, deadline, trickleTime, told)
	if whole > 0 || len(wrong) > 0 || told == 0 {
		t.Fatalf("%d tricklers sent their whole hello before being shed; %d got the parting error; %d were told something else (first: %q)",
			whole, told, len(wrong), append(wrong, "")[0])
	}
	testutil.WaitFor(t, 10*time.Second, "connections back to baseline", func() bool { return ts.stats(t).Connections == 1 })
	// The normal client still holds its 3 goroutines and its session 2.
	deadlineG := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines+5 {
		if time.Now().After(deadlineG) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), baseGoroutines, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShedIdleAtCap: at the connection cap, a newcomer gets in by shedding
// an idle connection without a seat from the source with the most
// connections (one that never said hello first); members with a seat are
// never shed; when every connection holds a seat, the newcomer is refused.
func TestShedIdleAtCap(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxConns: 12, MaxConnsPerIP: -1, HeartbeatInterval: noHeartbeat, HelloTimeout: time.Minute})
	var heavy, seated []*rawClient
	for i := 0; i < 6; i++ {
		r := dialFrom(t, "127.0.0.2", ts.addr)
		if i < 5 {
			r.hello(fmt.Sprint("idle", i)) // one of the six never says hello
		}
		heavy = append(heavy, r)
	}
	for i := 0; i < 6; i++ {
		r := dialFrom(t, "127.0.0.3", ts.addr)
		r.hello(fmt.Sprint("seated", i))
		r.send(map[string]any{"op": "create", "id": 2, "game": "demo", "name": "x", "capacity": 2, "port": 1})
		if m := r.recv(); m["ok"] != true {
			t.Fatalf("create: %v", m)
		}
		seated = append(seated, r)
	}
	testutil.WaitFor(t, 5*time.Second, "12 connections", func() bool { return ts.stats(t).Connections == 12 })
	// The newcomer gets in; the heavy source's connection without hello
	// is the one shed.
	newcomer := dialFrom(t, "127.0.0.4", ts.addr)
	newcomer.hello("newcomer")
	heavy[5].expectError(CodeTooManyConnections, nil)
	heavy[5].expectClosed(5 * time.Second)
	// Five more newcomers, each from its own address, who take a seat:
	// the heavy source's idle members go, never a seated one.
	for i := 0; i < 5; i++ {
		r := dialFrom(t, fmt.Sprintf("127.0.0.%d", 10+i), ts.addr)
		r.hello(fmt.Sprint("newcomer", i))
		r.send(map[string]any{"op": "create", "id": 2, "game": "demo", "name": "y", "capacity": 2, "port": 1})
		if m := r.recv(); m["ok"] != true {
			t.Fatalf("newcomer %d create: %v", i, m)
		}
	}
	for _, r := range heavy[:5] {
		r.expectError(CodeTooManyConnections, nil)
	}
	for _, r := range seated {
		r.send(map[string]any{"op": "ping", "id": 9})
		if m := r.recv(); m["ok"] != true {
			t.Fatalf("seated member shed: %v", m)
		}
	}
	// Now the newcomer with no seat is the only idle one: the next
	// arrival sheds it; after that, everyone holds a seat and a new
	// connection is refused.
	next := dialFrom(t, "127.0.0.5", ts.addr)
	newcomer.expectError(CodeTooManyConnections, nil)
	next.hello("next")
	next.send(map[string]any{"op": "create", "id": 2, "game": "demo", "name": "z", "capacity": 2, "port": 1})
	if m := next.recv(); m["ok"] != true {
		t.Fatalf("create: %v", m)
	}
	refused := dialFrom(t, "127.0.0.6", ts.addr)
	refused.expectError(CodeTooManyConnections, nil)
	refused.expectClosed(5 * time.Second)
	st := ts.stats(t)
	if st.Shed != 7 || st.Rejected != 1 {
		t.Fatalf("shed %d, rejected %d; want 7 and 1", st.Shed, st.Rejected)
	}
}
