// Package runonce is the Run(ctx) / Close life cycle shared by lanlobby's
// long-running components (the beacon advertiser, browser and merge, the
// mDNS responder and browser), so they all behave alike: Run at most once,
// Close idempotent, stopping Run and waiting for it.
package runonce

import (
	"context"
	"errors"
	"sync"
)

// Errors from Start; packages map them to their own exported sentinels.
var (
	ErrClosed  = errors.New("closed")
	ErrRunning = errors.New("already running")
)

// Lifecycle gives a component the Run(ctx) / Close contract: Run runs at
// most once; Close is idempotent, stops a running Run and waits for it.
// The zero value is ready.
type Lifecycle struct {
	stateMu sync.Mutex // guards state, cancel, done, ready
	state   int
	cancel  context.CancelFunc
	done    chan struct{}
	ready   chan struct{} // closed by MarkReady
	isReady bool
}

const (
	stateIdle = iota
	stateRunning
	stateStopped
)

// Start moves idle to running and returns Run's context and the function
// Run must defer to mark itself finished.
func (l *Lifecycle) Start(parent context.Context) (context.Context, func(), error) {
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

// Close stops the component and waits until Run has returned.
func (l *Lifecycle) Close() {
	l.stateMu.Lock()
	state, cancel, done := l.state, l.cancel, l.done
	l.state = stateStopped
	l.stateMu.Unlock()
	if state == stateRunning {
		cancel()
		<-done
	}
}

// Stopped reports whether Close was called or Run has finished.
func (l *Lifecycle) Stopped() bool {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.state == stateStopped
}

// Ready is closed once Run has opened what it needs (MarkReady). A Run
// that fails first never closes it: a caller that must know whether a
// component started waits for Ready and Run's result together.
func (l *Lifecycle) Ready() <-chan struct{} {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if l.ready == nil {
		l.ready = make(chan struct{})
		if l.isReady {
			close(l.ready)
		}
	}
	return l.ready
}

// MarkReady closes Ready: Run calls it after its set-up succeeded.
func (l *Lifecycle) MarkReady() {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	l.markReadyLocked()
}

func (l *Lifecycle) markReadyLocked() {
	if l.isReady {
		return
	}
	l.isReady = true
	if l.ready != nil {
		close(l.ready)
	}
}
