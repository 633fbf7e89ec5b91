package lobby

import (
	"encoding/json"
	"math"
	"unicode/utf8"
)

// Fast decoders of the messages on the hot paths: the coordinator's
// requests and the client's view of replies and notices. They read the
// common shapes (known keys, plain strings, integers, the member and lobby
// blocks) without reflection, and give up on anything else, whereupon the
// caller decodes with encoding/json: a key they do not know (a field added
// later, another spelling encoding/json would fold to a known one), a
// repeated key, a string with an escape, a number with a fraction, a value
// of another type, or bad JSON. So the result is always what
// encoding/json gives; wiredec_test.go checks that they agree on every
// message the fast path takes (and FuzzWireDecode on arbitrary input).

// decodeRequest decodes a request line, by the fast path when it can.
func decodeRequest(line []byte, req *request) error {
	if decodeRequestFast(line, req) {
		return nil
	}
	*req = request{}
	return json.Unmarshal(line, req)
}

// decodeInbound decodes a coordinator message, by the fast path when it
// can.
func decodeInbound(line []byte, in *inbound) error {
	if decodeInboundFast(line, in) {
		return nil
	}
	*in = inbound{}
	return json.Unmarshal(line, in)
}

// jsonScan is a cursor over one JSON text.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace (0 at the end).
func (s *jsonScan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *jsonScan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// null consumes a null literal if one is next.
func (s *jsonScan) null() bool {
	if s.peek() == 'n' && len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// plain reads a string without escapes and returns its bytes (valid only
// as long as the input).
func (s *jsonScan) plain() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.i + 1
	high := false
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '"':
			v := s.b[start:j]
			if high && !utf8.Valid(v) {
				return nil, false
			}
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return nil, false
}

// str reads a string field's value: a plain string, or null (which leaves
// the field as it was, as encoding/json does).
func (s *jsonScan) str(dst *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.plain()
	if ok {
		*dst = string(v)
	}
	return ok
}

// digits reads an integer literal -?(0|[1-9][0-9]*) of at most 18 digits
// not followed by a fraction or exponent.
func (s *jsonScan) digits() (n int64, neg, ok bool) {
	s.ws()
	i := s.i
	if i < len(s.b) && s.b[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
		n = n*10 + int64(s.b[i]-'0')
		i++
	}
	d := i - start
	if d == 0 || d > 18 || d > 1 && s.b[start] == '0' {
		return 0, false, false
	}
	if i < len(s.b) {
		if c := s.b[i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false, false
		}
	}
	s.i = i
	if neg {
		n = -n
	}
	return n, neg, true
}

func (s *jsonScan) int(dst *int) bool {
	if s.null() {
		return true
	}
	n, _, ok := s.digits()
	if ok {
		*dst = int(n)
	}
	return ok
}

func (s *jsonScan) int64(dst *int64) bool {
	if s.null() {
		return true
	}
	n, _, ok := s.digits()
	if ok {
		*dst = n
	}
	return ok
}

func (s *jsonScan) uint64(dst *uint64) bool {
	if s.null() {
		return true
	}
	n, neg, ok := s.digits()
	if ok && !neg {
		*dst = uint64(n)
		return true
	}
	return false
}

func (s *jsonScan) uint32(dst *uint32) bool {
	if s.null() {
		return true
	}
	n, neg, ok := s.digits()
	if ok && !neg && n <= math.MaxUint32 {
		*dst = uint32(n)
		return true
	}
	return false // encoding/json's error for the overflow
}

func (s *jsonScan) bool(dst *bool) bool {
	if s.null() {
		return true
	}
	switch {
	case s.peek() == 't' && len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		*dst = true
		s.i += 4
	case s.peek() == 'f' && len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		*dst = false
		s.i += 5
	default:
		return false
	}
	return true
}

// raw reads a request id: a string (escapes allowed), a number, or a
// literal, and keeps a copy of it as encoding/json keeps a
// json.RawMessage. Arrays and objects are left to encoding/json.
func (s *jsonScan) raw(dst *json.RawMessage) bool {
	s.ws()
	start := s.i
	switch c := s.peek(); {
	case c == '"':
		if !s.escapedString() {
			return false
		}
	case c == '-' || c >= '0' && c <= '9':
		if !s.number() {
			return false
		}
	case c == 't' || c == 'f':
		var b bool
		if !s.bool(&b) {
			return false
		}
	case c == 'n':
		if !s.null() {
			return false
		}
	default:
		return false
	}
	*dst = append(json.RawMessage(nil), s.b[start:s.i]...)
	return true
}

// escapedString checks a string whose escapes are well formed.
func (s *jsonScan) escapedString() bool {
	j := s.i + 1
	for j < len(s.b) {
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if j+1 >= len(s.b) {
				return false
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[j+2 : j+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				j += 6
			default:
				return false
			}
		default:
			j++
		}
	}
	return false
}

// number checks a JSON number of any form.
func (s *jsonScan) number() bool {
	i := s.i
	digits := func() int {
		start := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	start := i
	if n := digits(); n == 0 || n > 1 && s.b[start] == '0' {
		return false
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}

// object reads {"key": value, ...}, calling field for each key with the
// cursor on the value; field returns false to give up.
func (s *jsonScan) object(field func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	for {
		key, ok := s.plain()
		if !ok || !s.eat(':') || !field(key) {
			return false
		}
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// array reads [value, ...], calling elem with the cursor on each value.
func (s *jsonScan) array(elem func() bool) bool {
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.eat(']') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

func (s *jsonScan) strings(dst *[]string) bool {
	if s.null() {
		return true
	}
	out := []string{}
	ok := s.array(func() bool {
		var v string
		if s.null() {
			out = append(out, "")
			return true
		}
		if !s.str(&v) {
			return false
		}
		out = append(out, v)
		return true
	})
	if ok {
		*dst = out
	}
	return ok
}

func (s *jsonScan) meta(dst *map[string]string) bool {
	if s.null() {
		return true
	}
	m := map[string]string{}
	ok := s.object(func(key []byte) bool {
		var v string
		if !s.str(&v) {
			return false
		}
		m[string(key)] = v
		return true
	})
	if ok {
		*dst = m
	}
	return ok
}

func (s *jsonScan) member(m *Member) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.str(&m.ID)
		case "name":
			return s.str(&m.Name)
		case "addr":
			return s.str(&m.Addr)
		}
		return false
	})
}

func (s *jsonScan) memberPtr(dst **Member) bool {
	if s.null() {
		return true
	}
	m := new(Member)
	if !s.member(m) {
		return false
	}
	*dst = m
	return true
}

func (s *jsonScan) members(dst *[]Member) bool {
	if s.null() {
		return true
	}
	out := []Member{}
	ok := s.array(func() bool {
		var m Member
		if !s.null() && !s.member(&m) {
			return false
		}
		out = append(out, m)
		return true
	})
	if ok {
		*dst = out
	}
	return ok
}

// seen guards against repeated keys, which the fast path leaves to
// encoding/json (it merges a repeated object into the first).
type seenKeys uint64

func (k *seenKeys) first(bit uint) bool {
	if *k&(1<<bit) != 0 {
		return false
	}
	*k |= 1 << bit
	return true
}

func decodeRequestFast(line []byte, req *request) bool {
	s := jsonScan{b: line}
	var seen seenKeys
	ok := s.object(func(key []byte) bool {
		m := &req.matchRequest
		switch string(key) {
		case "op":
			return seen.first(0) && s.str(&req.Op)
		case "id":
			return seen.first(1) && s.raw(&req.ID)
		case "v":
			return seen.first(2) && s.int(&req.V)
		case "client":
			return seen.first(3) && s.str(&req.Client)
		case "player":
			return seen.first(4) && s.str(&req.Player)
		case "game":
			return seen.first(5) && s.str(&req.Game)
		case "name":
			return seen.first(6) && s.str(&req.Name)
		case "capacity":
			return seen.first(7) && s.int(&req.Capacity)
		case "port":
			return seen.first(8) && s.int(&req.Port)
		case "addr":
			return seen.first(9) && s.str(&req.Addr)
		case "lobby":
			return seen.first(10) && s.str(&req.Lobby)
		case "member":
			return seen.first(11) && s.str(&req.Member)
		case "meta":
			return seen.first(12) && s.meta(&req.Meta)
		case "seq":
			return seen.first(13) && s.uint64(&req.Seq)
		case "token":
			return seen.first(14) && s.str(&req.Token)
		case "password":
			return seen.first(15) && s.str(&req.Password)
		case "private":
			return seen.first(16) && s.bool(&req.Private)
		case "auto_start":
			return seen.first(17) && s.bool(&req.AutoStart)
		case "key":
			return seen.first(18) && s.str(&m.Key)
		case "version":
			return seen.first(19) && s.str(&m.Version)
		case "filterable":
			return seen.first(20) && s.strings(&m.Filterable)
		case "seats":
			return seen.first(21) && s.int(&m.Seats)
		case "party":
			return seen.first(22) && s.strings(&m.Party)
		case "reservation":
			return seen.first(23) && s.str(&m.Reservation)
		case "window_ms":
			return seen.first(24) && s.int64(&m.WindowMS)
		case "ban":
			return seen.first(25) && s.bool(&m.Ban)
		case "ban_ms":
			return seen.first(26) && s.int64(&m.BanMS)
		case "sub":
			return seen.first(27) && s.int(&m.Sub)
		case "nonce":
			return seen.first(30) && s.str(&req.Nonce)
		case "after":
			return seen.first(28) && s.str(&req.After)
		case "limit":
			return seen.first(29) && s.int(&req.Limit)
		}
		return false // lobbies, filter, or a key we do not know
	})
	return ok && s.end()
}

func decodeInboundFast(line []byte, in *inbound) bool {
	s := jsonScan{b: line}
	var seen seenKeys
	ok := s.object(func(key []byte) bool {
		ls := &in.lobbyState
		switch string(key) {
		case "event":
			return seen.first(0) && s.str(&in.Event)
		case "id":
			return seen.first(1) && s.raw(&in.ID)
		case "ok":
			return seen.first(2) && s.bool(&in.OK)
		case "error":
			return seen.first(3) && s.errorObject(&in.Error)
		case "seq":
			return seen.first(4) && s.uint64(&in.Seq)
		case "v":
			return seen.first(5) && s.int(&in.V)
		case "server":
			return seen.first(6) && s.str(&in.Server)
		case "heartbeat_ms":
			return seen.first(7) && s.int64(&in.HeartbeatMS)
		case "misses":
			return seen.first(8) && s.int(&in.Misses)
		case "max_line":
			return seen.first(9) && s.int(&in.MaxLine)
		case "resume":
			return seen.first(10) && s.str(&in.Resume)
		case "resume_grace_ms":
			return seen.first(11) && s.int64(&in.GraceMS)
		case "invite":
			return seen.first(12) && s.str(&in.Invite)
		case "instance":
			return seen.first(13) && s.str(&in.Instance)
		case "next":
			return seen.first(14) && s.str(&in.Next)
		case "credential":
			return seen.first(15) && s.str(&in.Credential)
		case "owner_credential":
			return seen.first(16) && s.str(&in.OwnerCredential)
		case "lobby_secret":
			return seen.first(17) && s.str(&in.LobbySecret)
		case "addr":
			return seen.first(18) && s.str(&in.Addr)
		case "lobby":
			return seen.first(19) && s.str(&ls.Lobby)
		case "game":
			return seen.first(20) && s.str(&ls.Game)
		case "name":
			return seen.first(21) && s.str(&ls.Name)
		case "players":
			return seen.first(22) && s.int(&ls.Players)
		case "capacity":
			return seen.first(23) && s.int(&ls.Capacity)
		case "state":
			return seen.first(24) && s.str((*string)(&ls.State))
		case "owner":
			return seen.first(25) && s.str(&ls.Owner)
		case "successor":
			return seen.first(26) && s.str(&ls.Successor)
		case "meta":
			return seen.first(27) && s.meta(&ls.Meta)
		case "private":
			return seen.first(28) && s.bool(&ls.Private)
		case "auto_start":
			return seen.first(29) && s.bool(&ls.AutoStart)
		case "version":
			return seen.first(30) && s.str(&ls.Version)
		case "reserved":
			return seen.first(31) && s.int(&ls.Reserved)
		case "created_ms":
			return seen.first(32) && s.int64(&ls.CreatedMS)
		case "filterable":
			return seen.first(33) && s.strings(&ls.Filterable)
		case "you":
			return seen.first(34) && s.memberPtr(&in.You)
		case "peers":
			return seen.first(35) && s.members(&in.Peers)
		case "member":
			return seen.first(36) && s.memberPtr(&in.Member)
		case "reason":
			return seen.first(37) && s.str((*string)(&in.Reason))
		case "sub":
			return seen.first(38) && s.int(&in.Sub)
		case "banned":
			return seen.first(39) && s.bool(&in.Banned)
		case "reservation":
			return seen.first(40) && s.reservation(&in.Reservation)
		case "term":
			return seen.first(41) && s.uint32(&ls.Term)
		case "successor_addr":
			return seen.first(42) && s.str(&ls.SuccessorAddr)
		case "takeover":
			return seen.first(43) && s.bool(&in.Takeover)
		case "proof":
			return seen.first(44) && s.str(&in.Proof)
		}
		return false // resumed, restored, lobbies, or a key we do not know
	})
	return ok && s.end()
}

func (s *jsonScan) errorObject(dst **Error) bool {
	if s.null() {
		return true
	}
	e := new(Error)
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "code":
			return s.str((*string)(&e.Code))
		case "message":
			return s.str(&e.Message)
		}
		return false
	})
	if ok {
		*dst = e
	}
	return ok
}

func (s *jsonScan) reservation(dst **wireReservation) bool {
	if s.null() {
		return true
	}
	w := new(wireReservation)
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.str(&w.ID)
		case "token":
			return s.str(&w.Token)
		case "lobby":
			return s.str(&w.Lobby)
		case "seats":
			return s.int(&w.Seats)
		case "party":
			return s.strings(&w.Party)
		case "expires_in_ms":
			return s.int64(&w.ExpiresInMS)
		case "released":
			return s.int(&w.Released)
		}
		return false
	})
	if ok {
		*dst = w
	}
	return ok
}
