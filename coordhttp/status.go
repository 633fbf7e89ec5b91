package coordhttp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// status serves the snapshot as JSON and as a stream of server-sent
// events.
type status struct {
	srv     *lobby.Server
	cfg     Config
	streams chan struct{} // one token per open stream

	// Streams share snapshots: one per change (and per Poll at most),
	// however many pages are open.
	mu     sync.Mutex // guards last and lastAt, and serialises snapshots
	last   *View
	lastAt time.Time
}

// View is the JSON the status page draws: a lobby.Snapshot with times in
// milliseconds. /api/status returns one; /events sends one per change.
type View struct {
	Name        string         `json:"name,omitempty"`
	Taken       time.Time      `json:"taken"`
	Version     uint64         `json:"version"`
	Connections int            `json:"connections"`
	Members     int            `json:"members"`
	Away        int            `json:"away"`
	ByState     map[string]int `json:"by_state"`
	Lobbies     []LobbyView    `json:"lobbies"`
	More        int            `json:"more"`
}

// LobbyView is a lobby on the status page.
type LobbyView struct {
	ID       string       `json:"id"`
	Game     string       `json:"game"`
	Name     string       `json:"name"`
	State    string       `json:"state"`
	Players  int          `json:"players"`
	Capacity int          `json:"capacity"`
	Owner    string       `json:"owner"`
	Private  bool         `json:"private,omitempty"`
	Members  []MemberView `json:"members"`
}

// MemberView is a member on the status page. State is "here" or "away".
type MemberView struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Addr   string  `json:"addr"`
	Remote string  `json:"remote,omitempty"`
	State  string  `json:"state"`
	Reason string  `json:"reason,omitempty"`
	RTTms  float64 `json:"rtt_ms"`
}

// ViewOf converts a snapshot for the page.
func ViewOf(name string, s lobby.Snapshot) View {
	v := View{Name: name, Taken: s.Taken, Version: s.Version, Connections: s.Connections, Members: s.Members, Away: s.Away,
		ByState: make(map[string]int, len(s.ByState)), Lobbies: make([]LobbyView, 0, len(s.Lobbies)), More: s.More}
	for st, n := range s.ByState {
		v.ByState[string(st)] = n
	}
	for _, l := range s.Lobbies {
		lv := LobbyView{ID: l.ID, Game: l.Game, Name: l.Name, State: string(l.State), Players: l.Players,
			Capacity: l.Capacity, Owner: l.Owner, Private: l.Private, Members: make([]MemberView, 0, len(l.Members))}
		for _, m := range l.Members {
			mv := MemberView{ID: m.ID, Name: m.Name, Addr: m.Addr, Remote: m.Remote, State: "here",
				RTTms: float64(m.RTT.Microseconds()) / 1000}
			if m.Away {
				mv.State, mv.Reason = "away", string(m.AwayReason)
			}
			lv.Members = append(lv.Members, mv)
		}
		v.Lobbies = append(v.Lobbies, lv)
	}
	return v
}

// view returns the current view: the last one taken when the
// coordinator's state has not moved since and it is younger than Poll,
// else a new snapshot.
func (st *status) view(ctx context.Context) (View, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.last != nil && st.last.Version == st.srv.Version() && time.Since(st.lastAt) < st.cfg.Poll {
		return *st.last, nil
	}
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	snap, err := st.srv.Snapshot(ctx, st.cfg.MaxLobbies)
	if err != nil {
		return View{}, err
	}
	v := ViewOf(st.cfg.Name, snap)
	st.last, st.lastAt = &v, time.Now()
	return v, nil
}

func (st *status) serveJSON(w http.ResponseWriter, r *http.Request) {
	v, err := st.view(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// serveEvents streams a "status" event with the whole view at once, again
// within cfg.Poll of every change, and every cfg.Refresh regardless (for
// the round-trip times). Sending the whole view keeps the page stateless:
// a reconnecting EventSource is never out of step.
func (st *status) serveEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case st.streams <- struct{}{}:
		defer func() { <-st.streams }()
	default:
		http.Error(w, "too many status streams open", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	poll := time.NewTicker(st.cfg.Poll)
	defer poll.Stop()
	var sent uint64
	var last time.Time
	for first := true; ; first = false {
		if first || st.srv.Version() != sent || time.Since(last) >= st.cfg.Refresh {
			v, err := st.view(r.Context())
			if err != nil {
				return // the coordinator stopped, or the client left
			}
			b, _ := json.Marshal(v)
			rc.SetWriteDeadline(time.Now().Add(scrapeTimeout))
			if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			sent, last = v.Version, time.Now()
		}
		select {
		case <-poll.C:
		case <-r.Context().Done():
			return
		}
	}
}
