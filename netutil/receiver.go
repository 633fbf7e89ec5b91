package netutil

import (
	"cmp"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver defaults.
const (
	// DefaultQueueLen is how many received datagrams wait for Read before
	// new ones are dropped (and counted).
	DefaultQueueLen = 64
	// DefaultQueueBytes bounds the payload bytes waiting for Read: a
	// flood of large datagrams cannot slip through the count bound.
	DefaultQueueBytes = 1 << 20
	// maxDatagram is the default read buffer: the largest UDP payload.
	maxDatagram = 65535
)

// ReceiverConfig configures NewReceiver; the zero value is the default.
type ReceiverConfig struct {
	// QueueLen bounds the datagrams waiting for Read; 0 means
	// DefaultQueueLen.
	QueueLen int
	// QueueBytes bounds their payload bytes; 0 means DefaultQueueBytes.
	QueueBytes int
	// MaxDatagram is the read buffer of each socket; a longer datagram is
	// cut to it. 0 means 65535, the largest UDP payload.
	MaxDatagram int
	// Logger receives warnings (read errors, drops); nil means
	// slog.Default().
	Logger *slog.Logger
	// Shed, when set, is asked about each datagram's source while the
	// queue is more than a quarter full: a source it reports true for (a
	// flood's, in the owner's eyes) has its datagram dropped (counted in
	// Dropped), so the rest of the queue stays for the others. It is
	// called from the reading goroutines: it must be safe for concurrent
	// use, and quick. nil sheds nothing.
	Shed func(src netip.Addr) bool
}

// Received is one datagram a Receiver read.
type Received struct {
	Data []byte
	PacketInfo
	// Socket is the socket it arrived on.
	Socket *Socket
}

// Receiver reads any number of sockets, one goroutine each, into one
// bounded queue that its owner drains with Read: a reading goroutine
// never blocks on a slow owner; what does not fit is dropped and counted.
// Sockets may be added and removed while it runs (interfaces come and
// go). It owns the sockets added to it: Remove and Close close them.
// Its methods are safe for concurrent use.
type Receiver struct {
	cfg     ReceiverConfig
	log     *slog.Logger
	queue   chan Received
	bytes   atomic.Int64
	dropped atomic.Uint64

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	readersMu sync.Mutex // guards readers, names and closed
	readers   map[*Socket]chan struct{}
	names     map[int]string // interface names by index, for zones
	closed    bool
}

// NewReceiver returns a Receiver without sockets.
func NewReceiver(cfg ReceiverConfig) *Receiver {
	cfg.QueueLen = cmp.Or(cfg.QueueLen, DefaultQueueLen)
	cfg.QueueBytes = cmp.Or(cfg.QueueBytes, DefaultQueueBytes)
	cfg.MaxDatagram = cmp.Or(cfg.MaxDatagram, maxDatagram)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &Receiver{
		cfg:     cfg,
		log:     cfg.Logger,
		queue:   make(chan Received, cfg.QueueLen),
		closing: make(chan struct{}),
		readers: make(map[*Socket]chan struct{}),
		names:   make(map[int]string),
	}
}

// Add starts reading s. After Close it closes s and returns
// net.ErrClosed.
func (r *Receiver) Add(s *Socket) error {
	r.readersMu.Lock()
	defer r.readersMu.Unlock()
	if r.closed {
		s.Close()
		return net.ErrClosed
	}
	if _, ok := r.readers[s]; ok {
		return nil
	}
	done := make(chan struct{})
	r.readers[s] = done
	r.wg.Add(1)
	go r.readLoop(s, done)
	return nil
}

// Remove closes s and waits until its reader has stopped. Datagrams it
// already queued stay queued.
func (r *Receiver) Remove(s *Socket) {
	r.readersMu.Lock()
	done, ok := r.readers[s]
	delete(r.readers, s)
	r.readersMu.Unlock()
	s.Close()
	if ok {
		<-done
	}
}

// SetIfaces tells the Receiver the interface names, which zone the IPv6
// link-local sources of what it reads.
func (r *Receiver) SetIfaces(ifaces []Iface) {
	r.readersMu.Lock()
	defer r.readersMu.Unlock()
	clear(r.names)
	for _, i := range ifaces {
		r.names[i.Index] = i.Name
	}
}

// Read blocks for the next datagram. After Close it returns
// net.ErrClosed.
func (r *Receiver) Read() (Received, error) {
	select {
	case <-r.closing:
		return Received{}, net.ErrClosed
	default:
	}
	select {
	case p := <-r.queue:
		r.bytes.Add(-int64(len(p.Data)))
		return p, nil
	case <-r.closing:
		return Received{}, net.ErrClosed
	}
}

// Dropped returns how many datagrams were dropped because Read did not
// keep up.
func (r *Receiver) Dropped() uint64 { return r.dropped.Load() }

// Close closes every socket, unblocks Read and waits for the readers. It
// is idempotent.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		close(r.closing)
		r.readersMu.Lock()
		r.closed = true
		socks := make([]*Socket, 0, len(r.readers))
		for s := range r.readers {
			socks = append(socks, s)
		}
		clear(r.readers)
		r.readersMu.Unlock()
		for _, s := range socks {
			s.Close()
		}
		r.wg.Wait()
	})
	return nil
}

// readLoop moves datagrams from one socket into the queue. Errors other
// than a closed socket are retried with a backoff from 5 ms doubling to
// 1 s, so a broken socket cannot spin.
func (r *Receiver) readLoop(s *Socket, done chan struct{}) {
	defer r.wg.Done()
	defer close(done)
	buf := make([]byte, r.cfg.MaxDatagram)
	backoff := time.Duration(0)
	for {
		n, info, err := s.ReadMsg(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-r.closing:
				return
			default:
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			r.log.Warn("netutil: read failed", "network", s.Network(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-r.closing:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		if !info.Src.IsValid() {
			continue
		}
		info.Src = r.fixZone(info.Src, info.IfIndex)
		if r.cfg.Shed != nil && len(r.queue) > cap(r.queue)/4 && r.cfg.Shed(info.Src.Addr()) {
			r.drop()
			continue
		}
		if r.bytes.Add(int64(n)) > int64(r.cfg.QueueBytes) {
			r.bytes.Add(-int64(n))
			r.drop()
			continue
		}
		select {
		case r.queue <- Received{Data: slices.Clone(buf[:n]), PacketInfo: info, Socket: s}:
		default:
			r.bytes.Add(-int64(n))
			r.drop()
		}
	}
}

func (r *Receiver) drop() {
	if d := r.dropped.Add(1); d&(d-1) == 0 { // log the 1st, 2nd, 4th, 8th... drop
		r.log.Warn("netutil: receive queue full, packet dropped", "dropped", d)
	}
}

// fixZone gives an IPv6 link-local source the name of the interface it
// arrived on (its index when the name is unknown), and strips any other
// zone. The zone the net package fills in comes from a process-wide
// index-to-name cache refreshed from whatever network namespace the
// reading thread is in, which is wrong for sockets opened in another
// namespace (a test lab).
func (r *Receiver) fixZone(ap netip.AddrPort, ifIndex int) netip.AddrPort {
	a := ap.Addr().Unmap()
	switch {
	case a.Is6() && a.IsLinkLocalUnicast() && ifIndex > 0:
		r.readersMu.Lock()
		zone, ok := r.names[ifIndex]
		r.readersMu.Unlock()
		if !ok {
			zone = strconv.Itoa(ifIndex)
		}
		a = a.WithZone(zone)
	case !a.IsLinkLocalUnicast():
		a = a.WithZone("")
	}
	return netip.AddrPortFrom(a, ap.Port())
}

// ZoneIndex turns a zone naming one of ifaces into its numeric index,
// which the net package uses as is (see Receiver for why names are not
// trusted); other addresses are returned unchanged.
func ZoneIndex(a netip.Addr, ifaces []Iface) netip.Addr {
	if z := a.Zone(); z != "" {
		for _, i := range ifaces {
			if i.Name == z {
				return a.WithZone(strconv.Itoa(i.Index))
			}
		}
	}
	return a
}
