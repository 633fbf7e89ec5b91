package beacon

import (
	"net/netip"
	"time"
)

const (
	// maxQueriers bounds the source addresses the answer limits track
	// (about 80 bytes each).
	maxQueriers = 1024
	// maxAnswerIfaces bounds the interfaces they track.
	maxAnswerIfaces = 64
	// answerBurst is how much of a rate a bucket holds when idle: a
	// querier asking for the first time gets up to two seconds' worth
	// at once (a full answer and its follow-ups).
	answerBurst = 2
)

// tokenBucket is a rate limit: tokens accrue at rate per second up to
// burst, and are spent. Pure (time is passed in).
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// available refills the bucket for the time since its last use and
// returns what it holds. A bucket never used is full.
func (b *tokenBucket) available(now time.Time, rate, burst float64) float64 {
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
	}
	b.last = now
	return b.tokens
}

// full reports whether the bucket would be full at now: its state can
// be forgotten without giving anything away.
func (b *tokenBucket) full(now time.Time, rate, burst float64) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= burst
}

// answerLimits are the rates of an answerLimiter (AdvertiserConfig).
type answerLimits struct {
	perSource, perIface, packetsPerIface float64 // per second
}

// answerLimiter holds the budgets of unicast answers: bytes per source
// address (not per port: a forger changes ports at will), and bytes and
// datagrams per interface in total, so that neither one target nor the
// LAN as a whole can be flooded through us, and the kernel's resources
// for sending (the socket buffer, the neighbour table that every new
// destination takes an entry of) stay within bounds. Its state is bounded:
// maxQueriers sources (idle ones are forgotten; while all are busy, new
// sources get nothing) and maxAnswerIfaces interfaces. Pure (time is
// passed in); not safe for concurrent use.
type answerLimiter struct {
	lim     answerLimits
	sources map[netip.Addr]*tokenBucket
	ifaces  map[int]*ifaceBudget
}

type ifaceBudget struct{ bytes, packets tokenBucket }

func newAnswerLimiter(lim answerLimits) *answerLimiter {
	return &answerLimiter{lim: lim, sources: make(map[netip.Addr]*tokenBucket), ifaces: make(map[int]*ifaceBudget)}
}

// refusal says which budget refused an answer.
type refusal uint8

const (
	bySource    refusal = iota + 1 // the source's bytes are spent
	byInterface                    // the interface's bytes or datagrams are spent
)

// allowance returns how many bytes (IP datagrams, headers included) and
// datagrams may be sent to src, a querier on interface ifIndex, at now,
// and which budget binds: the one that allows fewer bytes, or the
// interface when it allows no datagram.
func (l *answerLimiter) allowance(now time.Time, src netip.Addr, ifIndex int) (bytes, packets int, binding refusal) {
	s := l.source(now, src)
	if s == nil {
		return 0, 0, bySource
	}
	i := l.iface(ifIndex)
	if i == nil {
		return 0, 0, byInterface
	}
	sb := s.available(now, l.lim.perSource, answerBurst*l.lim.perSource)
	ib := i.bytes.available(now, l.lim.perIface, answerBurst*l.lim.perIface)
	ip := i.packets.available(now, l.lim.packetsPerIface, answerBurst*l.lim.packetsPerIface)
	switch {
	case ip < 1:
		return 0, 0, byInterface
	case sb < ib:
		return int(sb), int(ip), bySource
	}
	return int(ib), int(ip), byInterface
}

// spend charges an answer of bytes in packets datagrams to src and ifIndex
// (allowance was called at the same now).
func (l *answerLimiter) spend(src netip.Addr, ifIndex, bytes, packets int) {
	if s := l.sources[src]; s != nil {
		s.tokens -= float64(bytes)
	}
	if i := l.ifaces[ifIndex]; i != nil {
		i.bytes.tokens -= float64(bytes)
		i.packets.tokens -= float64(packets)
	}
}

// source returns src's bucket, making room for a new one by forgetting
// full (idle) ones; nil when maxQueriers busy sources are tracked.
func (l *answerLimiter) source(now time.Time, src netip.Addr) *tokenBucket {
	if b := l.sources[src]; b != nil {
		return b
	}
	if len(l.sources) >= maxQueriers {
		rate, burst := l.lim.perSource, answerBurst*l.lim.perSource
		for a, b := range l.sources {
			if b.full(now, rate, burst) {
				delete(l.sources, a)
			}
		}
		if len(l.sources) >= maxQueriers {
			return nil
		}
	}
	b := &tokenBucket{}
	l.sources[src] = b
	return b
}

func (l *answerLimiter) iface(ifIndex int) *ifaceBudget {
	if b := l.ifaces[ifIndex]; b != nil {
		return b
	}
	if len(l.ifaces) >= maxAnswerIfaces {
		return nil
	}
	b := &ifaceBudget{}
	l.ifaces[ifIndex] = b
	return b
}
