package mdns

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lanlobby/lanlobby/rules"
)

// DNS-SD names of the lanlobby service, in miekg/dns presentation form
// (fully qualified, escaped).
const (
	// ServiceType is the DNS-SD service type every lobby is an instance of.
	ServiceType = "_lanlobby._tcp.local."
	// servicesEnum is the DNS-SD service type enumeration name (RFC 6763 §9).
	servicesEnum = "_services._dns-sd._udp.local."
	localDomain  = "local."

	// MaxLabelLen is the longest DNS label, in bytes (RFC 1035 §2.3.4):
	// the limit of an instance name and of a host name label.
	MaxLabelLen = 63
	// MaxGameLen bounds a game id, which becomes the subtype label
	// "_<game>" (RFC 6763 §7.1): rules.MaxGameLen.
	MaxGameLen = rules.MaxGameLen
)

// A lobby name is published as the instance label as is, and a game id as
// the label "_<game>"; these fail to compile if a limit of package rules
// outgrows a DNS label.
const (
	_ = uint(MaxLabelLen - rules.MaxLobbyNameLen)
	_ = uint(MaxLabelLen - 1 - MaxGameLen)
)

// Name errors.
var (
	// ErrInvalidName means an instance or host name cannot be published:
	// an instance name is not a lobby name as package rules defines it
	// (1..63 bytes of text, not blank), a host name not 1..63 bytes of
	// letters, digits and '-'.
	ErrInvalidName = errors.New("mdns: invalid name")
	// ErrInvalidGame means a game id is not 1..MaxGameLen bytes of a-z,
	// 0-9, '.', '_', '-' starting with a letter or digit (rules.ValidateGame).
	ErrInvalidGame = errors.New("mdns: invalid game id")
)

// Names travel in two forms. On the wire a name is a list of labels of
// raw bytes; a DNS-SD instance label may hold anything: spaces, '.',
// apostrophes, UTF-8. miekg/dns represents names in presentation form,
// where such bytes are escaped ("Alice\'s\ game", "a\.b", "Zo\195\171").
// This file converts between the two and is the only place that does:
// every name the package builds goes through escapeLabel, which escapes
// exactly as dns.Msg.Unpack does, and names are compared only in
// canonical form (canonName), so an escaped name is never compared with an
// unescaped one.

// escapeLabel renders one raw label in presentation form, byte for byte as
// miekg/dns renders labels it unpacks: the characters . space ' @ ; ( ) "
// and \ get a backslash, bytes outside printable ASCII become \DDD.
func escapeLabel(raw string) string {
	var b strings.Builder
	b.Grow(len(raw) + 8)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '.' || c == ' ' || c == '\'' || c == '@' || c == ';' || c == '(' || c == ')' || c == '"' || c == '\\':
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

// splitName parses a presentation-form name into its raw labels (without
// the root). It accepts \DDD and \X escapes anywhere, so it reads names
// written by hand as well as miekg/dns output; ok is false for a dangling
// escape, a \DDD above 255, or an empty label.
func splitName(name string) (labels []string, ok bool) {
	if name == "." || name == "" {
		return nil, true
	}
	var cur []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch c {
		case '\\':
			if i+1 >= len(name) {
				return nil, false
			}
			if i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]) {
				v, _ := strconv.Atoi(name[i+1 : i+4])
				if v > 255 {
					return nil, false
				}
				cur = append(cur, byte(v))
				i += 3
				continue
			}
			cur = append(cur, name[i+1])
			i++
		case '.':
			if len(cur) == 0 {
				return nil, false
			}
			labels = append(labels, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) > 0 {
		labels = append(labels, string(cur))
	}
	return labels, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// joinName builds a fully qualified presentation-form name from raw
// labels.
func joinName(labels ...string) string {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString(escapeLabel(l))
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

// canonName is the form names are compared in: raw labels with ASCII
// letters lowered (DNS compares names case-insensitively, but only for
// ASCII: RFC 6762 §16 compares UTF-8 bytes as they are), escaped again.
// Two names are equal as DNS names exactly when their canonical forms are
// equal strings. An unparsable name maps to itself with "\x00" prepended,
// which equals no valid name.
func canonName(name string) string {
	labels, ok := splitName(name)
	if !ok {
		return "\x00" + name
	}
	for i, l := range labels {
		labels[i] = asciiLower(l)
	}
	return joinName(labels...)
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// sameName reports whether a and b are the same DNS name.
func sameName(a, b string) bool { return a == b || canonName(a) == canonName(b) }

// instanceName is the full service instance name of a raw instance label:
// "Alice's game" gives `Alice\'s\ game._lanlobby._tcp.local.`.
func instanceName(instance string) string {
	return escapeLabel(instance) + "." + ServiceType
}

// subtypeName is the DNS-SD subtype name of a game (RFC 6763 §7.1):
// "demo" gives "_demo._sub._lanlobby._tcp.local.".
func subtypeName(game string) string {
	return escapeLabel("_"+game) + "._sub." + ServiceType
}

// hostFQDN is the host name label as a name in .local.
func hostFQDN(label string) string { return escapeLabel(label) + "." + localDomain }

var canonServiceType = canonName(ServiceType)

// parseInstance returns the raw instance label of a service instance name
// of our type, and whether name is one.
func parseInstance(name string) (string, bool) {
	labels, ok := splitName(name)
	if !ok || len(labels) != 4 {
		return "", false
	}
	if canonName(joinName(labels[1:]...)) != canonServiceType {
		return "", false
	}
	return labels[0], true
}

// parseSubtype returns the game of a subtype name of our service type.
func parseSubtype(name string) (string, bool) {
	labels, ok := splitName(name)
	if !ok || len(labels) != 5 || asciiLower(labels[1]) != "_sub" {
		return "", false
	}
	if canonName(joinName(labels[2:]...)) != canonServiceType {
		return "", false
	}
	g := labels[0]
	if len(g) < 2 || g[0] != '_' {
		return "", false
	}
	return asciiLower(g[1:]), true
}

// ValidateInstance reports whether s can be a service instance name: a
// lobby name as package rules defines it (rules.ValidateLobbyName): 1 to
// MaxLabelLen bytes of UTF-8 (RFC 6763 §4.1.1), not blank, without control
// characters (RFC 6763 §4.1.1 forbids them; they could also forge a
// terminal line when a list of lobbies is printed), bidi controls or
// invisible characters. Exactly the names the coordinator accepts. The
// error wraps ErrInvalidName and rules.ErrName.
func ValidateInstance(s string) error {
	if err := rules.ValidateLobbyName(s); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return nil
}

// ValidateGame reports whether g can be a subtype: a game id in normal form
// (rules.ValidateGame), 1 to MaxGameLen bytes of a-z, 0-9, '.', '_', '-'
// starting with a letter or digit, lower case so that the
// case-insensitive subtype name matches only one game. The error wraps
// ErrInvalidGame and rules.ErrGame.
func ValidateGame(g string) error {
	if err := rules.ValidateGame(g); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidGame, err)
	}
	return nil
}

// validHostLabel: a host name label of our own is plain LDH ASCII, 1..63
// bytes, so that every resolver can look it up.
func validHostLabel(s string) error {
	if len(s) == 0 || len(s) > MaxLabelLen {
		return fmt.Errorf("%w: host name %q is %d bytes, want 1..%d", ErrInvalidName, s, len(s), MaxLabelLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w: host name %q: byte %q (want letters, digits, '-')", ErrInvalidName, s, c)
		}
	}
	return nil
}

// renamed returns the n-th name after conflicts (RFC 6763 Appendix D):
// "Alice's game" becomes "Alice's game (2)", "(3)" and so on for n = 2,
// 3, ...; n <= 1 gives base. base is cut (rules.Truncate: on a rune
// boundary, leaving no joiner that joins nothing) when the result would
// exceed MaxLabelLen bytes, so a valid instance name stays valid.
func renamed(base string, n int) string {
	if n <= 1 {
		return base
	}
	suffix := fmt.Sprintf(" (%d)", n)
	return rules.Truncate(base, MaxLabelLen-len(suffix)) + suffix
}

// fallbackName is the instance name a service takes after FallbackAfter
// conflicts in a row: its name followed by its unique id in brackets,
// "Alice's game [k3x9f2]", cut to a label. Nobody else has a reason to
// claim it, so it is not given up (see core.rename).
func fallbackName(base, uid string) string {
	suffix := " [" + uid + "]"
	return strings.TrimRight(rules.Truncate(base, MaxLabelLen-len(suffix)), " ") + suffix
}

// renamedHost is renamed for host name labels: "lanlobby-ab12" becomes
// "lanlobby-ab12-2".
func renamedHost(base string, n int) string {
	if n <= 1 {
		return base
	}
	suffix := fmt.Sprintf("-%d", n)
	return rules.Truncate(base, MaxLabelLen-len(suffix)) + suffix
}
