//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package netutil

import "syscall"

// reuseControl does nothing on platforms without a known port-sharing
// option: one lanlobby process per host can listen there.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
