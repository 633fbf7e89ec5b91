package lobby

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// Credentials: what proves, to a coordinator that lost its state, who a
// client was and which seats it held. Everything is derived from the
// coordinator's secret K (ServerConfig.Secret), so a restarted daemon that
// kept K in its state directory checks them with no other state:
//
//	resume token      = HMAC(K, "lanlobby/1 token" ‖ member id)          proves the member id
//	lobby secret      = HMAC(K, "lanlobby/1 lobby" ‖ lobby id)           handed to every member
//	seat credential   = HMAC(lobby secret, "lanlobby/1 seat" ‖ member id) proves a seat
//	owner credential  = HMAC(K, "lanlobby/1 owner" ‖ lobby id ‖ member id) proves ownership
//
// (each a 128-bit hex string but the lobby secret, 256 bits; ids hold no
// NUL, which separates the fields.) A restore needs the member's token, to
// be seated under its old id, and a seat credential for that id, per
// lobby; re-creating a lobby takes the owner credential, which only the
// owner of the moment gets (in its create reply, or in its copy of
// owner_changed). An outsider who listed the lobbies has none of them.
//
// Every member learns the lobby secret, so that a member running a new
// coordinator for the lobby (a successor) can check the others' seat
// credentials without K. A member could therefore compute a seat
// credential for any id, but it cannot be seated under an id whose token
// it lacks, nor re-create the lobby without the owner credential.
const (
	// minSecretLen is the shortest ServerConfig.Secret accepted.
	minSecretLen = 16
	// SecretLen is the length of the secrets NewSecret makes.
	SecretLen = 32
	// credentialLen is the length in hex of a token or credential (128 bits).
	credentialLen = 32
)

// NewSecret returns a fresh random coordinator secret.
func NewSecret() []byte {
	b := make([]byte, SecretLen)
	rand.Read(b)
	return b
}

const (
	labelToken = "lanlobby/1 token\x00"
	labelLobby = "lanlobby/1 lobby\x00"
	labelSeat  = "lanlobby/1 seat\x00"
	labelOwner = "lanlobby/1 owner\x00"
)

// credentials derives and checks a coordinator's tokens and credentials.
type credentials struct {
	key []byte
	// secrets holds the lobby secret of each live lobby that a reply
	// carried, derived once rather than on every join; owned by the state
	// goroutine, and forgotten when the lobby closes (forget). Secrets of
	// other ids (a restore's guesses) are derived each time, never kept.
	secrets map[string]*lobbyKey
}

// lobbyKey is a lobby secret, raw and as the replies carry it, with the
// HMAC keyed with it that makes its seat credentials (kept: keying costs
// as much as the MAC).
type lobbyKey struct {
	raw  []byte
	hex  string
	seat hash.Hash
	buf  []byte
}

// seatCredential is SeatCredential(k.raw, member).
func (k *lobbyKey) seatCredential(member string) string {
	if k.seat == nil {
		k.seat = hmac.New(sha256.New, k.raw)
	} else {
		k.seat.Reset()
	}
	k.buf = append(append(k.buf[:0], labelSeat...), member...)
	k.seat.Write(k.buf)
	k.buf = k.seat.Sum(k.buf[:0])
	return hex.EncodeToString(k.buf[:credentialLen/2])
}

func newCredentials(key []byte) credentials {
	return credentials{key: key, secrets: make(map[string]*lobbyKey)}
}

// keyOf is the secret of live lobby l, from the cache when it is there.
func (c credentials) keyOf(l *Lobby) *lobbyKey {
	if k := c.secrets[l.ID]; k != nil {
		return k
	}
	raw := c.lobbySecret(l.ID)
	k := &lobbyKey{raw: raw, hex: hex.EncodeToString(raw)}
	if c.secrets != nil {
		c.secrets[l.ID] = k
	}
	return k
}

// forget drops a closed lobby's cached secret.
func (c credentials) forget(lobby string) { delete(c.secrets, lobby) }

func mac(key []byte, parts ...string) []byte {
	h := hmac.New(sha256.New, key)
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

func short(sum []byte) string { return hex.EncodeToString(sum[:credentialLen/2]) }

// token is a member id's resume token.
func (c credentials) token(member string) string { return short(mac(c.key, labelToken+member)) }

// lobbySecret is the secret every member of a lobby gets.
func (c credentials) lobbySecret(lobby string) []byte { return mac(c.key, labelLobby+lobby) }

// seat is the credential of member's seat in lobby.
func (c credentials) seat(lobby, member string) string {
	return SeatCredential(c.lobbySecret(lobby), member)
}

// owner is the credential of member's ownership of lobby.
func (c credentials) owner(lobby, member string) string {
	return short(mac(c.key, labelOwner+lobby, member))
}

// forSeat is what a member of lobby keeps: its seat credential, the lobby
// secret, and the owner credential when it owns the lobby.
func (c credentials) forSeat(l *Lobby, member string) seatCredentials {
	k := c.keyOf(l)
	sc := seatCredentials{Credential: k.seatCredential(member), LobbySecret: k.hex}
	if l.Owner == member {
		sc.OwnerCredential = c.owner(l.ID, member)
	}
	return sc
}

// SeatCredential is the credential of member's seat in a lobby whose
// secret (the join reply's lobby_secret, decoded) is lobbySecret. Anyone
// who knows the lobby secret can check it with CheckSeatCredential.
func SeatCredential(lobbySecret []byte, member string) string {
	return short(mac(lobbySecret, labelSeat+member))
}

// CheckSeatCredential reports, in constant time, whether cred is member's
// seat credential in the lobby with that secret.
func CheckSeatCredential(lobbySecret []byte, member, cred string) bool {
	return equal(SeatCredential(lobbySecret, member), cred)
}

func equal(want, got string) bool {
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// guessLogEvery is the least time between two log lines about failed
// credential checks: a flood of guesses is counted, and logged once a
// second with the count, not once per guess.
const guessLogEvery = time.Second

// guesses counts failed token and credential checks and logs them,
// rate-limited. Safe for concurrent use.
type guesses struct {
	tokens atomic.Int64 // wrong resume tokens
	creds  atomic.Int64 // missing or wrong seat and owner credentials

	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

// note counts one failed check of kind ("token", "credential",
// "owner_credential") and logs it unless a line went out less than
// guessLogEvery ago; the next line says how many were left out.
func (s *Server) noteGuess(kind string, sess *session, member, lobby string) {
	g := &s.guesses
	if kind == "token" {
		g.tokens.Add(1)
	} else {
		g.creds.Add(1)
	}
	now := time.Now()
	g.mu.Lock()
	if !g.last.IsZero() && now.Sub(g.last) < guessLogEvery {
		g.suppressed++
		g.mu.Unlock()
		return
	}
	left := g.suppressed
	g.last, g.suppressed = now, 0
	g.mu.Unlock()
	s.log.Warn("failed credential check", "kind", kind, "remote", sess.ip, "member", member, "lobby", lobby,
		"not_logged_since_last", left, "tokens_failed", g.tokens.Load(), "credentials_failed", g.creds.Load())
}
