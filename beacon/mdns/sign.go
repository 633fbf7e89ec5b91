package mdns

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
)

// Signed TXT records (PROTOCOL.md, "mDNS / DNS-SD", "Signed TXT
// records"): with a LAN key (beacon.Key), a responder adds two TXT keys,
// t (when it signed, unix milliseconds) and h (a MAC over the instance
// name, the SRV port and every other TXT string), and a browser with the
// same key shows only lobbies whose TXT verifies.
const (
	// SignLabel is the label (beacon.Key.Sign) of TXT record MACs: a MAC
	// made for a beacon packet can never pass for a TXT record, nor the
	// other way round.
	SignLabel = "lanlobby mdns v1"
	// TXTTime and TXTMAC are the keys signing adds.
	TXTTime = "t" // unix milliseconds, decimal
	TXTMAC  = "h" // base64url (RFC 4648 §5, no padding) of the MAC

	// DefaultResignInterval is how often a responder with a key signs
	// its TXT records again (a TXT change, announced at once and a
	// second later): the timestamp of every TXT record it hands out is at
	// most this old.
	DefaultResignInterval = 60 * time.Second
	// DefaultTXTReplayWindow is how far a signed TXT record's timestamp
	// may be from the browser's clock when it arrives, either way: the
	// responders' re-signing interval (the age of what they hand out)
	// plus 30 s of clock difference between hosts, the beacon's window.
	// It is also how long a captured announcement can be replayed.
	DefaultTXTReplayWindow = DefaultResignInterval + beacon.DefaultReplayWindow

	// signedTXTOverhead bounds what signing adds to a TXT record's wire
	// length: "t=" and up to 19 digits, "h=" and 22 base64url
	// characters, each string with its length byte.
	signedTXTOverhead = 1 + 2 + 19 + 1 + 2 + 22
)

// Errors of TXT signature checks (VerifyTXT). A browser with a key
// ignores such lobbies and counts each kind apart.
var (
	// ErrUnsigned: the TXT record has no h key.
	ErrUnsigned = errors.New("mdns: unsigned TXT record")
	// ErrBadSignature: the MAC is wrong (another key, or a record
	// changed on the way), not base64url of 16 bytes, or there is more
	// than one h key, or the signed strings lack exactly one well-formed
	// t key.
	ErrBadSignature = errors.New("mdns: TXT record with a bad signature")
	// ErrBadTimestamp: the MAC is right but t is outside the replay
	// window: a replayed record, or clocks too far apart.
	ErrBadTimestamp = errors.New("mdns: signed TXT record outside the replay window")
)

// txtKey returns the key of a TXT string in lower case: what precedes
// the first '=', or the whole string (a boolean attribute, RFC 6763 §6.4).
func txtKey(s string) string {
	k, _, _ := strings.Cut(s, "=")
	return asciiLower(k)
}

// signedMessage is the canonical message a TXT MAC is computed over:
// every field with a 2-byte big-endian length before it, so that nothing
// can move from one field to the next:
//
//	len(instance) instance  port (2 bytes)  len(s1) s1  len(s2) s2 ...
//
// instance is the raw instance label (the bytes of the DNS label, as in
// "Zoë's game (2)"), port the SRV record's port, s1, s2... the TXT
// strings other than the h one, raw bytes, in the record's order (the t
// string among them).
func signedMessage(instance string, port uint16, txt []string) []byte {
	n := 2 + len(instance) + 2
	for _, s := range txt {
		n += 2 + len(s)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(instance)))
	b = append(b, instance...)
	b = binary.BigEndian.AppendUint16(b, port)
	for _, s := range txt {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b
}

// SignTXT returns txt signed with key for the instance label and SRV
// port, at the time at: txt without any t or h strings, then
// "t=<at, unix milliseconds>", then "h=<MAC>". The instance label and
// the strings must be what DNS carries (at most 63 and 255 bytes; the
// Responder checks). It panics on the zero Key, as beacon.Key.Sign does.
func SignTXT(key beacon.Key, instance string, port uint16, txt []string, at time.Time) []string {
	out := make([]string, 0, len(txt)+2)
	for _, s := range txt {
		if k := txtKey(s); k != TXTTime && k != TXTMAC {
			out = append(out, s)
		}
	}
	out = append(out, TXTTime+"="+strconv.FormatInt(at.UnixMilli(), 10))
	mac := key.Sign(SignLabel, signedMessage(instance, port, out))
	return append(out, TXTMAC+"="+base64.RawURLEncoding.EncodeToString(mac))
}

// VerifyTXT checks the signature of txt, found under the instance label
// with the SRV port, against key, and its timestamp against now ± window
// (beacon.InWindow). It returns nil, or an error wrapping ErrUnsigned,
// ErrBadSignature or ErrBadTimestamp. It never panics, whatever txt
// holds. The zero Key verifies nothing (ErrBadSignature for every signed
// record).
func VerifyTXT(key beacon.Key, instance string, port uint16, txt []string, now time.Time, window time.Duration) error {
	var macs, stamps []string
	signed := make([]string, 0, len(txt))
	long := len(instance) > 255
	for _, s := range txt {
		long = long || len(s) > 255
		switch txtKey(s) {
		case TXTMAC:
			_, v, _ := strings.Cut(s, "=")
			macs = append(macs, v)
			continue
		case TXTTime:
			_, v, _ := strings.Cut(s, "=")
			stamps = append(stamps, v)
		}
		signed = append(signed, s)
	}
	switch {
	case len(macs) == 0:
		return ErrUnsigned
	case key.IsZero():
		return fmt.Errorf("%w: no key to check it with", ErrBadSignature)
	case long:
		return fmt.Errorf("%w: a name or string longer than DNS carries", ErrBadSignature)
	case len(macs) > 1:
		return fmt.Errorf("%w: %d h keys", ErrBadSignature, len(macs))
	}
	mac, err := base64.RawURLEncoding.DecodeString(macs[0])
	if err != nil || len(mac) != beacon.MACSize {
		return fmt.Errorf("%w: h is not base64url of %d bytes", ErrBadSignature, beacon.MACSize)
	}
	if !key.Verify(SignLabel, signedMessage(instance, port, signed), mac) {
		return fmt.Errorf("%w: MAC does not match", ErrBadSignature)
	}
	if len(stamps) != 1 {
		return fmt.Errorf("%w: %d t keys", ErrBadSignature, len(stamps))
	}
	ms, err := strconv.ParseInt(stamps[0], 10, 64)
	if err != nil || ms < 0 || stamps[0] == "" || stamps[0][0] < '0' || stamps[0][0] > '9' {
		return fmt.Errorf("%w: t %q is not a time", ErrBadSignature, stamps[0])
	}
	at := time.UnixMilli(ms)
	if !beacon.InWindow(at, now, window) {
		return fmt.Errorf("%w: signed %v, %v from here (window ±%v)", ErrBadTimestamp,
			at.UTC().Format(time.RFC3339Nano), now.Sub(at).Round(time.Millisecond), window)
	}
	return nil
}
