package mdns

import (
	"context"
	"errors"
	"sync"
)

// Lifecycle errors.
var (
	// ErrClosed is returned by calls on a stopped Responder or Browser (each
	// runs once), and by a Registration that was removed.
	ErrClosed = errors.New("mdns: closed")
	// ErrRunning is returned by a second concurrent Run.
	ErrRunning = errors.New("mdns: already running")
)

// lifecycle gives a component the Run(ctx) / Close contract: Run runs at
// most once; Close is idempotent, stops a running Run and waits for it.
type lifecycle struct {
	stateMu sync.Mutex // guards state, cancel, done
	state   int
	cancel  context.CancelFunc
	done    chan struct{}
}

const (
	stateIdle = iota
	stateRunning
	stateStopped
)

// start moves idle to running and returns Run's context and the function
// Run must defer to mark itself finished.
func (l *lifecycle) start(parent context.Context) (context.Context, func(), error) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	switch l.state {
	case stateRunning:
		return nil, nil, ErrRunning
	case stateStopped:
		return nil, nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(parent)
	l.state, l.cancel, l.done = stateRunning, cancel, make(chan struct{})
	finish := func() {
		cancel()
		l.stateMu.Lock()
		l.state = stateStopped
		l.stateMu.Unlock()
		close(l.done)
	}
	return ctx, finish, nil
}

// close stops the component and waits until Run has returned.
func (l *lifecycle) close() {
	l.stateMu.Lock()
	state, cancel, done := l.state, l.cancel, l.done
	l.state = stateStopped
	l.stateMu.Unlock()
	if state == stateRunning {
		cancel()
		<-done
	}
}

func (l *lifecycle) stopped() bool {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.state == stateStopped
}
