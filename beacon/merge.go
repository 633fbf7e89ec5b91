package beacon

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// merger combines the lobby views of several sources by lobby id: a lobby
// is present while any source has it, and the view shown is the one of
// the highest term, then the one heard of most recently (ties go to the
// earlier source). It is pure and not safe
// for concurrent use.
type merger struct {
	lobbies map[string]*merged
}

type merged struct {
	views    map[int]LobbyInfo // by source index
	shown    LobbyInfo
	shownSrc int // the source whose view is shown
}

func newMerger() *merger { return &merger{lobbies: make(map[string]*merged)} }

// apply takes one event of source src and returns the merged event, if
// the merged view changed.
func (m *merger) apply(src int, ev Event) (Event, bool) {
	id := ev.Lobby.ID
	e := m.lobbies[id]
	if ev.Type == Removed {
		if e == nil {
			return Event{}, false
		}
		delete(e.views, src)
		return m.settle(id, e)
	}
	if e == nil {
		e = &merged{views: make(map[int]LobbyInfo)}
		m.lobbies[id] = e
	}
	e.views[src] = ev.Lobby
	return m.settle(id, e)
}

// removeSource forgets everything source src reported (it stopped) and
// returns the resulting events.
func (m *merger) removeSource(src int) []Event {
	var evs []Event
	ids := make([]string, 0, len(m.lobbies))
	for id := range m.lobbies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := m.lobbies[id]
		if _, ok := e.views[src]; !ok {
			continue
		}
		delete(e.views, src)
		if ev, ok := m.settle(id, e); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

// settle recomputes the shown view of id after its views changed.
func (m *merger) settle(id string, e *merged) (Event, bool) {
	if len(e.views) == 0 {
		delete(m.lobbies, id)
		if e.shown.ID == "" {
			return Event{}, false
		}
		return Event{Type: Removed, Lobby: e.shown}, true
	}
	best, bestSrc := LobbyInfo{}, -1
	for src, v := range e.views {
		// The highest term first (the coordinator that holds the lobby
		// now), then the view heard of most recently.
		if bestSrc < 0 || v.Term > best.Term ||
			v.Term == best.Term && (v.Seen.After(best.Seen) || (v.Seen.Equal(best.Seen) && src < bestSrc)) {
			best, bestSrc = v, src
		}
	}
	old := e.shown
	_, shownLive := e.views[e.shownSrc]
	if old.ID != "" && bestSrc != e.shownSrc && shownLive && old.sameLobby(best) {
		// Another source says the same about the lobby: keep showing the
		// current source's view, so a lobby heard both ways does not
		// flip between them (and their addresses) with every packet.
		e.shown.Seen = best.Seen
		return Event{}, false
	}
	e.shown, e.shownSrc = best, bestSrc
	switch {
	case old.ID == "":
		return Event{Type: Added, Lobby: best}, true
	case !old.sameContent(best) && !(old.sameLobby(best) && old.Host == best.Host):
		return Event{Type: Updated, Lobby: best}, true
	}
	return Event{}, false
}

// snapshot returns the merged lobbies sorted by id.
func (m *merger) snapshot() []LobbyInfo {
	out := make([]LobbyInfo, 0, len(m.lobbies))
	for _, e := range m.lobbies {
		out = append(out, e.shown)
	}
	slices.SortFunc(out, func(a, b LobbyInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Merge is a Source combining other sources (the beacon Browser, an mDNS
// browser) by lobby id: a lobby is Added when the first source reports it,
// Updated when the view heard of most recently changes, and Removed when
// the last source drops it. A source whose channel closes counts as having
// dropped all its lobbies. The caller runs the sources; Merge only reads
// their events.
type Merge struct {
	sources []Source
	events  chan Event
	life    RunOnce

	mergerMu sync.Mutex // guards m
	m        *merger
}

// NewMerge returns a Merge of sources; Run it to start.
func NewMerge(sources ...Source) *Merge {
	return &Merge{sources: slices.Clone(sources), events: make(chan Event), m: newMerger()}
}

// Events returns the merged events; it is closed when Run returns.
func (m *Merge) Events() <-chan Event { return m.events }

// Lobbies returns the merged lobbies now, sorted by id.
func (m *Merge) Lobbies() []LobbyInfo {
	m.mergerMu.Lock()
	defer m.mergerMu.Unlock()
	return m.m.snapshot()
}

// Close stops Run and waits for it. It is idempotent.
func (m *Merge) Close() error {
	m.life.Close()
	return nil
}

type tagged struct {
	src    int
	ev     Event
	closed bool
}

// Run merges until ctx is cancelled or Close is called, or until every
// source has closed and the last events were delivered. It never blocks a
// source on a slow consumer (events are coalesced per lobby id).
func (m *Merge) Run(ctx context.Context) error {
	ctx, finish, err := m.life.Start(ctx)
	if err != nil {
		return err
	}
	defer finish()
	defer close(m.events)

	in := make(chan tagged)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, s := range m.sources {
		wg.Add(1)
		go forward(ctx, &wg, i, s.Events(), in)
	}

	q := newCoalescer(2*DefaultMaxLobbies + 64)
	open := len(m.sources)
	for {
		if open == 0 && q.len() == 0 {
			return nil
		}
		var out chan Event
		next, ok := q.peek()
		if ok {
			out = m.events
		}
		select {
		case <-ctx.Done():
			return nil
		case t := <-in:
			m.mergerMu.Lock()
			if t.closed {
				open--
				for _, ev := range m.m.removeSource(t.src) {
					q.push(ev)
				}
			} else if ev, ok := m.m.apply(t.src, t.ev); ok {
				q.push(ev)
			}
			m.mergerMu.Unlock()
		case out <- next:
			q.pop()
		}
	}
}

// forward moves one source's events into in, tagged, and reports when the
// source closes.
func forward(ctx context.Context, wg *sync.WaitGroup, src int, from <-chan Event, in chan<- tagged) {
	defer wg.Done()
	for {
		var t tagged
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-from:
			t = tagged{src: src, ev: ev, closed: !ok}
		}
		select {
		case <-ctx.Done():
			return
		case in <- t:
		}
		if t.closed {
			return
		}
	}
}
