package rules

import (
	"net/netip"
	"strconv"
	"strings"
)

// The name registry (PROTOCOL.md, "Name registry"): room servers of a game
// world register a name and the address players reach them at; players
// look the name up. Names are labels shown to people, addresses are
// room://host:port.
const (
	// MaxRegistryNameLen bounds a registered name in bytes: room names
	// are short labels, and a bound keeps a request in one datagram.
	MaxRegistryNameLen = 64
	// MaxRoomAddrLen bounds a room address in bytes: "room://", a DNS
	// name (at most 253 bytes) or an IP literal, ":" and a port.
	MaxRoomAddrLen = len(RoomScheme) + 253 + 1 + 5
	// RoomScheme prefixes every room address.
	RoomScheme = "room://"
)

// ValidateRegistryName checks a registered name: 1..MaxRegistryNameLen
// bytes of text, not only white space, no white space at either end (so
// that the UDP text form, where the name is the rest of the line, cannot
// differ from the TCP form). The error wraps ErrName.
func ValidateRegistryName(name string) error {
	if name == "" {
		return errorf(ErrName, "name is empty")
	}
	if err := checkText(ErrName, "name", name, MaxRegistryNameLen); err != nil {
		return err
	}
	if strings.TrimSpace(name) != name {
		return errorf(ErrName, "name %q starts or ends with white space", name)
	}
	return nil
}

// NormalizeRoomAddr checks a room address and returns its canonical form,
// the one compared for uniqueness: "room://" then an IPv4 literal, an
// IPv6 literal in brackets, or a DNS name (letters, digits, '-' and '.',
// lower-cased), then ":" and a port 1..65535. The error wraps ErrAddr.
func NormalizeRoomAddr(addr string) (string, error) {
	if len(addr) > MaxRoomAddrLen {
		return "", errorf(ErrAddr, "room address is %d bytes, the limit is %d", len(addr), MaxRoomAddrLen)
	}
	rest, ok := strings.CutPrefix(addr, RoomScheme)
	if !ok {
		return "", errorf(ErrAddr, "room address %q must start with %s", addr, RoomScheme)
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", errorf(ErrAddr, "room address %q has no port", addr)
	}
	host, portText := rest[:i], rest[i+1:]
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 || strings.HasPrefix(portText, "+") {
		return "", errorf(ErrAddr, "room address %q: port must be 1..65535", addr)
	}
	switch {
	case strings.HasPrefix(host, "["):
		ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if err != nil || !strings.HasSuffix(host, "]") || !ip.Is6() || ip.Is4In6() {
			return "", errorf(ErrAddr, "room address %q: bad IPv6 literal", addr)
		}
		host = "[" + ip.String() + "]"
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			if !ip.Is4() {
				return "", errorf(ErrAddr, "room address %q: an IPv6 literal goes in brackets", addr)
			}
			host = ip.String()
			break
		}
		if !validHostName(host) {
			return "", errorf(ErrAddr, "room address %q: host must be an IP address or a DNS name", addr)
		}
		host = strings.ToLower(host)
	}
	return RoomScheme + host + ":" + strconv.FormatUint(port, 10), nil
}

// validHostName: DNS labels of letters, digits and '-' (not at either
// end), 1..63 bytes each, 253 in all.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
