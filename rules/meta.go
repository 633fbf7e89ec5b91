package rules

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// ValidateMeta checks a lobby's metadata: at most MaxMetaKeys keys of
// 1..MaxMetaKeyLen bytes of text, values of 0..MaxMetaValueLen bytes of
// text, and MaxMetaBytes in all. Members show metadata ("map": "dunes"),
// so it is text like a name. The error wraps ErrMeta.
func ValidateMeta(meta map[string]string) error {
	if len(meta) > MaxMetaKeys {
		return errorf(ErrMeta, "%d metadata keys, the limit is %d", len(meta), MaxMetaKeys)
	}
	total := 0
	for k, v := range meta {
		if k == "" {
			return errorf(ErrMeta, "metadata key is empty")
		}
		if err := checkText(ErrMeta, "metadata key", k, MaxMetaKeyLen); err != nil {
			return err
		}
		if err := checkText(ErrMeta, "metadata value of "+strconv.Quote(k), v, MaxMetaValueLen); err != nil {
			return err
		}
		total += len(k) + len(v)
	}
	if total > MaxMetaBytes {
		return errorf(ErrMeta, "metadata is %d bytes, the limit is %d", total, MaxMetaBytes)
	}
	return nil
}

// ValidatePassword checks a private lobby's password: at most
// MaxPasswordLen bytes of UTF-8 without control characters or line
// separators, so that it can be typed, passed on a command line and sent
// in a JSON line. Unlike a name it is never shown, so it may hold any other
// character, and the error never quotes it. "" means a public lobby. The
// error wraps ErrPassword.
func ValidatePassword(p string) error {
	if len(p) > MaxPasswordLen {
		return errorf(ErrPassword, "password is %d bytes, the limit is %d", len(p), MaxPasswordLen)
	}
	if !utf8.ValidString(p) {
		return errorf(ErrPassword, "password is not valid UTF-8")
	}
	for _, r := range p {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			name, _ := describe(r)
			return errorf(ErrPassword, "password holds %s", name) // never the password itself
		}
	}
	return nil
}
