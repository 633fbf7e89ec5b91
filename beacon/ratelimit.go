package beacon

import (
	"net/netip"
	"time"
)

// maxQueriers bounds the per-source state of the answer rate limit.
const maxQueriers = 1024

// rateLimiter allows one answer per source per interval, so a flood of
// queries cannot make an advertiser amplify traffic. When it tracks
// maxQueriers sources that all answered within the interval, new sources
// are refused too: a flood of forged sources cannot grow it without bound.
// Pure (time is passed in); not safe for concurrent use.
type rateLimiter struct {
	interval time.Duration
	last     map[netip.AddrPort]time.Time
}

func newRateLimiter(interval time.Duration) *rateLimiter {
	return &rateLimiter{interval: interval, last: make(map[netip.AddrPort]time.Time)}
}

// allow reports whether src may get an answer at now, and if so records it.
func (r *rateLimiter) allow(now time.Time, src netip.AddrPort) bool {
	if t, ok := r.last[src]; ok && now.Sub(t) < r.interval {
		return false
	}
	if _, ok := r.last[src]; !ok && len(r.last) >= maxQueriers {
		for s, t := range r.last {
			if now.Sub(t) >= r.interval {
				delete(r.last, s)
			}
		}
		if len(r.last) >= maxQueriers {
			return false
		}
	}
	r.last[src] = now
	return true
}
