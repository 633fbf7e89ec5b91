package mdns

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/rules"
)

// TXT keys of a lobby (see the package documentation). Short, because
// the whole TXT record should stay small (RFC 6763 §6.2 recommends under
// 200 bytes; a lobby needs at most about 170).
const (
	TXTVersion  = "v"  // protocol version: "1"
	TXTID       = "id" // lobby id
	TXTGame     = "g"  // game id
	TXTPlayers  = "p"  // players present, decimal
	TXTCapacity = "c"  // capacity, decimal
	TXTState    = "s"  // open | full | started | closed
	TXTName     = "n"  // lobby name (the instance name may carry a " (2)")

	// TXTVersionValue is the only version this package writes and reads.
	TXTVersionValue = "1"
	// MaxTXTLen bounds a TXT record's wire length (the length bytes
	// included): far above a lobby's needs, well inside one packet.
	MaxTXTLen = 1300

	// maxLobbyTXTLen is the wire length of the TXT record EncodeTXT makes
	// for a lobby with every field at its limit of package rules
	// (TestMaxLobbyTXT checks it); RFC 6763 §6.2 recommends under 200.
	maxLobbyTXTLen = 1 + len(TXTVersion+"="+TXTVersionValue) +
		1 + len(TXTID+"=") + rules.MaxIDLen +
		1 + len(TXTGame+"=") + rules.MaxGameLen +
		2*(1+len(TXTPlayers+"=")+len("64")) +
		1 + len(TXTState+"=started") +
		1 + len(TXTName+"=") + rules.MaxLobbyNameLen
)

// A lobby's TXT strings each fit their 1-byte length and the record, signed,
// fits MaxTXTLen; these fail to compile if a limit of package rules outgrows
// them.
const (
	_ = uint8(len(TXTName+"=") + rules.MaxLobbyNameLen)
	_ = uint(MaxTXTLen - maxLobbyTXTLen - signedTXTOverhead)
	_ = uint(99 - rules.MaxCapacity) // p and c are written in 2 digits at most
)

// ErrInvalidTXT wraps every reason a TXT record does not describe a lobby.
var ErrInvalidTXT = errors.New("mdns: TXT record is not a lanlobby lobby")

var stateNames = map[beacon.State]string{
	beacon.StateOpen: "open", beacon.StateFull: "full", beacon.StateStarted: "started", beacon.StateClosed: "closed",
}

// EncodeTXT returns the TXT strings announcing l, in a fixed order: v, id,
// g, p, c, s, n, then its attributes (txtattrs.go): gv, ct, m.<key>…, mp.
// The name is carried even though it is also the instance
// name, because an instance renamed after a name conflict ("Alice's game
// (2)") must still show the lobby's own name, the one the beacon shows
// (Merge would otherwise flip between the two). It is pure; l is not
// validated (Responder.SetLobby does that).
func EncodeTXT(l beacon.Lobby) []string {
	return appendAttrsTXT([]string{
		TXTVersion + "=" + TXTVersionValue,
		TXTID + "=" + l.ID,
		TXTGame + "=" + l.Game,
		TXTPlayers + "=" + strconv.Itoa(l.Players),
		TXTCapacity + "=" + strconv.Itoa(l.Capacity),
		TXTState + "=" + stateNames[l.State],
		TXTName + "=" + l.Name,
	}, l.Attrs)
}

// DecodeTXT reads a lobby from TXT strings (raw bytes, as on the wire) and
// the instance name it was found under. Keys are matched without regard
// to case and only the first occurrence of a key counts (RFC 6763 §6.4);
// unknown keys are ignored, so later versions can add some. The lobby's
// Name is the n value, else the instance name; the game id is normalised
// (rules.NormalizeGame: "Demo" means "demo"). Port is left 0: it comes
// from the SRV record. Required: v=1, id, g, p, c, s, with the values
// beacon.ValidateLobby accepts (the rules of package rules); anything else
// is an error wrapping ErrInvalidTXT.
func DecodeTXT(txt []string, instance string) (beacon.Lobby, error) {
	kv := make(map[string]string, 8)
	for _, s := range txt {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			continue // boolean attribute or empty: not ours
		}
		k = asciiLower(k)
		if _, dup := kv[k]; !dup {
			kv[k] = v
		}
	}
	var l beacon.Lobby
	var err error
	if v, ok := kv[TXTVersion]; !ok || v != TXTVersionValue {
		return l, fmt.Errorf("%w: version %q", ErrInvalidTXT, v)
	}
	for _, k := range []string{TXTID, TXTGame, TXTPlayers, TXTCapacity, TXTState} {
		if _, ok := kv[k]; !ok {
			return l, fmt.Errorf("%w: no %q key", ErrInvalidTXT, k)
		}
	}
	l.ID, l.Name = kv[TXTID], instance
	// A game id typed by hand into another publisher ("g=Demo") means the
	// same game as ours; the subtype name matches it without case anyway.
	if l.Game, err = rules.NormalizeGame(kv[TXTGame]); err != nil {
		return l, fmt.Errorf("%w: %w", ErrInvalidTXT, err)
	}
	if n, ok := kv[TXTName]; ok && n != "" {
		l.Name = n
	}
	if l.Players, err = smallInt(kv[TXTPlayers]); err != nil {
		return l, fmt.Errorf("%w: players: %v", ErrInvalidTXT, err)
	}
	if l.Capacity, err = smallInt(kv[TXTCapacity]); err != nil {
		return l, fmt.Errorf("%w: capacity: %v", ErrInvalidTXT, err)
	}
	for st, name := range stateNames {
		if asciiLower(kv[TXTState]) == name {
			l.State = st
		}
	}
	if l.State == 0 {
		return l, fmt.Errorf("%w: state %q", ErrInvalidTXT, kv[TXTState])
	}
	l.Attrs = decodeAttrsTXT(txt)
	// Port is checked by the caller once the SRV record is known.
	probe := l
	probe.Port = 1
	if err := beacon.ValidateLobby(probe); err != nil {
		return l, fmt.Errorf("%w: %w", ErrInvalidTXT, err)
	}
	return l, nil
}

// smallInt parses 1..3 decimal digits: nothing in a lobby is larger.
func smallInt(s string) (int, error) {
	if len(s) == 0 || len(s) > 3 {
		return 0, fmt.Errorf("%q: want 1..3 digits", s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, fmt.Errorf("%q: not a number", s)
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}

// validateTXT checks TXT strings a caller wants to publish: each at most
// 255 bytes (one length byte), the record at most MaxTXTLen bytes.
func validateTXT(txt []string) error { return validateTXTRoom(txt, 0) }

// validateTXTRoom is validateTXT leaving room bytes for what the
// responder adds (the signature).
func validateTXTRoom(txt []string, room int) error {
	total := room
	for _, s := range txt {
		if len(s) > 255 {
			return fmt.Errorf("%w: TXT string of %d bytes (max 255)", ErrInvalidTXT, len(s))
		}
		total += 1 + len(s)
	}
	if total > MaxTXTLen {
		return fmt.Errorf("%w: TXT record of %d bytes (max %d)", ErrInvalidTXT, total, MaxTXTLen)
	}
	return nil
}

// escapeTXT and unescapeTXT convert between raw TXT strings and the form
// miekg/dns keeps in dns.TXT.Txt: it unpacks '"' and '\' with a backslash
// and other bytes outside printable ASCII as \DDD, and packs \X and \DDD
// escapes back. escapeTXT escapes exactly as unpacking does, so a record
// we build compares equal to the same record received.
func escapeTXT(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('\\')
			b.WriteByte('0' + c/100)
			b.WriteByte('0' + c/10%10)
			b.WriteByte('0' + c%10)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if v, err := strconv.Atoi(s[i+1 : i+4]); err == nil && v < 256 {
				b = append(b, byte(v))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}
