package lobby

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/lanlobby/lanlobby/tcpconn"
)

// List paging (PROTOCOL.md, "list"). A coordinator may hold far more
// lobbies than one 64 KiB line can carry, so a list reply is a page: the
// lobbies that fit, oldest first, and a cursor ("next") to ask for the
// rest. A client that sends a plain list, as older ones do, gets the first
// page: never a line over the limit.
const (
	// listPageBytes bounds one list reply, envelope included, under the
	// frame limit every client accepts.
	listPageBytes = tcpconn.DefaultMaxLineLength - 512
	// MaxListPage is the most lobbies a list page carries (a request's
	// limit above it, or zero, means this many).
	MaxListPage = 500
)

// lobbyOrder keeps a registry's lobbies in creation order, so that a page
// starts with a binary search instead of a sort of every lobby. Closed
// lobbies are skipped, and swept out once they are half of the slice.
type lobbyOrder struct {
	order []*Lobby
	dead  int
}

func (o *lobbyOrder) add(l *Lobby) { o.order = append(o.order, l) }

// dropped notes that a lobby in the order has closed.
func (o *lobbyOrder) dropped(r *Registry) {
	o.dead++
	if o.dead < 64 || 2*o.dead < len(o.order) {
		return
	}
	live := o.order[:0]
	for _, l := range o.order {
		if r.lobbies[l.ID] == l {
			live = append(live, l)
		}
	}
	clear(o.order[len(live):])
	o.order, o.dead = live, 0
}

// ListAfter calls yield with each public lobby of game (every game when
// game is ""), oldest first, starting after the lobby whose Created is
// after (0: from the first), until yield returns false.
func (r *Registry) ListAfter(game string, after uint64, yield func(*Lobby) bool) {
	o := r.byAge.order
	i := sort.Search(len(o), func(i int) bool { return o[i].created > after })
	for ; i < len(o); i++ {
		l := o[i]
		if r.lobbies[l.ID] != l || l.private || game != "" && l.Game != game {
			continue
		}
		if !yield(l) {
			return
		}
	}
}

// Seq is the lobby's place in its registry's creation order: what a
// list page's cursor names.
func (l *Lobby) Seq() uint64 { return l.created }

// listPage encodes one list reply: the lobbies that match (game and
// filter) after the cursor
// until the page is full, and the cursor of the next page when at least
// one more lobby matches.
func (s *Server) listPage(id json.RawMessage, game string, f Filter, after uint64, limit int) []byte {
	if limit <= 0 || limit > MaxListPage {
		limit = MaxListPage
	}
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	b.Write(replyID(id))
	b.WriteString(`,"ok":true,"lobbies":[`)
	n, last, more := 0, uint64(0), false
	// Room for the cursor and the closing brackets.
	budget := listPageBytes - len(`],"next":"18446744073709551615"}`)
	s.reg.ListAfter(game, after, func(l *Lobby) bool {
		info := l.Info()
		if !f.IsZero() && f.Match(info.Candidate()) != Matches {
			return true
		}
		entry := marshal(stateOf(info))
		if n == limit || n > 0 && b.Len()+len(entry)+1 > budget {
			more = true
			return false
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(entry)
		n++
		last = l.created
		return true
	})
	b.WriteByte(']')
	if more {
		b.WriteString(`,"next":"`)
		b.WriteString(strconv.FormatUint(last, 10))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// parseCursor reads a list request's "after" cursor ("" is the start).
func parseCursor(after string) (uint64, error) {
	if after == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(after, 10, 64)
	if err != nil {
		return 0, errorf(CodeBadRequest, "list cursor %q is not one this coordinator gave", after)
	}
	return n, nil
}
