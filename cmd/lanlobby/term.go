package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// What the CLI does on a terminal, and never elsewhere: a progress line on
// waits over a second, the live screen of watch, colour. None of it with
// NO_COLOR set, TERM=dumb, or output that is not a terminal (a pipe, a
// file, a game reading our stdout).

// fancy reports whether w is a terminal that takes more than plain lines.
func fancy(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressDelay is how long a wait lasts before the progress line shows.
const progressDelay = time.Second

var spinnerFrames = []string{"|", "/", "-", "\\"}

// progress shows a spinner with what is being waited for, on a fancy
// terminal, once the wait has lasted progressDelay; stop erases it.
type progress struct {
	mu      sync.Mutex // guards msg and shown
	w       io.Writer
	msg     string
	shown   bool
	started time.Time
	quit    chan struct{}
	done    chan struct{}
}

// startProgress starts a progress line for msg on w (nothing happens
// unless w is a fancy terminal).
func startProgress(w io.Writer, msg string) *progress {
	p := &progress{w: w, msg: msg, started: time.Now(), quit: make(chan struct{}), done: make(chan struct{})}
	if !fancy(w) {
		close(p.done)
		return p
	}
	go p.run()
	return p
}

func (p *progress) run() {
	defer close(p.done)
	select {
	case <-time.After(progressDelay):
	case <-p.quit:
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		p.mu.Lock()
		fmt.Fprintf(p.w, "\r\x1b[K%s %s (%ds)", spinnerFrames[i%len(spinnerFrames)], p.msg, int(time.Since(p.started).Seconds()))
		p.shown = true
		p.mu.Unlock()
		select {
		case <-t.C:
		case <-p.quit:
			return
		}
	}
}

// set changes what is being waited for.
func (p *progress) set(msg string) {
	p.mu.Lock()
	p.msg = msg
	p.mu.Unlock()
}

// stop erases the progress line; idempotent.
func (p *progress) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}
