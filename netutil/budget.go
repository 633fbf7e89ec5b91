package netutil

import (
	"net/netip"
	"time"
)

// Limits of an AnswerBudget's state.
const (
	// MaxBudgetSources bounds the source addresses an AnswerBudget tracks
	// (about 80 bytes each): idle ones are forgotten to make room, and
	// while all are busy new sources get nothing.
	MaxBudgetSources = 1024
	// maxBudgetIfaces bounds the interfaces it tracks.
	maxBudgetIfaces = 64
	// AnswerBurst is how many seconds' worth of its rate a budget holds
	// when idle: a querier asking for the first time gets up to that much
	// at once (a full answer and its follow-ups).
	AnswerBurst = 2
)

// AnswerRates are the rates of an AnswerBudget, per second.
type AnswerRates struct {
	// PerSource is the bytes (IP datagrams, headers included) one source
	// address may be sent.
	PerSource float64
	// PerInterface and PacketsPerInterface are the bytes and datagrams
	// one interface may send in all.
	PerInterface, PacketsPerInterface float64
}

// Binding says which budget limits an answer.
type Binding uint8

// Bindings.
const (
	BySource    Binding = iota + 1 // the source address's bytes
	ByInterface                    // the interface's bytes or datagrams
)

// AnswerBudget bounds what a responder sends by unicast in answer to
// queries whose source address it cannot verify (anyone on the LAN can
// forge it): bytes per source address (not per port: a forger changes
// ports at will), and bytes and datagrams per interface in all, so that
// neither one target nor the LAN as a whole can be flooded through the
// responder, and the kernel's resources for sending (the socket buffer,
// the neighbour table every new destination takes an entry of) stay
// bounded. Token buckets, refilled at the rates up to AnswerBurst seconds'
// worth. Its state is bounded (MaxBudgetSources). Pure (time is passed
// in); not safe for concurrent use. The beacon advertiser and the mDNS
// responder both use it.
type AnswerBudget struct {
	rates   AnswerRates
	sources map[netip.Addr]*bucket
	ifaces  map[int]*ifaceBuckets
}

type ifaceBuckets struct{ bytes, packets bucket }

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// available refills b for the time since its last use and returns what
// it holds. A bucket never used is full.
func (b *bucket) available(now time.Time, rate, burst float64) float64 {
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
	}
	b.last = now
	return b.tokens
}

// full reports whether b would be full at now: its state can be
// forgotten without giving anything away.
func (b *bucket) full(now time.Time, rate, burst float64) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= burst
}

// NewAnswerBudget returns a budget with the rates.
func NewAnswerBudget(r AnswerRates) *AnswerBudget {
	return &AnswerBudget{rates: r, sources: make(map[netip.Addr]*bucket), ifaces: make(map[int]*ifaceBuckets)}
}

// Allowance returns how many bytes (IP datagrams, headers included) and
// datagrams may be sent to src, a querier on interface ifIndex, at now,
// and which budget binds: the one that allows fewer bytes, or the
// interface when it allows no datagram.
func (b *AnswerBudget) Allowance(now time.Time, src netip.Addr, ifIndex int) (bytes, packets int, binding Binding) {
	s := b.source(now, src)
	if s == nil {
		return 0, 0, BySource
	}
	i := b.iface(ifIndex)
	if i == nil {
		return 0, 0, ByInterface
	}
	r := b.rates
	sb := s.available(now, r.PerSource, AnswerBurst*r.PerSource)
	ib := i.bytes.available(now, r.PerInterface, AnswerBurst*r.PerInterface)
	ip := i.packets.available(now, r.PacketsPerInterface, AnswerBurst*r.PacketsPerInterface)
	switch {
	case ip < 1:
		return 0, 0, ByInterface
	case sb < ib:
		return int(sb), int(ip), BySource
	}
	return int(ib), int(ip), ByInterface
}

// Spend charges an answer of bytes in packets datagrams to src and
// ifIndex (Allowance was called at the same time).
func (b *AnswerBudget) Spend(src netip.Addr, ifIndex, bytes, packets int) {
	if s := b.sources[src.WithZone("")]; s != nil {
		s.tokens -= float64(bytes)
	}
	if i := b.ifaces[ifIndex]; i != nil {
		i.bytes.tokens -= float64(bytes)
		i.packets.tokens -= float64(packets)
	}
}

// Sources returns how many source addresses are tracked.
func (b *AnswerBudget) Sources() int { return len(b.sources) }

// source returns src's bucket, making room for a new one by forgetting
// idle ones; nil when MaxBudgetSources busy sources are tracked.
func (b *AnswerBudget) source(now time.Time, src netip.Addr) *bucket {
	src = src.WithZone("")
	if s := b.sources[src]; s != nil {
		return s
	}
	if len(b.sources) >= MaxBudgetSources {
		rate, burst := b.rates.PerSource, AnswerBurst*b.rates.PerSource
		for a, s := range b.sources {
			if s.full(now, rate, burst) {
				delete(b.sources, a)
			}
		}
		if len(b.sources) >= MaxBudgetSources {
			return nil
		}
	}
	s := &bucket{}
	b.sources[src] = s
	return s
}

func (b *AnswerBudget) iface(ifIndex int) *ifaceBuckets {
	if i := b.ifaces[ifIndex]; i != nil {
		return i
	}
	if len(b.ifaces) >= maxBudgetIfaces {
		return nil
	}
	i := &ifaceBuckets{}
	b.ifaces[ifIndex] = i
	return i
}
