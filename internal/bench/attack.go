//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Attacks on a coordinator process (RELIABILITY.md, hostile inputs), each
// mounted on loopback while the coordinator's memory is sampled from /proc
// and a prober says hello on a fresh connection every 25 ms. The attacking
// connections are held without a goroutine each (a poller finds the ones
// the coordinator closed and dials them again), so that a test can mount
// 16,000 of them under the race detector.

// AttackConfig names the coordinator to attack and how long to attack it.
type AttackConfig struct {
	// Coordinator is the command that runs a coordinator, such as
	// {"/usr/bin/lanlobby", "coordinator"}; the attack appends --listen
	// 127.0.0.1:0 --announce=false --json --log-level warn, then
	// CoordinatorArgs. Required.
	Coordinator     []string
	CoordinatorArgs []string
	Env             []string
	// Hold is how long the attack runs once mounted [3s].
	Hold time.Duration
	// Progress, when set, gets a line per phase.
	Progress io.Writer
}

// AttackResult is what an attack measured.
type AttackResult struct {
	Attack string
	PID    int
	// BaselineRSS is the coordinator's resident memory once set up, before
	// the attack; PeakRSS the most sampled during it (every 20 ms), HWM the
	// kernel's high-water mark (VmHWM) over the whole run.
	BaselineRSS, PeakRSS, HWM int64
	// CPU is the coordinator's CPU time during the attack.
	CPU      time.Duration
	Duration time.Duration
	// Hellos answered to the prober, how many failed (no answer within
	// 2 s, or refused), and their latency.
	Hellos, HelloFailures        int
	HelloP50, HelloP90, HelloMax time.Duration
	HelloError                   string // the first failure, if any
	// Attackers is how many attacking connections were open at the peak,
	// Dialed how many were opened in all, Cut how many times the
	// coordinator closed one.
	Attackers, Dialed, Cut int
	// Real clients during the attack: successes, failures, worst latency.
	RealOK, RealFailed int
	RealMax            time.Duration
}

// Format is the result as a few lines for people.
func (r *AttackResult) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "attack %s (coordinator pid %d, %.1fs)\n", r.Attack, r.PID, r.Duration.Seconds())
	fmt.Fprintf(&b, "  coordinator RSS: %.1f MB before, peak %.1f MB (high-water %.1f MB); CPU %.2fs\n",
		mb(r.BaselineRSS), mb(r.PeakRSS), mb(r.HWM), r.CPU.Seconds())
	fmt.Fprintf(&b, "  hello: %d answered, %d failed, p50 %v, p90 %v, max %v\n", r.Hellos, r.HelloFailures,
		r.HelloP50.Round(10*time.Microsecond), r.HelloP90.Round(10*time.Microsecond), r.HelloMax.Round(10*time.Microsecond))
	if r.HelloError != "" {
		fmt.Fprintf(&b, "  first failed hello: %s\n", r.HelloError)
	}
	fmt.Fprintf(&b, "  attackers: %d open at the peak, %d dialled, %d cut by the coordinator\n", r.Attackers, r.Dialed, r.Cut)
	if r.RealOK+r.RealFailed > 0 {
		fmt.Fprintf(&b, "  real clients: %d served, %d failed, worst %v\n", r.RealOK, r.RealFailed, r.RealMax.Round(10*time.Microsecond))
	}
	return b.String()
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func (c AttackConfig) withDefaults() (AttackConfig, error) {
	if len(c.Coordinator) == 0 {
		return c, errors.New("bench: no coordinator command")
	}
	if c.Hold <= 0 {
		c.Hold = 3 * time.Second
	}
	return c, nil
}

// attack is one run: the coordinator, its samplers and the connections.
type attack struct {
	cfg   AttackConfig
	co    *coordinator
	res   *AttackResult
	start time.Time
	cpu0  time.Duration

	mu     sync.Mutex // guards hellos, conns
	hellos []time.Duration
	conns  []net.Conn // to close at the end

	wg   sync.WaitGroup
	stop chan struct{}
}

func (a *attack) logf(format string, args ...any) {
	if a.cfg.Progress != nil {
		fmt.Fprintf(a.cfg.Progress, "bench attack: "+format+"\n", args...)
	}
}

func startAttack(name string, cfg AttackConfig) (*attack, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	args := append(append([]string(nil), cfg.Coordinator[1:]...), "--listen", "127.0.0.1:0", "--announce=false", "--json", "--log-level", "warn")
	args = append(args, cfg.CoordinatorArgs...)
	co, err := startServer("coordinator", cfg.Coordinator[0], args, cfg.Env)
	if err != nil {
		return nil, err
	}
	return &attack{cfg: cfg, co: co, res: &AttackResult{Attack: name, PID: co.pid()}, stop: make(chan struct{})}, nil
}

// dialFrom opens a connection from loopback source address src.
func (a *attack) dialFrom(ctx context.Context, src net.IP) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", a.co.addr)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.mu.Unlock()
	return c, nil
}

// mount starts the measurements: the baseline RSS, then RSS sampling and
// the hello prober until finish.
func (a *attack) mount(ctx context.Context) {
	a.res.BaselineRSS, _, _ = procRSS(a.co.pid())
	a.cpu0, _ = procCPU(a.co.pid())
	a.start = time.Now()
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, _, err := procRSS(a.co.pid()); err == nil && rss > a.res.PeakRSS {
				a.res.PeakRSS = rss
			}
			select {
			case <-a.stop:
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-t.C:
			}
			d, err := a.hello(ctx, net.IPv4(127, 0, 3, 1))
			a.mu.Lock()
			if err != nil {
				if a.res.HelloFailures == 0 {
					a.res.HelloError = err.Error()
				}
				a.res.HelloFailures++
			} else {
				a.hellos = append(a.hellos, d)
			}
			a.mu.Unlock()
		}
	}()
}

// hello dials from src, says hello and times the answer.
func (a *attack) hello(ctx context.Context, src net.IP) (time.Duration, error) {
	start := time.Now()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", a.co.addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(`{"op":"hello","id":1,"v":1,"player":"prober"}` + "\n")); err != nil {
		return 0, err
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = trimEOL(line)
		if bytes.HasPrefix(line, []byte(`{"event":`)) {
			continue // a ping may come first
		}
		if !replyOK(line) {
			return 0, replyError(line)
		}
		return time.Since(start), nil
	}
}

// finish stops the measurements, the connections and the coordinator.
func (a *attack) finish() *AttackResult {
	close(a.stop)
	a.wg.Wait()
	a.res.Duration = time.Since(a.start)
	if cpu, err := procCPU(a.co.pid()); err == nil {
		a.res.CPU = cpu - a.cpu0
	}
	_, a.res.HWM, _ = procRSS(a.co.pid())
	a.mu.Lock()
	for _, c := range a.conns {
		c.Close()
	}
	a.conns = nil
	hellos := slices.Clone(a.hellos)
	a.mu.Unlock()
	a.co.stop(2 * time.Second)
	slices.Sort(hellos)
	a.res.Hellos = len(hellos)
	if len(hellos) > 0 {
		a.res.HelloP50 = Percentile(hellos, 50)
		a.res.HelloP90 = Percentile(hellos, 90)
		a.res.HelloMax = hellos[len(hellos)-1]
	}
	return a.res
}

// slots holds attacking connections without a goroutine each: one poller
// sweeps them, drains what the coordinator sent, and redials (with
// redial) the ones it closed, until stop.
type slots struct {
	mu     sync.Mutex // guards conns
	conns  []net.Conn // nil while being dialled
	open   atomic.Int64
	peak   atomic.Int64
	dialed atomic.Int64
	cut    atomic.Int64
	redial chan int
}

func newSlots(n int) *slots {
	return &slots{conns: make([]net.Conn, n), redial: make(chan int, n)}
}

func (s *slots) set(i int, c net.Conn) {
	s.mu.Lock()
	s.conns[i] = c
	s.mu.Unlock()
	s.dialed.Add(1)
	if n := s.open.Add(1); n > s.peak.Load() {
		s.peak.Store(n)
	}
}

// closed reports whether the coordinator closed c, reading and dropping
// whatever it sent, without blocking.
func closed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var buf [4096]byte
	gone := false
	rc.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true
			case err != nil || n == 0:
				gone = true
				return true
			}
		}
	})
	return gone
}

// poll sweeps the slots until stop, queueing the closed ones for redial.
func (s *slots) poll(stop <-chan struct{}) {
	for {
		s.mu.Lock()
		conns := slices.Clone(s.conns)
		s.mu.Unlock()
		for i, c := range conns {
			if c == nil || !closed(c) {
				continue
			}
			c.Close()
			s.mu.Lock()
			s.conns[i] = nil
			s.mu.Unlock()
			s.open.Add(-1)
			s.cut.Add(1)
			select {
			case s.redial <- i:
			default:
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// run dials every slot with dial, concurrency at a time, then redials the
// ones the poller finds closed, until stop.
func (s *slots) run(stop <-chan struct{}, concurrency int, dial func(i int) (net.Conn, error)) *sync.WaitGroup {
	for i := range s.conns {
		s.redial <- i
	}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case i := <-s.redial:
					c, err := dial(i)
					if err != nil {
						select {
						case <-stop:
							return
						case <-time.After(10 * time.Millisecond):
						}
						s.redial <- i
						continue
					}
					s.set(i, c)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.poll(stop)
	}()
	return &wg
}

// ListFlood: lobbies lobbies with 1 KB of metadata each, then attackers
// connections each send requests list requests and read nothing.
func ListFlood(ctx context.Context, cfg AttackConfig, lobbies, attackers, requests int) (*AttackResult, error) {
	a, err := startAttack("list-flood", cfg)
	if err != nil {
		return nil, err
	}
	fillers := (lobbies + 7) / 8
	a.logf("creating %d lobbies of 1 KB metadata on %d connections", lobbies, fillers)
	var served sync.WaitGroup
	for i := 0; i < fillers; i++ {
		c, err := a.dialFrom(ctx, net.IPv4(127, 0, 4, byte(1+i/400)))
		if err != nil {
			a.finish()
			return nil, err
		}
		if err := fill(c, i, min(8, lobbies-8*i)); err != nil {
			a.finish()
			return nil, fmt.Errorf("bench: filler %d: %w", i, err)
		}
		served.Add(1)
		go func() {
			defer served.Done()
			serveQuietly(c)
		}()
	}
	a.mount(ctx)
	a.logf("%d connections send %d list requests each and read nothing", attackers, requests)
	var att []net.Conn
	for i := 0; i < attackers; i++ {
		c, err := a.dialFrom(ctx, net.IPv4(127, 0, 5, 1))
		if err != nil {
			a.finish()
			return nil, err
		}
		var b strings.Builder
		b.WriteString(`{"op":"hello","id":0,"v":1,"player":"flood"}` + "\n")
		for k := 1; k <= requests; k++ {
			fmt.Fprintf(&b, `{"op":"list","id":%d}`+"\n", k)
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(b.String()))
		att = append(att, c)
	}
	a.res.Attackers, a.res.Dialed = attackers, attackers
	sleepCtx(ctx, a.cfg.Hold)
	for _, c := range att {
		if wasCut(c) {
			a.res.Cut++
		}
	}
	res := a.finish()
	served.Wait()
	return res, ctx.Err()
}

// fill says hello on c and creates n lobbies with 1 KB of metadata.
func fill(c net.Conn, i, n int) error {
	var b strings.Builder
	b.WriteString(`{"op":"hello","id":0,"v":1,"player":"filler"}` + "\n")
	meta := strings.Repeat("v", 246)
	for k := 0; k < n; k++ {
		fmt.Fprintf(&b, `{"op":"create","id":%d,"game":"flood","name":"lobby %d","capacity":8,"port":1,"meta":{"k0":"%s","k1":"%s","k2":"%s","k3":"%s"}}`+"\n",
			k+1, 8*i+k, meta, meta, meta, meta)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(b.String())); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for k := 0; k <= n; k++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if !replyOK(trimEOL(line)) {
			if _, ok := replyID(trimEOL(line)); ok {
				return replyError(trimEOL(line))
			}
			k-- // a push, not a reply
		}
	}
	return nil
}

// serveQuietly answers the coordinator's pings on c until it closes.
func serveQuietly(c net.Conn) {
	l := &lineConn{c: c, br: bufio.NewReaderSize(c, 1024)}
	for {
		line, err := l.readLine()
		if err != nil {
			return
		}
		if _, err := l.answerPing(line); err != nil {
			return
		}
	}
}

// wasCut reports whether the coordinator closed c: reading what it sent
// (at most a few megabytes of socket buffers) ends in EOF or a reset.
func wasCut(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// PartialLines: conns connections each send hello and then lineBytes of a
// request line they never finish; the ones the coordinator closes dial
// again. Meanwhile a real client every 50 ms says hello, creates a lobby
// with 1 KB of metadata (a line longer than a link's read buffer) and
// lists.
func PartialLines(ctx context.Context, cfg AttackConfig, conns, lineBytes int) (*AttackResult, error) {
	a, err := startAttack("partial-lines", cfg)
	if err != nil {
		return nil, err
	}
	a.mount(ctx)
	a.logf("%d connections hold %d bytes of an unfinished line each", conns, lineBytes)
	partial := []byte(`{"op":"hello","id":1,"v":1,"player":"slow"}` + "\n" + `{"op":"create","id":2,"name":"` + strings.Repeat("x", max(0, lineBytes-32)))
	s := newSlots(conns)
	wg := a.flood(ctx, s, func(i int) net.IP { return net.IPv4(127, 0, 6, byte(1+i/500)) }, partial)
	// The real clients come once every connection has been dialled.
	waitUntil(ctx, func() bool { return s.dialed.Load() >= int64(conns) })
	a.logf("%d dialled, %d open, %d cut; real clients dial", s.dialed.Load(), s.open.Load(), s.cut.Load())
	a.real(ctx, 50*time.Millisecond, func(c *lineConn, n int) error {
		if err := c.call(fmt.Sprintf(`{"op":"create","id":2,"game":"real","name":"real %d","capacity":4,"port":1,"meta":{"k0":"%s","k1":"%s","k2":"%s","k3":"%s"}}`,
			n, strings.Repeat("r", 250), strings.Repeat("e", 250), strings.Repeat("a", 250), strings.Repeat("l", 250)), 2); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		return c.call(`{"op":"list","id":3,"game":"real"}`, 3)
	})
	a.res.Attackers, a.res.Dialed, a.res.Cut = int(s.peak.Load()), int(s.dialed.Load()), int(s.cut.Load())
	res := a.finish()
	wg.Wait()
	return res, ctx.Err()
}

// ConnFlood: sources addresses open perSource connections each, say
// hello and hold them (the coordinator should run with a long heartbeat:
// an attacker can answer pings at no cost); the ones closed dial again.
// Once the coordinator is at its cap, a real client from another address
// dials, says hello and creates a lobby every 100 ms, keeping its
// connection: each must get in.
func ConnFlood(ctx context.Context, cfg AttackConfig, sources, perSource, capacity int) (*AttackResult, error) {
	a, err := startAttack("conn-flood", cfg)
	if err != nil {
		return nil, err
	}
	a.mount(ctx)
	a.logf("%d addresses × %d connections say hello and hold", sources, perSource)
	s := newSlots(sources * perSource)
	hello := []byte(`{"op":"hello","id":1,"v":1,"player":"squatter"}` + "\n")
	wg := a.flood(ctx, s, func(i int) net.IP { return net.IPv4(127, 0, 7, byte(1+i/perSource)) }, hello)
	waitUntil(ctx, func() bool { return s.open.Load() >= int64(capacity) })
	a.logf("%d attacking connections open (peak %d); real clients dial", s.open.Load(), s.peak.Load())
	a.real(ctx, 100*time.Millisecond, func(c *lineConn, n int) error {
		return c.call(fmt.Sprintf(`{"op":"create","id":2,"game":"real","name":"real %d","capacity":4,"port":1}`, n), 2)
	})
	a.res.Attackers, a.res.Dialed, a.res.Cut = int(s.peak.Load()), int(s.dialed.Load()), int(s.cut.Load())
	res := a.finish()
	wg.Wait()
	return res, ctx.Err()
}

// flood fills the slots with connections from source(i) that send
// payload and hold, and keeps them filled until the attack stops.
func (a *attack) flood(ctx context.Context, s *slots, source func(i int) net.IP, payload []byte) *sync.WaitGroup {
	return s.run(a.stop, 64, func(i int) (net.Conn, error) {
		c, err := a.dialFrom(ctx, source(i))
		if err != nil {
			return nil, err
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(payload); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
}

// waitUntil polls cond until it holds, ctx ends or a minute passed (the
// attack then goes on with what it has, and its figures say so).
func waitUntil(ctx context.Context, cond func() bool) {
	deadline := time.Now().Add(time.Minute)
	for !cond() && time.Now().Before(deadline) && ctx.Err() == nil {
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// realClients is the fewest real clients an attack runs, however long
// each takes.
const realClients = 5

// real runs a real client every period for the hold, and at least
// realClients of them: dial, hello, then work; it counts successes,
// failures and the worst time.
func (a *attack) real(ctx context.Context, period time.Duration, work func(c *lineConn, n int) error) {
	end := time.Now().Add(a.cfg.Hold)
	for n := 0; (n < realClients || time.Now().Before(end)) && ctx.Err() == nil; n++ {
		start := time.Now()
		err := func() error {
			c, err := a.dialFrom(ctx, net.IPv4(127, 0, 3, 2))
			if err != nil {
				return err
			}
			// A player's patience: long enough for a machine whose two cores
			// also run the flood's generator.
			c.SetDeadline(time.Now().Add(10 * time.Second))
			lc := &lineConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}
			if err := lc.call(`{"op":"hello","id":1,"v":1,"player":"real"}`, 1); err != nil {
				return fmt.Errorf("hello: %w", err)
			}
			return work(lc, n)
		}()
		d := time.Since(start)
		if err != nil {
			a.res.RealFailed++
			a.logf("real client %d failed after %v: %v", n, d, err)
		} else {
			a.res.RealOK++
			a.res.RealMax = max(a.res.RealMax, d)
		}
		sleepCtx(ctx, period)
	}
}

// call sends one request and waits for the reply with that id, skipping
// pings and notices.
func (l *lineConn) call(req string, id int64) error {
	if _, err := l.c.Write([]byte(req + "\n")); err != nil {
		return err
	}
	for {
		line, err := l.readLine()
		if err != nil {
			return err
		}
		if got, ok := replyID(line); ok && got == id {
			if !replyOK(line) {
				return replyError(line)
			}
			return nil
		}
		if got, ok := replyID(line); !ok && strings.HasPrefix(string(line), `{"id":null`) {
			return replyError(line)
		} else if ok && got != id {
			continue
		}
	}
}
