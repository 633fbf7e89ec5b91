package mdns

import (
	"context"
	"errors"

	"github.com/lanlobby/lanlobby/beacon"
)

// Lifecycle errors.
var (
	// ErrClosed is returned by calls on a stopped Responder or Browser (each
	// runs once), and by a Registration that was removed.
	ErrClosed = errors.New("mdns: closed")
	// ErrRunning is returned by a second concurrent Run.
	ErrRunning = errors.New("mdns: already running")
)

// lifecycle is beacon.RunOnce with this package's errors.
type lifecycle struct{ l beacon.RunOnce }

func (l *lifecycle) start(parent context.Context) (context.Context, func(), error) {
	ctx, finish, err := l.l.Start(parent)
	switch {
	case errors.Is(err, beacon.ErrRunning):
		return nil, nil, ErrRunning
	case err != nil:
		return nil, nil, ErrClosed
	}
	return ctx, finish, nil
}

func (l *lifecycle) close()                 { l.l.Close() }
func (l *lifecycle) markReady()             { l.l.MarkReady() }
func (l *lifecycle) ready() <-chan struct{} { return l.l.Ready() }
func (l *lifecycle) stopped() bool          { return l.l.Stopped() }
