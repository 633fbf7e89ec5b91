package lobby

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// This file holds the coordinator's read-only view for operators: counters
// kept with atomics on the paths they count (Metrics, no lock and no
// round trip to the state goroutine), a Snapshot of the lobbies and their
// members taken by the state goroutine, and an activity hook. Metrics
// exporters and status pages (package coordhttp) are built on it; none of
// it changes what the coordinator does.

// Limit names a limit that refused a connection or a request, as counted
// in Metrics.Refused.
type Limit uint8

// Limits that refuse work. Their String forms are metric labels.
const (
	LimitMaxConns         Limit = iota // ServerConfig.MaxConns: connection refused
	LimitMaxConnsPerIP                 // ServerConfig.MaxConnsPerIP: connection refused
	LimitRequestRate                   // ServerConfig.RequestRate: request answered rate_limited
	LimitLineLength                    // ServerConfig.MaxLineLength: link closed
	LimitLobbiesPerMember              // ServerConfig.MaxLobbiesPerMember: request refused
	LimitHelloTimeout                  // ServerConfig.HelloTimeout: link closed without hello
	limitCount
)

var limitNames = [limitCount]string{
	LimitMaxConns:         "max_conns",
	LimitMaxConnsPerIP:    "max_conns_per_ip",
	LimitRequestRate:      "request_rate",
	LimitLineLength:       "line_length",
	LimitLobbiesPerMember: "lobbies_per_member",
	LimitHelloTimeout:     "hello_timeout",
}

func (l Limit) String() string {
	if l < limitCount {
		return limitNames[l]
	}
	return "unknown"
}

// RTTBuckets are the upper bounds of the heartbeat round-trip histogram
// (Metrics.RTT): from 100 µs (a wired LAN) to 2.5 s (a member about to
// time out), roughly ×2.5 apart.
var RTTBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond,
}

// RTTHistogram counts heartbeat round trips: Counts[i] is the number of
// round trips of at most RTTBuckets[i] and more than the bucket below
// (not cumulative); Counts[len(RTTBuckets)] those above the last bound.
type RTTHistogram struct {
	Counts [len(RTTBuckets) + 1]uint64
	Count  uint64
	Sum    time.Duration
}

// closeReasons is the size of the per-reason arrays: every
// tcpconn.CloseReason, and room for a few more.
const closeReasons = 16

// Metrics are the coordinator's counters since it started. Every field
// only grows.
type Metrics struct {
	Accepted    uint64 // connections accepted
	Creates     uint64 // lobbies created
	Joins       uint64 // joins by id that took a seat
	QuickJoins  uint64 // quick-joins that took a seat
	Resumes     uint64 // members that took their seat back on a new link
	Restores    uint64 // restore requests (clients bringing lobbies back after a restart)
	Restored    uint64 // lobbies or seats brought back by them
	NoticesSent uint64 // notice frames sent or kept for away members, one per recipient
	// SlowConsumers counts members cut for not reading: links closed as
	// slow_consumer, and away members that missed more notices than their
	// queue holds.
	SlowConsumers uint64
	// LinksClosed counts closed links by their close reason
	// (tcpconn.CloseReason names: disconnected, timeout, slow_consumer, ...).
	LinksClosed map[string]uint64
	// Left counts members leaving a lobby, by reason (left, kicked,
	// timeout, disconnected, ...).
	Left map[Reason]uint64
	// Refused counts connections and requests refused, by the limit that
	// refused them (Limit names).
	Refused map[string]uint64
	// RTT is the heartbeat round-trip histogram of every link.
	RTT RTTHistogram
	// Shed counts idle connections without a lobby closed at the
	// connection cap to admit a new one.
	Shed uint64
	// LineBytes is the memory held now by request lines still arriving
	// (a gauge), LineEvictions the connections closed to keep it under
	// the coordinator's LineBudget.
	LineBytes, LineEvictions uint64
	// TokenFailures and CredentialFailures count resume/restore attempts
	// with a wrong token, and restores without a valid seat or owner
	// credential: guesses, logged at most once a second.
	TokenFailures, CredentialFailures uint64
	// Adopted counts lobbies this coordinator took over from another
	// (takeover.go); Moved those it handed to another (coordinator_moved).
	Adopted, Moved uint64
}

// observer is the Server's part for operators (see the file comment).
type observer struct {
	creates, joins, quickJoins, resumes, restores, restored atomic.Uint64
	notices, slowConsumers                                  atomic.Uint64
	adopted, moved                                          atomic.Uint64
	closed                                                  [closeReasons]atomic.Uint64
	refused                                                 [limitCount]atomic.Uint64
	rttCounts                                               [len(RTTBuckets) + 1]atomic.Uint64
	rttCount, rttSum                                        atomic.Uint64
	left                                                    [len(leftReasons)]atomic.Uint64
	// version counts changes to what Snapshot shows.
	version atomic.Uint64
	// onActivity is set before Serve and only read afterwards.
	onActivity func(Activity)
}

// leftReasons are the reasons counted in Metrics.Left, in a fixed order.
var leftReasons = [...]Reason{ReasonLeft, ReasonKicked, ReasonTimeout, ReasonDisconnected, ReasonSlowConsumer,
	ReasonProtocolError, ReasonShutdown, ReasonOwnerClosed}

func (o *observer) refuse(l Limit) { o.refused[l].Add(1) }

func (o *observer) linkClosed(r tcpconn.CloseReason) {
	if int(r) < closeReasons {
		o.closed[r].Add(1)
	}
	if r == tcpconn.ReasonSlowConsumer {
		o.slowConsumers.Add(1)
	}
}

func (o *observer) rtt(d time.Duration) {
	i, _ := slices.BinarySearch(RTTBuckets[:], d)
	o.rttCounts[i].Add(1)
	o.rttCount.Add(1)
	o.rttSum.Add(uint64(d))
}

func (o *observer) created(l *Lobby) {
	o.creates.Add(1)
	if o.onActivity != nil {
		o.onActivity(Activity{Kind: ActivityCreated, Lobby: l.Info(), Member: l.Members[0]})
	}
}

func (o *observer) joined(quick bool) {
	if quick {
		o.quickJoins.Add(1)
	} else {
		o.joins.Add(1)
	}
}

// notice counts one notice and tells the activity hook.
func (o *observer) notice(n *Notice) {
	if n.Kind == NoticeMemberLeft {
		if i := slices.Index(leftReasons[:], n.Reason); i >= 0 {
			o.left[i].Add(1)
		}
	}
	if o.onActivity != nil {
		o.onActivity(Activity{Kind: n.Kind, Lobby: n.Lobby, Member: n.Member, Reason: n.Reason})
	}
}

// Metrics returns the counters. It reads atomics only: cheap enough to
// call on every scrape, and it never waits for the state goroutine.
func (s *Server) Metrics() Metrics {
	o := &s.obs
	m := Metrics{
		Accepted: uint64(s.accepted.Load()), Creates: o.creates.Load(), Joins: o.joins.Load(), QuickJoins: o.quickJoins.Load(),
		Resumes: o.resumes.Load(), Restores: o.restores.Load(), Restored: o.restored.Load(),
		NoticesSent: o.notices.Load(), SlowConsumers: o.slowConsumers.Load(),
		LinksClosed: make(map[string]uint64), Left: make(map[Reason]uint64), Refused: make(map[string]uint64, limitCount),
	}
	for r := range o.closed {
		if n := o.closed[r].Load(); n > 0 {
			m.LinksClosed[tcpconn.CloseReason(r).String()] = n
		}
	}
	for i, r := range leftReasons {
		m.Left[r] = o.left[i].Load()
	}
	for l := range limitCount {
		m.Refused[l.String()] = o.refused[l].Load()
	}
	for i := range o.rttCounts {
		m.RTT.Counts[i] = o.rttCounts[i].Load()
	}
	m.RTT.Count = o.rttCount.Load()
	m.RTT.Sum = time.Duration(o.rttSum.Load())
	m.Shed = uint64(s.shedCount.Load())
	if s.lines != nil {
		m.LineBytes, m.LineEvictions = uint64(s.lines.Used()), uint64(s.lines.Evicted())
	}
	m.TokenFailures, m.CredentialFailures = uint64(s.guesses.tokens.Load()), uint64(s.guesses.creds.Load())
	m.Adopted, m.Moved = o.adopted.Load(), o.moved.Load()
	return m
}

// Version changes whenever what Snapshot shows changes (a lobby created,
// joined, left, started, closed; a member away or back), so a status page
// can poll it for free and take a Snapshot only when it moved.
func (s *Server) Version() uint64 { return s.obs.version.Load() }

// ActivityCreated is the Activity kind of a lobby just created (it has no
// notice of its own: the owner gets the reply).
const ActivityCreated NoticeKind = "created"

// Activity is something that happened on the coordinator, for an
// operator's log: a lobby created (ActivityCreated) or a notice sent to a
// lobby's members (member_joined, member_left, member_away, member_back,
// owner_changed, started, closed, lobby_updated).
type Activity struct {
	Kind   NoticeKind
	Lobby  Info
	Member Member // the member joining, leaving, away or back
	Reason Reason // member_left, member_away, closed
}

// OnActivity sets a function called with every Activity, in order, from
// the goroutine that owns lobby state: it must not block (hand the
// activity to a bounded queue). Call it before Serve.
func (s *Server) OnActivity(f func(Activity)) {
	if s.serving.Load() {
		panic("lobby: OnActivity after Serve")
	}
	s.obs.onActivity = f
}

// MemberView is a member in a Snapshot.
type MemberView struct {
	Member
	// Away is set while the member's link is down and its seat is kept
	// for the resume grace; AwayReason says why the link dropped.
	Away       bool
	AwayReason Reason
	// RTT is the latest heartbeat round trip of the member's link (0
	// before the first answer, or while away).
	RTT time.Duration
	// Remote is the address the coordinator sees the member's link come
	// from (invalid while away).
	Remote string
}

// LobbyView is a lobby in a Snapshot, with its members in join order.
type LobbyView struct {
	Info
	Members []MemberView
}

// Snapshot is the coordinator's state at one moment, for operators.
type Snapshot struct {
	Taken       time.Time
	Version     uint64 // Server.Version when it was taken
	Connections int    // open links
	Members     int    // member identities, away ones included
	Away        int
	// ByState counts the lobbies in each state (private ones included).
	ByState map[State]int
	// Lobbies are the lobbies, oldest first, at most the max asked for;
	// More is how many were left out.
	Lobbies []LobbyView
	More    int
}

// Snapshot asks the state goroutine for the lobbies and their members,
// at most maxLobbies of them (0: counts only). The state goroutine spends
// O(lobbies) on it: status pages call it when Version moved, not per
// request of the players.
func (s *Server) Snapshot(ctx context.Context, maxLobbies int) (Snapshot, error) {
	snap, err := onLoop(ctx, s, true, func() Snapshot { return s.snapshot(maxLobbies) })
	if err != nil {
		return Snapshot{}, err
	}
	s.sessMu.Lock()
	snap.Connections = len(s.sessions)
	s.sessMu.Unlock()
	return snap, nil
}

// snapshot runs on the state goroutine.
func (s *Server) snapshot(maxLobbies int) Snapshot {
	snap := Snapshot{Taken: time.Now(), Version: s.obs.version.Load(), Members: len(s.members), ByState: make(map[State]int)}
	for _, m := range s.members {
		if m.sess == nil {
			snap.Away++
		}
	}
	ls := make([]*Lobby, 0, len(s.reg.lobbies))
	for _, l := range s.reg.lobbies {
		snap.ByState[l.State]++
		ls = append(ls, l)
	}
	if maxLobbies <= 0 {
		snap.More = len(ls)
		return snap
	}
	slices.SortFunc(ls, func(a, b *Lobby) int { return cmp.Compare(a.created, b.created) })
	if len(ls) > maxLobbies {
		snap.More = len(ls) - maxLobbies
		ls = ls[:maxLobbies]
	}
	snap.Lobbies = make([]LobbyView, len(ls))
	for i, l := range ls {
		v := LobbyView{Info: l.Info(), Members: make([]MemberView, len(l.Members))}
		for k, m := range l.Members {
			mv := MemberView{Member: m}
			if mm := s.members[m.ID]; mm != nil {
				if mm.sess == nil {
					mv.Away, mv.AwayReason = true, mm.awayReason
				} else {
					mv.RTT = mm.sess.conn.RTT()
					mv.Remote = mm.sess.ip.String()
				}
			}
			v.Members[k] = mv
		}
		snap.Lobbies[i] = v
	}
	return snap
}

// Serving reports whether the server takes connections: Serve has
// started and neither Close nor the end of its context has stopped it.
// Readiness probes use it.
func (s *Server) Serving() bool {
	select {
	case <-s.closing:
		return false
	default:
		return s.serving.Load()
	}
}
