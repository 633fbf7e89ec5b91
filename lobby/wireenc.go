package lobby

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Hand-written encoders of the messages on the hot paths (join and
// quick-join replies, notices, hello replies, ok replies and the client's
// requests). encoding/json spends most of a join's time in reflection; these
// append the same bytes directly. Each produces exactly what json.Marshal
// produces for the same value (same field order, omitempty, HTML-safe
// string escaping), which wireenc_test.go checks field by field, so the wire
// does not change. A message with a part they do not cover reports false
// and marshal falls back to encoding/json.

// wireAppender is a message that can encode itself; marshal uses it first.
type wireAppender interface {
	appendJSON(dst []byte) ([]byte, bool)
}

// fastEncoder returns v as a wireAppender when v is exactly one of the
// types with an encoder of their own. A type switch and not an interface
// check: a struct that embeds one of them (a reply made of okReply and
// more fields) would otherwise take its encoder and lose its own fields.
func fastEncoder(v any) wireAppender {
	switch m := v.(type) {
	case joinReply:
		return m
	case *joinReply:
		return m
	case notice:
		return m
	case *notice:
		return m
	case helloReply:
		return m
	case *helloReply:
		return m
	case okReply:
		return m
	case *okReply:
		return m
	case errorReply:
		return m
	case *errorReply:
		return m
	case lobbyState:
		return m
	case *lobbyState:
		return m
	case *request:
		return m
	}
	return nil
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// does by default (HTML-safe: <, > and & as \u003c, \u003e, \u0026;
// U+2028 and U+2029 escaped; invalid UTF-8 as \ufffd).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes a JSON string carries unescaped
// (encoding/json's htmlSafeSet).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendRawID appends a request id as json.Marshal writes a
// json.RawMessage: digits and plain strings as they are, anything else
// compacted and HTML-escaped by encoding/json.
func appendRawID(dst []byte, id json.RawMessage) []byte {
	if len(id) == 0 {
		return append(dst, "null"...)
	}
	if plainRawID(id) {
		return append(dst, id...)
	}
	b, err := json.Marshal(id)
	if err != nil {
		panic("lobby: marshal: " + err.Error())
	}
	return append(dst, b...)
}

// plainRawID reports whether json.Marshal would copy id unchanged: an
// integer, a string of plain printable ASCII, or null.
func plainRawID(id json.RawMessage) bool {
	if string(id) == "null" {
		return true
	}
	if id[0] == '"' {
		if len(id) < 2 || id[len(id)-1] != '"' {
			return false
		}
		for _, c := range id[1 : len(id)-1] {
			if c >= utf8.RuneSelf || !jsonSafe[c] {
				return false
			}
		}
		return true
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func appendMemberJSON(dst []byte, m *Member) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, m.ID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, m.Name)
	dst = append(dst, `,"addr":`...)
	dst = appendJSONString(dst, m.Addr)
	return append(dst, '}')
}

func appendMembersJSON(dst []byte, ms []Member) []byte {
	if ms == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendMemberJSON(dst, &ms[i])
	}
	return append(dst, ']')
}

func appendStringsJSON(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendMetaJSON appends a string map with its keys sorted, as
// encoding/json does.
func appendMetaJSON(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

// field appends ,"name": (or "name": first in an object).
func appendKey(dst []byte, name string) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

func appendStringField(dst []byte, name, v string) []byte {
	return appendJSONString(appendKey(dst, name), v)
}

func appendIntField(dst []byte, name string, v int64) []byte {
	return strconv.AppendInt(appendKey(dst, name), v, 10)
}

func appendBoolField(dst []byte, name string, v bool) []byte {
	return strconv.AppendBool(appendKey(dst, name), v)
}

// appendFields appends the lobby state block's fields, after a '{' or
// after other fields.
func (s *lobbyState) appendFields(dst []byte) []byte {
	dst = appendStringField(dst, "lobby", s.Lobby)
	dst = appendStringField(dst, "game", s.Game)
	dst = appendStringField(dst, "name", s.Name)
	dst = appendIntField(dst, "players", int64(s.Players))
	dst = appendIntField(dst, "capacity", int64(s.Capacity))
	dst = appendStringField(dst, "state", string(s.State))
	dst = appendStringField(dst, "owner", s.Owner)
	dst = appendStringField(dst, "successor", s.Successor)
	if len(s.Meta) > 0 {
		dst = appendMetaJSON(appendKey(dst, "meta"), s.Meta)
	}
	if s.Private {
		dst = appendBoolField(dst, "private", true)
	}
	if s.AutoStart {
		dst = appendBoolField(dst, "auto_start", true)
	}
	ms := &s.matchState
	if ms.Version != "" {
		dst = appendStringField(dst, "version", ms.Version)
	}
	if ms.Reserved != 0 {
		dst = appendIntField(dst, "reserved", int64(ms.Reserved))
	}
	if ms.CreatedMS != 0 {
		dst = appendIntField(dst, "created_ms", ms.CreatedMS)
	}
	if len(ms.Filterable) > 0 {
		dst = appendStringsJSON(appendKey(dst, "filterable"), ms.Filterable)
	}
	ts := &s.takeoverState
	if ts.Term != 0 {
		dst = strconv.AppendUint(appendKey(dst, "term"), uint64(ts.Term), 10)
	}
	if ts.SuccessorAddr != "" {
		dst = appendStringField(dst, "successor_addr", ts.SuccessorAddr)
	}
	return dst
}

func (s lobbyState) appendJSON(dst []byte) ([]byte, bool) {
	dst = append(dst, '{')
	return append(s.appendFields(dst), '}'), true
}

func (c *seatCredentials) appendFields(dst []byte) []byte {
	if c.Credential != "" {
		dst = appendStringField(dst, "credential", c.Credential)
	}
	if c.OwnerCredential != "" {
		dst = appendStringField(dst, "owner_credential", c.OwnerCredential)
	}
	if c.LobbySecret != "" {
		dst = appendStringField(dst, "lobby_secret", c.LobbySecret)
	}
	return dst
}

func (w *wireReservation) appendJSON(dst []byte) []byte {
	if w == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	dst = appendStringField(dst, "id", w.ID)
	if w.Token != "" {
		dst = appendStringField(dst, "token", w.Token)
	}
	if w.Lobby != "" {
		dst = appendStringField(dst, "lobby", w.Lobby)
	}
	if w.Seats != 0 {
		dst = appendIntField(dst, "seats", int64(w.Seats))
	}
	if len(w.Party) > 0 {
		dst = appendStringsJSON(appendKey(dst, "party"), w.Party)
	}
	if w.ExpiresInMS != 0 {
		dst = appendIntField(dst, "expires_in_ms", w.ExpiresInMS)
	}
	if w.Released != 0 {
		dst = appendIntField(dst, "released", int64(w.Released))
	}
	return append(dst, '}')
}

func (m *matchReply) appendFields(dst []byte) []byte {
	if m.Reservation != nil {
		dst = m.Reservation.appendJSON(appendKey(dst, "reservation"))
	}
	if m.Sub != 0 {
		dst = appendIntField(dst, "sub", int64(m.Sub))
	}
	if m.Banned {
		dst = appendBoolField(dst, "banned", true)
	}
	return dst
}

// appendReplyStart appends {"id":<id>,"ok":<ok>.
func appendReplyStart(dst []byte, id json.RawMessage, ok bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendRawID(dst, id)
	if ok {
		return append(dst, `,"ok":true`...)
	}
	return append(dst, `,"ok":false`...)
}

func (r okReply) appendJSON(dst []byte) ([]byte, bool) {
	return append(appendReplyStart(dst, r.ID, r.OK), '}'), true
}

func (r errorReply) appendJSON(dst []byte) ([]byte, bool) {
	dst = append(appendReplyStart(dst, r.ID, r.OK), `,"error":`...)
	if r.Error == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		dst = appendStringField(dst, "code", string(r.Error.Code))
		dst = appendStringField(dst, "message", r.Error.Message)
		dst = append(dst, '}')
	}
	return append(dst, '}'), true
}

func (r joinReply) appendJSON(dst []byte) ([]byte, bool) {
	dst = r.lobbyState.appendFields(appendReplyStart(dst, r.ID, r.OK))
	dst = appendMemberJSON(appendKey(dst, "you"), &r.You)
	dst = appendMembersJSON(appendKey(dst, "peers"), r.Peers)
	dst = appendStringField(dst, "resume", r.Resume)
	dst = r.seatCredentials.appendFields(dst)
	if r.Invite != "" {
		dst = appendStringField(dst, "invite", r.Invite)
	}
	return append(r.matchReply.appendFields(dst), '}'), true
}

func (n notice) appendJSON(dst []byte) ([]byte, bool) {
	dst = append(dst, '{')
	dst = appendStringField(dst, "event", n.Event)
	dst = n.lobbyState.appendFields(dst)
	if n.Member != nil {
		dst = appendMemberJSON(appendKey(dst, "member"), n.Member)
	}
	if n.Reason != "" {
		dst = appendStringField(dst, "reason", string(n.Reason))
	}
	if len(n.Peers) > 0 {
		dst = appendMembersJSON(appendKey(dst, "peers"), n.Peers)
	}
	dst = n.matchReply.appendFields(dst)
	if n.OwnerCredential != "" {
		dst = appendStringField(dst, "owner_credential", n.OwnerCredential)
	}
	return append(dst, '}'), true
}

// appendJSON covers hello replies; resume and restore replies (with
// resumed or restored) go through encoding/json.
func (h helloReply) appendJSON(dst []byte) ([]byte, bool) {
	if h.Resumed != nil || h.Restored != nil {
		return dst, false
	}
	dst = appendReplyStart(dst, h.ID, h.OK)
	dst = appendIntField(dst, "v", int64(h.V))
	dst = appendStringField(dst, "server", h.Server)
	dst = appendMemberJSON(appendKey(dst, "you"), &h.You)
	dst = appendIntField(dst, "heartbeat_ms", h.HeartbeatMS)
	dst = appendIntField(dst, "misses", int64(h.Misses))
	dst = appendIntField(dst, "max_line", int64(h.MaxLine))
	dst = appendStringField(dst, "resume", h.Resume)
	dst = appendIntField(dst, "resume_grace_ms", h.GraceMS)
	dst = appendStringField(dst, "instance", h.Instance)
	if h.Takeover {
		dst = appendBoolField(dst, "takeover", true)
	}
	return append(dst, '}'), true
}

// appendJSON covers the requests a game sends most (hello, join,
// quick-join, create, leave, ping and the like); requests with a filter
// or lobbies to restore go through encoding/json.
func (r *request) appendJSON(dst []byte) ([]byte, bool) {
	if r.Restore != nil || r.Filter != nil {
		return dst, false
	}
	dst = append(dst, '{')
	dst = appendStringField(dst, "op", r.Op)
	if len(r.ID) > 0 {
		dst = appendRawID(appendKey(dst, "id"), r.ID)
	}
	str := func(name, v string) {
		if v != "" {
			dst = appendStringField(dst, name, v)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			dst = appendIntField(dst, name, v)
		}
	}
	num("v", int64(r.V))
	str("client", r.Client)
	str("player", r.Player)
	str("game", r.Game)
	str("name", r.Name)
	num("capacity", int64(r.Capacity))
	num("port", int64(r.Port))
	str("addr", r.Addr)
	str("lobby", r.Lobby)
	str("member", r.Member)
	if len(r.Meta) > 0 {
		dst = appendMetaJSON(appendKey(dst, "meta"), r.Meta)
	}
	if r.Seq != 0 {
		dst = strconv.AppendUint(appendKey(dst, "seq"), r.Seq, 10)
	}
	str("token", r.Token)
	str("password", r.Password)
	if r.Private {
		dst = appendBoolField(dst, "private", true)
	}
	if r.AutoStart {
		dst = appendBoolField(dst, "auto_start", true)
	}
	m := &r.matchRequest
	str("key", m.Key)
	str("version", m.Version)
	if len(m.Filterable) > 0 {
		dst = appendStringsJSON(appendKey(dst, "filterable"), m.Filterable)
	}
	num("seats", int64(m.Seats))
	if len(m.Party) > 0 {
		dst = appendStringsJSON(appendKey(dst, "party"), m.Party)
	}
	str("reservation", m.Reservation)
	num("window_ms", m.WindowMS)
	if m.Ban {
		dst = appendBoolField(dst, "ban", true)
	}
	num("ban_ms", m.BanMS)
	num("sub", int64(m.Sub))
	str("nonce", r.Nonce)
	str("after", r.After)
	num("limit", int64(r.Limit))
	return append(dst, '}'), true
}
