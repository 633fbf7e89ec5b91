package beacon

import (
	"context"
	"errors"
	"sync"
)

// Lifecycle errors.
var (
	// ErrClosed is returned by calls on a stopped Advertiser, Browser or
	// Merge (each runs once), and by RunOnce.Start after Close.
	ErrClosed = errors.New("beacon: closed")
	// ErrRunning is returned by a second concurrent Run (RunOnce.Start).
	ErrRunning = errors.New("beacon: already running")
)

// RunOnce is the Run(ctx) / Close life cycle that lanlobby's long-running
// components share (this package's Advertiser, Browser and Merge, the
// mDNS Responder and Browser, and whatever composes them), so they all
// behave alike: Run runs at most once; Close is idempotent, stops a
// running Run and waits for it; afterwards everything returns ErrClosed.
// The zero value is ready. It lives here, exported, because beacon is the
// lowest layer its users share.
//
// A component's Run starts with
//
//	ctx, finish, err := c.life.Start(ctx)
//	if err != nil {
//		return err
//	}
//	defer finish()
//
// and its Close calls c.life.Close().
type RunOnce struct {
	stateMu sync.Mutex // guards state, cancel, done, ready, isReady
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

// Start moves idle to running and returns Run's context, cancelled by
// Close, and the function Run must defer to mark itself finished. It
// fails with ErrRunning while Run runs and ErrClosed after Close or after
// Run returned.
func (l *RunOnce) Start(parent context.Context) (context.Context, func(), error) {
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
func (l *RunOnce) Close() {
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
func (l *RunOnce) Stopped() bool {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.state == stateStopped
}

// Ready is closed once Run has opened what it needs (MarkReady). A Run
// that fails first never closes it: a caller that must know whether a
// component started waits for Ready and Run's result together.
func (l *RunOnce) Ready() <-chan struct{} {
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

// MarkReady closes Ready: Run calls it once its set-up succeeded.
func (l *RunOnce) MarkReady() {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if l.isReady {
		return
	}
	l.isReady = true
	if l.ready != nil {
		close(l.ready)
	}
}
