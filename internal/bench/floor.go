package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// The floor server: the cheapest Go implementation of the traffic a
// coordinator carries while it holds members, measured by Load in the same
// run so that the coordinator's CPU and memory can be read as a ratio to
// it. It accepts connections, gives each one reader goroutine that reads
// newline-terminated lines through a 1 KiB bufio.Reader and discards them,
// and has one ticker goroutine write {"event":"ping","seq":N}\n to every
// connection once per heartbeat, spread over the period in floorSlots
// groups as the coordinator's heartbeat wheel does, with a plain
// conn.Write. No JSON, no lobbies, no idle timeout, nothing else.

// floorSlots is how many groups the floor's pings are spread over, as
// tcpconn's heartbeat wheel does (64 slots of 15.6 ms for a 1 s period).
const floorSlots = 64

// FloorServer listens on listen, which must be a loopback address, prints
// {"event":"listening","addr":"..."} as its first line on out, and serves
// until ctx ends; then it closes every connection and returns once its
// goroutines have.
func FloorServer(ctx context.Context, listen string, heartbeat time.Duration, out io.Writer) error {
	if heartbeat < time.Millisecond {
		return errors.New("bench: floor heartbeat must be >= 1ms")
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("bench: floor server listens on loopback only, not %q", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "{\"event\":\"listening\",\"addr\":%q}\n", ln.Addr().String())
	slots := int(max(1, min(floorSlots, heartbeat/time.Millisecond)))
	f := &floor{slots: make([][]net.Conn, slots)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.tick(ctx, heartbeat/time.Duration(slots))
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				if !errors.Is(err, net.ErrClosed) {
					// Out of file descriptors and the like: wait a little,
					// as net/http does.
					time.Sleep(5 * time.Millisecond)
					continue
				}
			}
			break
		}
		if !f.add(c) {
			c.Close()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			floorRead(c)
		}()
	}
	f.closeAll()
	wg.Wait()
	return nil
}

// floor holds the connections in their ping slots.
type floor struct {
	mu     sync.Mutex
	slots  [][]net.Conn
	next   int
	closed bool
}

func (f *floor) add(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.slots[f.next] = append(f.slots[f.next], c)
	f.next = (f.next + 1) % len(f.slots)
	return true
}

func (f *floor) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for i, s := range f.slots {
		for _, c := range s {
			c.Close()
		}
		f.slots[i] = nil
	}
}

// tick writes one slot's pings every period. A connection whose write fails
// (its reader saw the end and closed it) leaves its slot there.
func (f *floor) tick(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var (
		slot  int
		seq   uint64
		frame []byte
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if slot == 0 {
			seq++
			frame = append(frame[:0], `{"event":"ping","seq":`...)
			frame = strconv.AppendUint(frame, seq, 10)
			frame = append(frame, "}\n"...)
		}
		f.mu.Lock()
		s := f.slots[slot]
		for i := 0; i < len(s); {
			if _, err := s[i].Write(frame); err != nil {
				s[i].Close()
				s[i] = s[len(s)-1]
				s[len(s)-1] = nil
				s = s[:len(s)-1]
				continue
			}
			i++
		}
		f.slots[slot] = s
		f.mu.Unlock()
		slot = (slot + 1) % len(f.slots)
	}
}

// floorRead reads and discards lines until the connection ends, then
// closes it.
func floorRead(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 1024)
	for {
		if _, err := br.ReadSlice('\n'); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
