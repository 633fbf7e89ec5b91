package lobby

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// ProtocolVersion is the newest wire protocol version this package speaks
// (PROTOCOL.md). MinProtocolVersion is the oldest it still accepts.
const (
	ProtocolVersion    = 1
	MinProtocolVersion = 1
)

// Request ids (PROTOCOL.md, "Message kinds"): a client may choose an
// integer 0..MaxRequestIDNumber (what every JSON reader holds exactly, a
// double's 53 bits) or a string of at most MaxRequestIDLen bytes of UTF-8
// once decoded. The server echoes a valid id byte for byte.
const (
	MaxRequestIDLen    = 64
	MaxRequestIDNumber = 1<<53 - 1
	// maxRawIDLen bounds the id's JSON token: a string id of
	// MaxRequestIDLen bytes written with \uXXXX escapes throughout.
	maxRawIDLen = 6*MaxRequestIDLen + 2
)

// Request ops. Their values are the wire names.
const (
	OpHello     = "hello"
	OpPing      = "ping"
	OpPong      = "pong"
	OpCreate    = "create"
	OpJoin      = "join"
	OpQuickJoin = "quick_join"
	OpLeave     = "leave"
	OpKick      = "kick"
	OpStart     = "start"
	OpClose     = "close"
	OpSetMeta   = "set_meta"
	OpList      = "list"
	OpResume    = "resume"
	OpRestore   = "restore"
	// The name registry.
	OpRegister   = "register"
	OpDeregister = "deregister"
	OpLookup     = "lookup"
)

// request is every field any request may carry; each op reads its own.
// Unknown fields are ignored, as the protocol promises.
type request struct {
	Op        string            `json:"op"`
	ID        json.RawMessage   `json:"id,omitempty"`
	V         int               `json:"v,omitempty"`
	Client    string            `json:"client,omitempty"`
	Player    string            `json:"player,omitempty"`
	Game      string            `json:"game,omitempty"`
	Name      string            `json:"name,omitempty"`
	Capacity  int               `json:"capacity,omitempty"`
	Port      int               `json:"port,omitempty"`
	Addr      string            `json:"addr,omitempty"`
	Lobby     string            `json:"lobby,omitempty"`
	Member    string            `json:"member,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	Seq       uint64            `json:"seq,omitempty"`
	Token     string            `json:"token,omitempty"`
	Restore   []restoreLobby    `json:"lobbies,omitempty"`
	Password  string            `json:"password,omitempty"`
	Private   bool              `json:"private,omitempty"`
	AutoStart bool              `json:"auto_start,omitempty"`
	matchRequest
	takeoverRequest
	After string `json:"after,omitempty"` // list: the cursor of the page to get
	Limit int    `json:"limit,omitempty"` // list: most lobbies per page
}

// restoreLobby is one lobby a client asks a restarted coordinator to take
// back: as its owner (re-create it under the same id) or as a member.
type restoreLobby struct {
	Lobby     string            `json:"lobby"`
	Owner     bool              `json:"owner,omitempty"`
	Game      string            `json:"game,omitempty"`
	Name      string            `json:"name,omitempty"`
	Capacity  int               `json:"capacity,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	Started   bool              `json:"started,omitempty"`
	Port      int               `json:"port,omitempty"`
	Addr      string            `json:"addr,omitempty"`
	Password  string            `json:"password,omitempty"`
	AutoStart bool              `json:"auto_start,omitempty"`
	// Version and Filterable: an owner's lobby's (see create).
	Version    string   `json:"version,omitempty"`
	Filterable []string `json:"filterable,omitempty"`
	// Credential proves the seat (credentials.go); OwnerCredential, from
	// an owner, proves the ownership it re-creates the lobby with.
	Credential      string `json:"credential,omitempty"`
	OwnerCredential string `json:"owner_credential,omitempty"`
	// Members is an owner's view of the lobby in join order, itself
	// included: their seats are held for them while they come back.
	Members []Member `json:"members,omitempty"`
	takeoverEntry
}

// restoreResult answers one restoreLobby: the lobby's state and peers, or
// an error (unknown_lobby: its owner has not restored it yet; retry).
type restoreResult struct {
	lobbyState
	Peers []Member `json:"peers,omitempty"`
	seatCredentials
	Error *Error `json:"error,omitempty"`
}

// seatCredentials are what a member keeps to get its seat back on a
// restarted coordinator (or, later, on a successor): carried by the join
// reply and each restored lobby.
type seatCredentials struct {
	Credential      string `json:"credential,omitempty"`
	OwnerCredential string `json:"owner_credential,omitempty"`
	LobbySecret     string `json:"lobby_secret,omitempty"`
}

// lobbyState is the block of lobby fields carried by join replies, list
// entries and every notice, so a client can always refresh its view from
// the last message it got.
type lobbyState struct {
	Lobby     string            `json:"lobby"`
	Game      string            `json:"game"`
	Name      string            `json:"name"`
	Players   int               `json:"players"`
	Capacity  int               `json:"capacity"`
	State     State             `json:"state"`
	Owner     string            `json:"owner"`
	Successor string            `json:"successor"`
	Meta      map[string]string `json:"meta,omitempty"`
	Private   bool              `json:"private,omitempty"`
	AutoStart bool              `json:"auto_start,omitempty"`
	matchState
	takeoverState
}

func stateOf(i Info) lobbyState {
	return lobbyState{Lobby: i.ID, Game: i.Game, Name: i.Name, Players: i.Players, Capacity: i.Capacity,
		State: i.State, Owner: i.Owner, Successor: i.Successor, Meta: i.Meta, Private: i.Private, AutoStart: i.AutoStart, matchState: matchStateOf(i),
		takeoverState: takeoverState{Term: i.Term, SuccessorAddr: i.SuccessorAddr}}
}

func (s lobbyState) info() Info {
	i := Info{ID: s.Lobby, Game: s.Game, Name: s.Name, Players: s.Players, Capacity: s.Capacity,
		State: s.State, Owner: s.Owner, Successor: s.Successor, Meta: s.Meta, Private: s.Private, AutoStart: s.AutoStart,
		Term: s.Term, SuccessorAddr: s.SuccessorAddr}
	s.matchState.fill(&i)
	return i
}

// Server to client messages.

type okReply struct {
	ID json.RawMessage `json:"id"`
	OK bool            `json:"ok"`
}

type errorReply struct {
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Error *Error          `json:"error"`
}

type helloReply struct {
	ID          json.RawMessage `json:"id"`
	OK          bool            `json:"ok"`
	V           int             `json:"v"`
	Server      string          `json:"server"`
	You         Member          `json:"you"`
	HeartbeatMS int64           `json:"heartbeat_ms"`
	Misses      int             `json:"misses"`
	MaxLine     int             `json:"max_line"`
	Resume      string          `json:"resume"`
	GraceMS     int64           `json:"resume_grace_ms"`
	// Instance is random per start of the coordinator process: a client
	// that sees a new one knows the coordinator restarted.
	Instance string `json:"instance"`
	// Resumed is set in the answer to resume: the member's lobbies as they
	// are now (the notices it missed follow the reply).
	Resumed *resumedState `json:"resumed,omitempty"`
	// Restored is set in the answer to restore, one entry per lobby asked.
	Restored []restoreResult `json:"restored,omitempty"`
	// Takeover: this coordinator hands its lobbies to their successors
	// when it is lost (takeoverwire.go).
	Takeover bool `json:"takeover,omitempty"`
}

type resumedState struct {
	Lobbies []lobbyState `json:"lobbies"`
	Missed  int          `json:"missed"`
}

type joinReply struct {
	ID json.RawMessage `json:"id"`
	OK bool            `json:"ok"`
	lobbyState
	You    Member   `json:"you"`
	Peers  []Member `json:"peers"`
	Resume string   `json:"resume"`
	seatCredentials
	// Invite is the password of a private lobby created with "private"
	// and no password of its own: the owner hands it to its players.
	Invite string `json:"invite,omitempty"`
	matchReply
}

type notice struct {
	Event string `json:"event"`
	lobbyState
	Member *Member  `json:"member,omitempty"`
	Reason Reason   `json:"reason,omitempty"`
	Peers  []Member `json:"peers,omitempty"`
	matchReply
	// OwnerCredential is in the copy of owner_changed sent to the new
	// owner only.
	OwnerCredential string `json:"owner_credential,omitempty"`
}

// inbound is the client's view of any server message: one decode per frame
// serves replies, notices and pings alike.
type inbound struct {
	Event       string          `json:"event"`
	ID          json.RawMessage `json:"id"`
	OK          bool            `json:"ok"`
	Error       *Error          `json:"error"`
	Seq         uint64          `json:"seq"`
	V           int             `json:"v"`
	Server      string          `json:"server"`
	HeartbeatMS int64           `json:"heartbeat_ms"`
	Misses      int             `json:"misses"`
	MaxLine     int             `json:"max_line"`
	Resume      string          `json:"resume"`
	GraceMS     int64           `json:"resume_grace_ms"`
	Resumed     *resumedState   `json:"resumed"`
	Restored    []restoreResult `json:"restored"`
	Invite      string          `json:"invite"`
	Instance    string          `json:"instance"`
	Next        string          `json:"next"`
	seatCredentials
	Addr string `json:"addr"` // lookup
	lobbyState
	You     *Member      `json:"you"`
	Peers   []Member     `json:"peers"`
	Member  *Member      `json:"member"`
	Reason  Reason       `json:"reason"`
	Lobbies []lobbyState `json:"lobbies"`
	matchReply
	takeoverReply
}

var nullID = json.RawMessage("null")

// validID reports whether a request id is acceptable: absent, a JSON number
// or a JSON string, at most MaxRequestIDLen bytes.
func validID(id json.RawMessage) bool {
	if len(id) == 0 || string(id) == "null" {
		return true
	}
	if len(id) > maxRawIDLen {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		var s string
		return json.Unmarshal(id, &s) == nil && len(s) <= MaxRequestIDLen
	case c >= '0' && c <= '9':
		n, err := strconv.ParseUint(string(id), 10, 64)
		return err == nil && n <= MaxRequestIDNumber
	}
	return false
}

// salvageID digs the id out of a request that failed to decode as a whole
// (say, a field of the wrong type), so the error reply can still echo it.
func salvageID(line []byte) json.RawMessage {
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(line, &probe) != nil || len(probe.ID) == 0 || !validID(probe.ID) {
		return nullID
	}
	return probe.ID
}

func replyID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nullID
	}
	return id
}

// marshal encodes one of our messages: by hand when it is of a type with
// its own encoder (wireenc.go), else with encoding/json.
func marshal(v any) []byte {
	if a := fastEncoder(v); a != nil {
		if b, ok := a.appendJSON(make([]byte, 0, 256)); ok {
			return b
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled; a failure is a bug.
		panic("lobby: marshal: " + err.Error())
	}
	return b
}

func encodeError(id json.RawMessage, e *Error) []byte {
	b, _ := errorReply{ID: replyID(id), Error: e}.appendJSON(make([]byte, 0, 128))
	return b
}

func encodeOK(id json.RawMessage) []byte {
	b, _ := okReply{ID: replyID(id), OK: true}.appendJSON(make([]byte, 0, 24+len(id)))
	return b
}

func encodeNotice(n Notice) []byte {
	return appendNotice(make([]byte, 0, 512), n)
}

// appendNotice appends the frame of a notice to dst.
func appendNotice(dst []byte, n Notice) []byte {
	msg := notice{Event: string(n.Kind), lobbyState: stateOf(n.Lobby), Reason: n.Reason, Peers: n.Peers}
	msg.Banned = n.Banned
	if n.Reservation != "" {
		msg.Reservation = &wireReservation{ID: n.Reservation, Released: n.Released}
	}
	switch n.Kind {
	case NoticeMemberJoined, NoticeMemberLeft, NoticeMemberAway, NoticeMemberBack:
		m := n.Member
		msg.Member = &m
	}
	b, _ := msg.appendJSON(dst)
	return b
}

// encodePing builds the server's ping push by hand: it is sent to every
// member every heartbeat interval.
func encodePing(seq uint64) []byte {
	b := make([]byte, 0, 40)
	b = append(b, `{"event":"ping","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

// encodePong builds the client's answer to a ping.
func encodePong(seq uint64) []byte {
	b := make([]byte, 0, 40)
	b = append(b, `{"op":"pong","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

// isPong spots a pong in the exact form the Go client writes; other forms
// take the general path.
func isPong(line []byte) (uint64, bool) {
	const prefix = `{"op":"pong","seq":`
	if !bytes.HasPrefix(line, []byte(prefix)) || line[len(line)-1] != '}' {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(line[len(prefix):len(line)-1]), 10, 64)
	return seq, err == nil
}

// isPing spots the server's ping without a full decode, so answering it
// costs next to nothing on the client's read path.
func isPing(line []byte) (uint64, bool) {
	const prefix = `{"event":"ping","seq":`
	if !bytes.HasPrefix(line, []byte(prefix)) || line[len(line)-1] != '}' {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(line[len(prefix):len(line)-1]), 10, 64)
	return seq, err == nil
}

// encodeReplaced is the last push on a link whose member identity another
// link took over with resume (PROTOCOL.md, "replaced").
func encodeReplaced() []byte {
	return []byte(`{"event":"replaced","reason":"resumed_elsewhere","message":"your member identity was resumed on another connection; this one closes"}`)
}
