package lobby

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// The wire form of takeover and moves (PROTOCOL.md, "When the coordinator
// is lost"): the standby and prove requests, what a restore entry brings
// to adopt a lobby, and the pushes taken_over, coordinator_moved and
// standby.

// Request ops of takeover. Their values are the wire names.
const (
	// OpStandby registers where a member would serve a lobby it took over.
	OpStandby = "standby"
	// OpProve asks a coordinator to prove it holds a lobby's secret.
	OpProve = "prove"
)

// Pushes of takeover and moves.
const (
	// NoticeTakenOver: the lobby's coordinator was lost and its successor
	// took the lobby over; Member is the owner that departed (Reason why),
	// Lobby the lobby now (its new owner and term), Peers the members now.
	// A coordinator sends it to each member as it arrives; the Go client
	// delivers it as an event.
	NoticeTakenOver NoticeKind = "taken_over"
	// NoticeCoordinatorMoved: the lobby lives on at another coordinator
	// (Event.Addr) under a higher term (its owner moved it to a daemon, or
	// another coordinator took it over); the Go client moves there by
	// itself, keeping its seat.
	NoticeCoordinatorMoved NoticeKind = "coordinator_moved"
	// noticeStandby: the successor's standby address changed
	// (successor_addr); clients keep it, games are not told.
	noticeStandby NoticeKind = "standby"
)

// Limits of takeover.
const (
	// MinNonceLen and MaxNonceLen bound a prove request's nonce, in bytes
	// of printable ASCII: long enough to be fresh, short enough to be cheap.
	MinNonceLen = 16
	MaxNonceLen = 64
	// labelProof separates proofs from every other MAC made with a lobby
	// secret (credentials.go).
	labelProof = "lanlobby/1 proof\x00"
)

// takeoverRequest holds the request fields of takeover; request embeds it.
type takeoverRequest struct {
	Nonce string `json:"nonce,omitempty"` // prove
}

// takeoverEntry holds what a restore entry brings to adopt a lobby on a
// coordinator that did not make it; restoreLobby embeds it.
type takeoverEntry struct {
	// Adopt: the lobby comes from another coordinator (a takeover, or a
	// move to a daemon); made here with LobbySecret and Term, owned by the
	// member that brings it.
	Adopt bool `json:"adopt,omitempty"`
	// LobbySecret is the lobby's secret (hex, as every join reply gives
	// it): the one its members' seat credentials are made with. An owner
	// sends it when it adopts the lobby, or re-creates on a restarted
	// coordinator a lobby that was adopted there.
	LobbySecret string `json:"lobby_secret,omitempty"`
	// Term is the lobby's term on the new coordinator.
	Term uint32 `json:"term,omitempty"`
	// Departed is the owner that left in a takeover, told to the members
	// as they arrive (taken_over).
	Departed *departure `json:"departed,omitempty"`
	// CreatedMS is when the lobby was first made.
	CreatedMS int64 `json:"created_ms,omitempty"`
}

// departure is who left a lobby in a takeover, and why.
type departure struct {
	Member Member `json:"member"`
	Reason Reason `json:"reason"`
}

// takeoverState holds the lobby state block's takeover fields; lobbyState
// embeds it.
type takeoverState struct {
	Term          uint32 `json:"term,omitempty"`
	SuccessorAddr string `json:"successor_addr,omitempty"`
}

// takeoverReply holds the reply fields of takeover; inbound embeds it.
type takeoverReply struct {
	// Takeover, in a hello reply: this coordinator hands its lobbies to
	// their successors when it is lost (members register standby).
	Takeover bool `json:"takeover,omitempty"`
	// Proof answers prove.
	Proof string `json:"proof,omitempty"`
}

// movePush is the wire form of taken_over, coordinator_moved and standby.
type movePush struct {
	Event string `json:"event"`
	lobbyState
	Member *Member  `json:"member,omitempty"` // taken_over: the departed owner
	Reason Reason   `json:"reason,omitempty"` // taken_over: why it departed
	Peers  []Member `json:"peers,omitempty"`  // taken_over: the other members now
	Addr   string   `json:"addr,omitempty"`   // coordinator_moved: where the lobby is now
}

type proveReply struct {
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Lobby string          `json:"lobby"`
	Term  uint32          `json:"term"`
	Proof string          `json:"proof"`
}

// Proof is what a coordinator holding a lobby's secret answers to prove:
// hex128(HMAC(lobby secret, "lanlobby/1 proof\0" ‖ lobby ‖ "\0" ‖ term ‖
// "\0" ‖ nonce)), term in decimal. Whoever knows the secret (the lobby's
// members) checks it with CheckProof.
func Proof(lobbySecret []byte, lobby string, term uint32, nonce string) string {
	return short(mac(lobbySecret, labelProof+lobby, strconv.FormatUint(uint64(term), 10), nonce))
}

// CheckProof reports, in constant time, whether proof is Proof of these.
func CheckProof(lobbySecret []byte, lobby string, term uint32, nonce, proof string) bool {
	return equal(Proof(lobbySecret, lobby, term, nonce), proof)
}

// NewNonce returns a fresh nonce for prove (32 hex digits).
func NewNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validNonce accepts MinNonceLen..MaxNonceLen bytes of printable ASCII
// without space.
func validNonce(n string) bool {
	if len(n) < MinNonceLen || len(n) > MaxNonceLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e {
			return false
		}
	}
	return true
}
