//go:build !linux

package netutil

import (
	"errors"
	"log/slog"
)

// openNotifier: no change notifications here yet; the Watcher polls.
func openNotifier(*slog.Logger) (notifier, error) {
	return nil, errors.New("netutil: no interface change notifications on this platform")
}
