//go:build !unix

package mdns

import "syscall"

// reuseControl: without SO_REUSEPORT the platform's defaults apply (on
// Windows the port may then be held exclusively by another mDNS stack).
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
