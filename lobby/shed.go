package lobby

import (
	"container/heap"
	"net/netip"
	"slices"
)

// Shedding at the connection cap. A flood of connections that say hello
// (or not even that) and then sit there can fill MaxConns and lock every
// player out. At the cap, before a newcomer is refused, the coordinator
// closes one idle connection that holds no seat, taken from the source
// address with the most connections: the flood pays, a LAN party's
// machines with a few connections each do not, and nobody in a lobby is
// ever shed.

// source is one remote address's connections. Guarded by Server.sessMu.
type source struct {
	ip    netip.Addr
	n     int // open connections
	conns map[*session]struct{}
	pos   int // index in Server.sources
}

// sourceHeap orders sources by connection count, heaviest first.
type sourceHeap []*source

func (h sourceHeap) Len() int           { return len(h) }
func (h sourceHeap) Less(i, j int) bool { return h[i].n > h[j].n }
func (h sourceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *sourceHeap) Push(x any) {
	src := x.(*source)
	src.pos = len(*h)
	*h = append(*h, src)
}
func (h *sourceHeap) Pop() any {
	old := *h
	src := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return src
}

// addLocked records a new connection.
func (s *Server) addLocked(sess *session) {
	s.sessions[sess] = struct{}{}
	src := s.perIP[sess.ip]
	if src == nil {
		src = &source{ip: sess.ip, conns: make(map[*session]struct{})}
		s.perIP[sess.ip] = src
		heap.Push(&s.sources, src)
	}
	src.n++
	src.conns[sess] = struct{}{}
	heap.Fix(&s.sources, src.pos)
}

// forgetLocked removes a connection that closed or is being shed.
func (s *Server) forgetLocked(sess *session) {
	delete(s.sessions, sess)
	src := s.perIP[sess.ip]
	if src == nil {
		return
	}
	delete(src.conns, sess)
	if src.n--; src.n <= 0 {
		heap.Remove(&s.sources, src.pos)
		delete(s.perIP, sess.ip)
		return
	}
	heap.Fix(&s.sources, src.pos)
}

// sheddable reports whether sess may be closed to make room: it holds no
// seat, as far as the state goroutine has said.
func sheddable(sess *session) bool { return !sess.seated.Load() }

// pickShedLocked chooses the connection to shed: one without hello if the
// heaviest source has one, else one without a seat; nil when no
// connection anywhere is idle.
func (s *Server) pickShedLocked() *session {
	if len(s.sources) == 0 {
		return nil
	}
	if sess := pickFrom(s.sources[0]); sess != nil {
		return sess
	}
	// Rare: the heaviest source is all seated members. Try the others,
	// heaviest first.
	rest := slices.Clone(s.sources[1:])
	slices.SortFunc(rest, func(a, b *source) int { return b.n - a.n })
	for _, src := range rest {
		if sess := pickFrom(src); sess != nil {
			return sess
		}
	}
	return nil
}

func pickFrom(src *source) *session {
	var idle *session
	for sess := range src.conns {
		if !sheddable(sess) {
			continue
		}
		if !sess.helloDone.Load() {
			return sess
		}
		if idle == nil {
			idle = sess
		}
	}
	return idle
}
