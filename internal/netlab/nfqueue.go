package netlab

// An NFQUEUE consumer in Go: the delay half of Host.Impair (see faults.go).
//
// iptables rules in the switch namespace send a host's bridged IP packets to
// a netfilter queue (-j NFQUEUE). The kernel keeps each queued packet and
// tells a netlink socket about it (NETLINK_NETFILTER, subsystem
// NFNL_SUBSYS_QUEUE, metadata only: NFQNL_COPY_META); the packet goes on
// only when that socket sends a verdict for its id: NF_ACCEPT re-injects it
// where it left netfilter, NF_DROP frees it. This consumer gives every
// packet its NF_ACCEPT after the configured delay ± jitter, from a timer
// heap, so the packet leaves the switch that much later, like a slow cable.
//
// The wire formats (linux/netfilter/nfnetlink_queue.h) are:
//
//	nlmsghdr (16 bytes, host order) | nfgenmsg: family u8, version u8 (0),
//	res_id be16 (the queue number) | attributes (nlattr: len u16, type
//	u16, host order; payload padded to 4 bytes).
//	NFQNL_MSG_CONFIG:  NFQA_CFG_CMD {cmd u8, pad u8, pf be16} (BIND),
//	                   NFQA_CFG_PARAMS {copy_range be32, copy_mode u8},
//	                   NFQA_CFG_QUEUE_MAXLEN be32, NFQA_CFG_MASK and
//	                   NFQA_CFG_FLAGS be32.
//	NFQNL_MSG_PACKET:  NFQA_PACKET_HDR {packet_id be32, hw_protocol be16,
//	                   hook u8}, then other attributes we ignore.
//	NFQNL_MSG_VERDICT: NFQA_VERDICT_HDR {verdict be32, id be32}.
//
// Verdicts may come in any order (jitter reorders packets, as it does on
// real networks), and several verdict messages go to the kernel in one
// write: netlink processes every message of a datagram.
//
// The socket is opened inside the switch namespace (a netlink socket stays
// in the namespace it was created in, whatever thread uses it later), is
// non-blocking and wrapped in an *os.File, so reads wait in Go's poller
// and Close wakes them: stop leaves no goroutine behind.

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	nfqnlMsgPacket  = unix.NFNL_SUBSYS_QUEUE<<8 | 0
	nfqnlMsgVerdict = unix.NFNL_SUBSYS_QUEUE<<8 | 1
	nfqnlMsgConfig  = unix.NFNL_SUBSYS_QUEUE<<8 | 2

	nfqaPacketHdr  = 1 // in NFQNL_MSG_PACKET
	nfqaVerdictHdr = 2 // in NFQNL_MSG_VERDICT

	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3

	nfqnlCfgCmdBind = 1
	nfqnlCopyMeta   = 1

	nfDrop   = 0
	nfAccept = 1

	// Hooks, as reported in NFQA_PACKET_HDR: which rule queued the packet.
	nfInetPreRouting = 0 // -m physdev --physdev-in: from the host
	nfInetForward    = 2 // -m physdev --physdev-out: to the host

	// nfqMaxLen is how many packets the kernel holds for the queue; beyond
	// it, packets are dropped (no FAIL_OPEN: a full buffer loses packets,
	// as a congested switch does, rather than letting them overtake the
	// delayed ones). 50 ms of a veth's full rate would be more, but TCP
	// backs off long before.
	nfqMaxLen = 16384
	// nfqRcvBuf holds notifications not yet read.
	nfqRcvBuf = 8 << 20
	// nfqBatch bounds the verdicts sent in one write.
	nfqBatch = 256
	// verdictLen is one NFQNL_MSG_VERDICT: nlmsghdr, nfgenmsg, one
	// attribute with the 8-byte verdict header.
	verdictLen = unix.NLMSG_HDRLEN + 4 + 4 + 8
)

// liveQueues counts open NFQUEUE sockets of this process, for tests that
// check teardown.
var liveQueues atomic.Int64

// dirDelay is the delay of one direction.
type dirDelay struct {
	delay, jitter time.Duration
}

// pick draws one packet's delay: uniform in delay ± jitter, never negative.
func (d dirDelay) pick(rng *rand.Rand) time.Duration {
	v := d.delay
	if d.jitter > 0 {
		v += time.Duration(rng.Int64N(int64(2*d.jitter)+1)) - d.jitter
	}
	return max(v, 0)
}

// nfQueue is a running consumer of one netfilter queue.
type nfQueue struct {
	num    uint16
	f      *os.File
	fromH  dirDelay // packets queued at PREROUTING (from the host)
	toH    dirDelay // packets queued at FORWARD (to the host)
	wake   chan struct{}
	stopCh chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex // guards pending, flush, rng, wbuf
	pending verdictHeap
	flush   bool // accept everything at once: the impairment is going away
	rng     *rand.Rand
	wbuf    []byte // verdict messages being assembled; used under mu

	// Counters, for tests and messages.
	queued, accepted, errs atomic.Int64

	closeOnce sync.Once
}

// startNFQueue opens a NETLINK_NETFILTER socket in namespace ns, binds it
// to queue num in copy-meta mode and starts the consumer's goroutines.
func startNFQueue(ns string, num uint16, fromH, toH dirDelay) (*nfQueue, error) {
	var fd int
	err := inNetns(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("netlab: NETLINK_NETFILTER socket: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlab: bind netlink socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, nfqRcvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, nfqRcvBuf)
	}
	liveQueues.Add(1)
	q := &nfQueue{
		num:    num,
		f:      os.NewFile(uintptr(fd), fmt.Sprintf("nfqueue-%d", num)),
		fromH:  fromH,
		toH:    toH,
		wake:   make(chan struct{}, 1),
		stopCh: make(chan struct{}),
		rng:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	if err := q.configure(); err != nil {
		q.close()
		return nil, err
	}
	q.wg.Add(2)
	go q.reader()
	go q.releaser()
	return q, nil
}

// configure binds the queue: BIND, then copy-meta and the queue length.
func (q *nfQueue) configure() error {
	cmd := nlAttr(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0})
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, 0) // copy_range: no payload
	params[4] = nfqnlCopyMeta
	maxlen := binary.BigEndian.AppendUint32(nil, nfqMaxLen)
	steps := []struct {
		what  string
		attrs []byte
	}{
		{"bind", cmd},
		{"copy-meta", append(nlAttr(nfqaCfgParams, params), nlAttr(nfqaCfgQueueMaxlen, maxlen)...)},
	}
	for i, s := range steps {
		seq := uint32(i + 1)
		msg := q.message(nil, nfqnlMsgConfig, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq, s.attrs)
		if _, err := q.f.Write(msg); err != nil {
			return fmt.Errorf("netlab: nfqueue %d %s: %w", q.num, s.what, err)
		}
		if err := q.awaitAck(seq); err != nil {
			if errors.Is(err, unix.EBUSY) {
				err = fmt.Errorf("%w (queue %d is taken in the switch namespace)", err, q.num)
			}
			return fmt.Errorf("netlab: nfqueue %d %s: %w", q.num, s.what, err)
		}
	}
	return nil
}

// awaitAck reads until the kernel's answer to message seq arrives.
func (q *nfQueue) awaitAck(seq uint32) error {
	if err := q.f.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	defer q.f.SetReadDeadline(time.Time{})
	buf := make([]byte, 1<<16)
	for {
		n, err := q.f.Read(buf)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NLMSG_ERROR && m.Header.Seq == seq && len(m.Data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return syscall.Errno(-e)
				}
				return nil
			}
		}
	}
}

// message appends one nfnetlink message for the queue to b.
func (q *nfQueue) message(b []byte, typ, flags uint16, seq uint32, attrs []byte) []byte {
	n := unix.NLMSG_HDRLEN + 4 + len(attrs)
	b = binary.NativeEndian.AppendUint32(b, uint32(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // to the kernel
	b = append(b, unix.AF_UNSPEC, 0)           // nfgenmsg: family, version
	b = binary.BigEndian.AppendUint16(b, q.num)
	return append(b, attrs...)
}

// appendVerdict appends an NFQNL_MSG_VERDICT for packet id to b.
func (q *nfQueue) appendVerdict(b []byte, id, verdict uint32) []byte {
	hdr := binary.BigEndian.AppendUint32(nil, verdict)
	hdr = binary.BigEndian.AppendUint32(hdr, id)
	return q.message(b, nfqnlMsgVerdict, unix.NLM_F_REQUEST, 0, nlAttr(nfqaVerdictHdr, hdr))
}

// nlAttr encodes one netlink attribute, padded to 4 bytes.
func nlAttr(typ uint16, payload []byte) []byte {
	n := 4 + len(payload)
	b := binary.NativeEndian.AppendUint16(nil, uint16(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// reader receives packet notifications and schedules their verdicts.
func (q *nfQueue) reader() {
	defer q.wg.Done()
	buf := make([]byte, 1<<16)
	var now []uint32 // ids to accept at once
	for {
		n, err := q.f.Read(buf)
		switch {
		case errors.Is(err, os.ErrClosed):
			return // stopped
		case errors.Is(err, unix.ENOBUFS):
			// Notifications were lost: the kernel dropped those packets
			// (no FAIL_OPEN). Keep going.
			q.errs.Add(1)
			continue
		case err != nil:
			// Not expected; giving up would leave the queued packets
			// stuck in the kernel, so keep trying, gently.
			q.errs.Add(1)
			time.Sleep(time.Millisecond)
			continue
		}
		now = now[:0]
		b := buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			body := b[unix.NLMSG_HDRLEN:l]
			switch typ {
			case nfqnlMsgPacket:
				if id, hook, ok := parsePacketHdr(body); ok {
					q.queued.Add(1)
					if id, ok := q.schedule(id, hook); ok {
						now = append(now, id)
					}
				}
			case unix.NLMSG_ERROR:
				// A verdict the kernel refused (an id it no longer holds).
				if len(body) >= 4 && binary.NativeEndian.Uint32(body) != 0 {
					q.errs.Add(1)
				}
			}
			b = b[min((l+3)&^3, len(b)):]
		}
		if len(now) > 0 {
			q.mu.Lock()
			for _, id := range now {
				q.wbuf = q.appendVerdict(q.wbuf, id, nfAccept)
			}
			q.writeLocked()
			q.mu.Unlock()
		}
	}
}

// parsePacketHdr finds NFQA_PACKET_HDR in an NFQNL_MSG_PACKET body.
func parsePacketHdr(body []byte) (id uint32, hook uint8, ok bool) {
	if len(body) < 4 {
		return 0, 0, false
	}
	a := body[4:] // past nfgenmsg
	for len(a) >= 4 {
		n := int(binary.NativeEndian.Uint16(a[0:2]))
		t := binary.NativeEndian.Uint16(a[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if n < 4 || n > len(a) {
			break
		}
		if t == nfqaPacketHdr && n >= 4+7 {
			return binary.BigEndian.Uint32(a[4:8]), a[10], true
		}
		a = a[min((n+3)&^3, len(a)):]
	}
	return 0, 0, false
}

// schedule files packet id for its verdict; ok means "accept it now".
func (q *nfQueue) schedule(id uint32, hook uint8) (uint32, bool) {
	d := q.fromH
	if hook == nfInetForward {
		d = q.toH
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	wait := d.pick(q.rng)
	if q.flush || wait <= 0 {
		return id, true
	}
	heap.Push(&q.pending, pendingVerdict{due: time.Now().Add(wait), id: id})
	if q.pending[0].id == id {
		select { // a new earliest deadline: re-arm the timer
		case q.wake <- struct{}{}:
		default:
		}
	}
	return 0, false
}

// releaser accepts packets as their delays run out.
func (q *nfQueue) releaser() {
	defer q.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		for len(q.pending) > 0 && (q.flush || !q.pending[0].due.After(now)) {
			v := heap.Pop(&q.pending).(pendingVerdict)
			q.wbuf = q.appendVerdict(q.wbuf, v.id, nfAccept)
			if len(q.wbuf) >= nfqBatch*verdictLen {
				q.writeLocked()
			}
		}
		q.writeLocked()
		next := time.Hour
		if len(q.pending) > 0 {
			next = q.pending[0].due.Sub(now)
		}
		q.mu.Unlock()
		timer.Reset(next)
		select {
		case <-timer.C:
		case <-q.wake:
		case <-q.stopCh:
			return
		}
	}
}

// writeLocked sends the assembled verdicts. Only a closed socket makes it
// fail: the packets then leave with the queue (the kernel drops what a
// vanished consumer held).
func (q *nfQueue) writeLocked() {
	if len(q.wbuf) == 0 {
		return
	}
	n := int64(len(q.wbuf) / verdictLen)
	if _, err := q.f.Write(q.wbuf); err != nil {
		q.errs.Add(1)
	} else {
		q.accepted.Add(n)
	}
	q.wbuf = q.wbuf[:0]
}

// startFlush accepts every held packet at once, and every packet still
// arriving: the rules that feed the queue are gone, and what they queued
// leaves undelayed instead of being dropped with the queue.
func (q *nfQueue) startFlush() {
	q.mu.Lock()
	q.flush = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close stops the goroutines and closes the socket, which unbinds the
// queue (the kernel drops packets it still held). Idempotent.
func (q *nfQueue) close() {
	q.closeOnce.Do(func() {
		close(q.stopCh)
		q.f.Close() // wakes the reader
		q.wg.Wait()
		liveQueues.Add(-1)
	})
}

// pendingVerdict is a packet waiting for its delay to run out.
type pendingVerdict struct {
	due time.Time
	id  uint32
}

// verdictHeap orders pending packets by due time (container/heap).
type verdictHeap []pendingVerdict

func (h verdictHeap) Len() int           { return len(h) }
func (h verdictHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h verdictHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *verdictHeap) Push(x any)        { *h = append(*h, x.(pendingVerdict)) }
func (h *verdictHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// nfQueueStat is a line of /proc/net/netfilter/nfnetlink_queue.
type nfQueueStat struct {
	Num, PortID, Waiting int // Waiting: packets held for a verdict
	Dropped, UserDropped int // queue full; notification not delivered
	IDSequence           int // packets queued so far
}

// nfQueueStats reads the netfilter queues of the current thread's network
// namespace (call it inside inNetns).
func nfQueueStats() (map[int]nfQueueStat, error) {
	b, err := os.ReadFile("/proc/thread-self/net/netfilter/nfnetlink_queue")
	if errors.Is(err, os.ErrNotExist) {
		return map[int]nfQueueStat{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int]nfQueueStat{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		var v [8]int
		for i := range v {
			if v[i], err = strconv.Atoi(f[i]); err != nil {
				return nil, fmt.Errorf("netlab: odd nfnetlink_queue line %q", line)
			}
		}
		// queue_num portid queue_total copy_mode copy_range queue_dropped
		// user_dropped id_sequence
		out[v[0]] = nfQueueStat{Num: v[0], PortID: v[1], Waiting: v[2], Dropped: v[5], UserDropped: v[6], IDSequence: v[7]}
	}
	return out, nil
}
