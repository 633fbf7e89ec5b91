package lanlobby

import (
	"time"
)

// look decides when a one-shot look at the LAN has heard enough. It is
// pure (the caller passes the clock) so its rule is tested without
// sockets.
//
// The rule: every host answers a query within about a millisecond on a
// wired LAN, so the look ends once the LAN has been quiet for Settle after
// the last answer, stretched to SettleFactor times the slowest answer
// measured (a slower LAN gets a longer window). Before any answer it waits
// FirstAnswerWait (an empty LAN, or hosts on power-saving Wi-Fi, whose
// access point may hold multicast for 100-200 ms). MaxWait caps it all. A
// lobby first heard over IPv6 is given addressSettle for the same host's
// IPv4 answer, the address worth showing and dialing.
type look struct {
	start                      time.Time
	settle, firstWait, maxWait time.Duration
	addressSettle              time.Duration
	factor                     float64
	answers                    int
	lastAnswer                 time.Time
	slowest                    time.Duration // latest answer, counted from start
	waitV4                     time.Time     // a lobby heard over IPv6 only until then
	// ended is set once an answer comes after the deadline: the look is
	// over for good, and later announcements (every second or so) do not
	// reopen it.
	ended bool
	endAt time.Time
}

func newLook(cfg Config, start time.Time) *look {
	return &look{start: start, settle: cfg.Settle, firstWait: cfg.FirstAnswerWait, maxWait: cfg.MaxWait,
		factor: cfg.SettleFactor, addressSettle: addressSettle}
}

// heard records an answer (a lobby added or changed) at now; ipv4 says
// whether the lobby's address is IPv4 (else the IPv4 answer may follow).
func (l *look) heard(now time.Time, ipv4, first bool) {
	if l.ended {
		return
	}
	if d := l.deadline(); now.After(d) {
		l.ended, l.endAt = true, d
		return
	}
	l.answers++
	l.lastAnswer = now
	if d := now.Sub(l.start); d > l.slowest {
		l.slowest = d
	}
	if first && !ipv4 {
		if t := now.Add(l.addressSettle); t.After(l.waitV4) {
			l.waitV4 = t
		}
	}
}

// deadline is when the look ends, given what was heard so far.
func (l *look) deadline() time.Time {
	if l.ended {
		return l.endAt
	}
	end := l.start.Add(l.maxWait)
	var want time.Time
	switch {
	case l.answers == 0:
		want = l.start.Add(l.firstWait)
	default:
		quiet := max(l.settle, time.Duration(l.factor*float64(l.slowest)))
		want = l.lastAnswer.Add(quiet)
		if l.waitV4.After(want) {
			want = l.waitV4
		}
	}
	if want.Before(end) {
		return want
	}
	return end
}
