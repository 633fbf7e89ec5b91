package beacon

import (
	"context"
	"errors"

	"github.com/lanlobby/lanlobby/internal/runonce"
)

// Lifecycle errors.
var (
	// ErrClosed is returned by calls on a stopped Advertiser, Browser or
	// Merge: each runs once.
	ErrClosed = errors.New("beacon: closed")
	// ErrRunning is returned by a second concurrent Run.
	ErrRunning = errors.New("beacon: already running")
)

// lifecycle is runonce.Lifecycle with this package's errors.
type lifecycle struct{ l runonce.Lifecycle }

func (l *lifecycle) start(parent context.Context) (context.Context, func(), error) {
	ctx, finish, err := l.l.Start(parent)
	switch {
	case errors.Is(err, runonce.ErrRunning):
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
