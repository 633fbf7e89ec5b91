package lobby

import (
	"math"
	"strconv"
	"time"
)

// The wire form of matchmaking (PROTOCOL.md): filters, game versions,
// parties and reservations, bans and subscriptions.

// Request ops of matchmaking. Their values are the wire names.
const (
	OpReserve     = "reserve"
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
)

// Subscription events: a lobby began to match a subscription (or is in its
// snapshot), changed while matching, or no longer matches (it closed,
// filled past the filter, changed its metadata...). lobby_updated is
// NoticeUpdated's name, told apart by its "sub" field.
const (
	EventLobbyAdded   NoticeKind = "lobby_added"
	EventLobbyRemoved NoticeKind = "lobby_removed"
	// EventUnsubscribed: the coordinator ended a subscription (Reason
	// slow_consumer: its output backed up past the limit). The Go client
	// subscribes again by itself.
	EventUnsubscribed NoticeKind = "unsubscribed"
	// EventSynced follows a subscription's snapshot: every lobby that
	// matched when it was made has been told (lobby_added).
	EventSynced NoticeKind = "synced"
)

// matchRequest holds the request fields of matchmaking; request embeds it.
type matchRequest struct {
	Key         string      `json:"key,omitempty"`         // hello, restore: the stable player key
	Version     string      `json:"version,omitempty"`     // create: the game version
	Filterable  []string    `json:"filterable,omitempty"`  // create: metadata keys to advertise on the LAN
	Filter      *wireFilter `json:"filter,omitempty"`      // list, join, quick_join, subscribe
	Seats       int         `json:"seats,omitempty"`       // join, quick_join, reserve
	Party       []string    `json:"party,omitempty"`       // join, quick_join, reserve: player keys the seats are held for
	Reservation string      `json:"reservation,omitempty"` // join: claim a reserved seat with this token
	WindowMS    int64       `json:"window_ms,omitempty"`   // reserve: how long the seats are held
	Ban         bool        `json:"ban,omitempty"`         // kick: ban the member too
	BanMS       int64       `json:"ban_ms,omitempty"`      // kick: for this long (0: until the lobby closes)
	Sub         int         `json:"sub,omitempty"`         // unsubscribe
}

// wireFilter is a Filter on the wire; an absent bound of a range is open.
type wireFilter struct {
	Version     string            `json:"version,omitempty"`
	VersionRule VersionRule       `json:"version_rule,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	Ranges      []wireRange       `json:"ranges,omitempty"`
	Free        int               `json:"free,omitempty"`
}

type wireRange struct {
	Key string   `json:"key"`
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

func (w *wireFilter) filter() Filter {
	if w == nil {
		return Filter{}
	}
	f := Filter{Version: w.Version, VersionRule: w.VersionRule, Meta: w.Meta, Free: w.Free}
	for _, r := range w.Ranges {
		fr := Range{Key: r.Key, Min: math.Inf(-1), Max: math.Inf(1)}
		if r.Min != nil {
			fr.Min = *r.Min
		}
		if r.Max != nil {
			fr.Max = *r.Max
		}
		f.Ranges = append(f.Ranges, fr)
	}
	return f
}

func filterWire(f Filter) *wireFilter {
	if f.IsZero() && f.VersionRule == "" {
		return nil
	}
	w := &wireFilter{Version: f.Version, VersionRule: f.VersionRule, Meta: f.Meta, Free: f.Free}
	for _, r := range f.Ranges {
		wr := wireRange{Key: r.Key}
		if !math.IsInf(r.Min, -1) {
			wr.Min = &r.Min
		}
		if !math.IsInf(r.Max, 1) {
			wr.Max = &r.Max
		}
		w.Ranges = append(w.Ranges, wr)
	}
	return w
}

// joinSpec is what a join or quick-join request asks of the registry.
func (s *Server) joinSpec(req *request) JoinSpec {
	return JoinSpec{Password: req.Password, Filter: req.Filter.filter(), Seats: req.Seats, Party: req.Party,
		Ticket: req.Reservation, Window: s.cfg.ReservationWindow}
}

// matchState holds the lobby state block's matchmaking fields; lobbyState
// embeds it.
type matchState struct {
	Version    string   `json:"version,omitempty"`
	Reserved   int      `json:"reserved,omitempty"`
	CreatedMS  int64    `json:"created_ms,omitempty"` // when the lobby was made, ms since 1970 UTC
	Filterable []string `json:"filterable,omitempty"`
}

func matchStateOf(i Info) matchState {
	ms := matchState{Version: i.Version, Reserved: i.Reserved, Filterable: i.Filterable}
	if !i.Created.IsZero() {
		ms.CreatedMS = i.Created.UnixMilli()
	}
	return ms
}

func (ms matchState) fill(i *Info) {
	i.Version, i.Reserved, i.Filterable = ms.Version, ms.Reserved, ms.Filterable
	if ms.CreatedMS != 0 {
		i.Created = time.UnixMilli(ms.CreatedMS)
	}
}

// wireReservation is a Reservation on the wire: in full (token included)
// in the answer to whoever made it, id and released seats only in
// reservation_expired.
type wireReservation struct {
	ID          string   `json:"id"`
	Token       string   `json:"token,omitempty"`
	Lobby       string   `json:"lobby,omitempty"`
	Seats       int      `json:"seats,omitempty"`
	Party       []string `json:"party,omitempty"`
	ExpiresInMS int64    `json:"expires_in_ms,omitempty"`
	Released    int      `json:"released,omitempty"`
}

func reservationWire(r *Reservation, now time.Time) *wireReservation {
	if r == nil {
		return nil
	}
	return &wireReservation{ID: r.ID, Token: r.Token, Lobby: r.Lobby, Seats: r.Seats, Party: r.Party,
		ExpiresInMS: max(r.Expires.Sub(now).Milliseconds(), 1)}
}

func (w *wireReservation) reservation(now time.Time) *Reservation {
	if w == nil {
		return nil
	}
	return &Reservation{ID: w.ID, Token: w.Token, Lobby: w.Lobby, Seats: w.Seats, Party: w.Party,
		Expires: now.Add(time.Duration(w.ExpiresInMS) * time.Millisecond)}
}

// matchReply holds the reply and push fields of matchmaking; inbound,
// joinReply and notice embed it.
type matchReply struct {
	Reservation *wireReservation `json:"reservation,omitempty"` // join reply, reserve reply, reservation_expired
	Sub         int              `json:"sub,omitempty"`         // subscribe reply, subscription events
	Banned      bool             `json:"banned,omitempty"`      // member_left of a kick with a ban
}

// appendSubEvent builds a subscription event by hand around a JSON object
// (a lobby state block encoded once for all its recipients, or {}):
// {"event":kind,"sub":N,<the object's fields>}.
func appendSubEvent(dst []byte, kind NoticeKind, sub int, fields []byte) []byte {
	dst = append(dst, `{"event":"`...)
	dst = append(dst, kind...)
	dst = append(dst, `","sub":`...)
	dst = strconv.AppendInt(dst, int64(sub), 10)
	if len(fields) <= 2 {
		return append(dst, '}')
	}
	dst = append(dst, ',')
	return append(dst, fields[1:]...)
}
