package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// stopGrace is how long Stop lets a process handle SIGTERM.
	stopGrace = 2 * time.Second
	// outputDelay bounds how long a Process waits, after its program exited,
	// for output still arriving through pipes that a leftover child holds
	// open (see exec.Cmd.WaitDelay).
	outputDelay = time.Second
	// maxLine splits pathological output without newlines.
	maxLine = 64 << 10
)

// ErrStillRunning is returned by Process.Wait when the timeout expires first.
var ErrStillRunning = errors.New("netlab: process still running")

// Contains returns a matcher for WaitForLine: lines containing sub.
func Contains(sub string) func(line string) bool {
	return func(line string) bool { return strings.Contains(line, sub) }
}

// Process is a long-running program started in a host with Host.Start. Its
// stdout and stderr are captured line by line, so that a test can wait for
// what it prints instead of sleeping.
type Process struct {
	// Cmd is the started command; Cmd.Process.Pid is the program's pid (and
	// its process group's id). Do not call Cmd.Wait: the Process does.
	Cmd *exec.Cmd

	desc string        // host and command line, for messages
	done chan struct{} // closed once the program exited and its output is in

	mu       sync.Mutex // guards everything below
	lines    []outLine  // append-only
	partial  [2][]byte  // unterminated tails of stdout and stderr
	cursor   [2]int     // per wait variant (all, stdout): lines already passed
	changed  chan struct{}
	exited   bool
	exitCode int
	exitErr  error
}

type outLine struct {
	text   string
	stderr bool
	at     time.Time // when it was read
}

// Start runs a program in h's namespace in its own process group and
// captures its output. The program is killed (SIGKILL to its process group)
// when t's cleanup runs, unless it ended before, so a forgotten process
// never outlives its test; lab teardown kills it too. If t failed, the
// cleanup logs the program's output. A program that cannot be started fails
// the test.
func (h *Host) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	cmd := h.Command(context.Background(), name, args...)
	return h.lab.startTest(t, cmd, h.Name+": "+strings.Join(append([]string{name}, args...), " "))
}

// startTest starts cmd with startProcess and ties it to t as Start
// documents: killed at t's cleanup, output logged if t failed.
func (l *Lab) startTest(t testing.TB, cmd *exec.Cmd, desc string) *Process {
	t.Helper()
	p, err := l.startProcess(cmd, desc)
	if err != nil {
		t.Fatalf("netlab: starting %s: %v", desc, err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("netlab: output of %s:\n%s", p.desc, p.format())
		}
	})
	return p
}

// startProcess starts cmd (made by a Command method, so with SysProcAttr
// set) in its own process group, capturing its output, and registers it
// with the lab, whose teardown kills it.
func (l *Lab) startProcess(cmd *exec.Cmd, desc string) (*Process, error) {
	cmd.SysProcAttr.Setpgid = true
	cmd.WaitDelay = outputDelay
	p := &Process{
		Cmd:     cmd,
		desc:    desc,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	cmd.Stdout = streamWriter{p, 0}
	cmd.Stderr = streamWriter{p, 1}

	// Under the lab's lock, so that Close either sees the process or
	// refuses it, never misses one that starts while it tears down.
	l.mu.Lock()
	err := ErrClosed
	if !l.closed {
		if err = cmd.Start(); err == nil {
			l.procs = append(l.procs, p)
		}
	}
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	err := p.Cmd.Wait()
	code := -1
	if ps := p.Cmd.ProcessState; ps != nil {
		code = ps.ExitCode()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() || errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited by itself; the code tells how
	}
	p.mu.Lock()
	for i := range p.partial {
		if len(p.partial[i]) > 0 {
			p.lines = append(p.lines, outLine{string(p.partial[i]), i == 1, time.Now()})
			p.partial[i] = nil
		}
	}
	p.exited, p.exitCode, p.exitErr = true, code, err
	p.notifyLocked()
	p.mu.Unlock()
	close(p.done)
}

// notifyLocked wakes every WaitForLine.
func (p *Process) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// streamWriter splits one output stream (0 stdout, 1 stderr) into lines.
type streamWriter struct {
	p      *Process
	stream int
}

func (w streamWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	buf := append(p.partial[w.stream], b...)
	n := len(p.lines)
	now := time.Now()
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 && len(buf) < maxLine {
			break
		}
		if i < 0 {
			i = len(buf) - 1
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(buf[:i+1]), "\n"), "\r")
		p.lines = append(p.lines, outLine{text, w.stream == 1, now})
		buf = buf[i+1:]
	}
	p.partial[w.stream] = bytes.Clone(buf)
	if len(p.lines) > n {
		p.notifyLocked()
	}
	return len(b), nil
}

// WaitForLine waits until the program prints, on stdout or stderr, a line
// for which match returns true, and returns it. It considers every line
// after the one its previous call matched (from the first line on the first
// call), including lines printed before the call, so a test can wait for
// events one after the other without racing the program. On timeout, or
// when the program exits without such a line, it fails the test with the
// output so far. Like t.Fatal it must be called from the test's goroutine.
//
// Lines of one stream keep their order, but stdout and stderr are separate
// pipes, so a stderr line may be read before a stdout line written earlier:
// when the order matters, wait on one stream (WaitForStdoutLine).
func (p *Process) WaitForLine(t testing.TB, timeout time.Duration, match func(line string) bool) string {
	t.Helper()
	return p.waitForLine(t, timeout, false, match)
}

// WaitForStdoutLine is WaitForLine ignoring stderr, for programs that log
// on stderr and report results on stdout. It keeps its own position,
// independent of WaitForLine's.
func (p *Process) WaitForStdoutLine(t testing.TB, timeout time.Duration, match func(line string) bool) string {
	t.Helper()
	return p.waitForLine(t, timeout, true, match)
}

// WaitForStdoutLineAt is WaitForStdoutLine that also returns when the
// line was read: a test waiting on several programs in turn measures when
// each printed, not when it got to it.
func (p *Process) WaitForStdoutLineAt(t testing.TB, timeout time.Duration, match func(line string) bool) (string, time.Time) {
	t.Helper()
	ln := p.waitLine(t, timeout, true, match)
	return ln.text, ln.at
}

func (p *Process) waitForLine(t testing.TB, timeout time.Duration, stdoutOnly bool, match func(string) bool) string {
	t.Helper()
	return p.waitLine(t, timeout, stdoutOnly, match).text
}

func (p *Process) waitLine(t testing.TB, timeout time.Duration, stdoutOnly bool, match func(string) bool) outLine {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	c := 0
	if stdoutOnly {
		c = 1
	}
	p.mu.Lock()
	next := p.cursor[c]
	p.mu.Unlock()
	for {
		p.mu.Lock()
		// Lines are append-only: the ones below len stay valid unlocked,
		// and match runs unlocked so that it may call Lines.
		fresh := p.lines[next:len(p.lines):len(p.lines)]
		exited, changed := p.exited, p.changed
		p.mu.Unlock()
		for i, ln := range fresh {
			if (!stdoutOnly || !ln.stderr) && match(ln.text) {
				p.mu.Lock()
				p.cursor[c] = max(p.cursor[c], next+i+1)
				p.mu.Unlock()
				return ln
			}
		}
		next += len(fresh)
		if exited {
			t.Fatalf("netlab: %s ended without printing the awaited line; output:\n%s", p.desc, p.format())
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("netlab: %s printed no awaited line within %v; output:\n%s", p.desc, timeout, p.format())
		}
	}
}

// Lines returns a snapshot of every line printed so far, stdout and stderr
// interleaved in the order they were read.
func (p *Process) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.lines))
	for i, ln := range p.lines {
		out[i] = ln.text
	}
	return out
}

// format renders the output for failure messages, marking stderr lines.
func (p *Process) format() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, ln := range p.lines {
		if ln.stderr {
			b.WriteString("  stderr| ")
		} else {
			b.WriteString("  stdout| ")
		}
		b.WriteString(ln.text)
		b.WriteByte('\n')
	}
	if p.exited {
		fmt.Fprintf(&b, "  (exit code %d, %v)\n", p.exitCode, p.exitErr)
	} else {
		b.WriteString("  (still running)\n")
	}
	return b.String()
}

// Signal sends sig to the program itself (not its process group); it
// returns os.ErrProcessDone once the program has ended.
func (p *Process) Signal(sig os.Signal) error {
	return p.Cmd.Process.Signal(sig)
}

// Stop ends the program: SIGTERM to its process group, then after 2 s
// SIGKILL, and returns once it has exited. Children that left the group or
// outlive the program are killed at lab teardown.
func (p *Process) Stop() {
	p.signalGroup(syscall.SIGTERM)
	if !p.waitDone(stopGrace) {
		p.kill()
	}
}

// Wait waits up to timeout for the program to end. It returns the exit code
// and a nil error when the program exited by itself (whatever the code),
// -1 and the *exec.ExitError when a signal ended it, -1 and an error
// wrapping ErrStillRunning on timeout.
func (p *Process) Wait(timeout time.Duration) (exitCode int, err error) {
	if !p.waitDone(timeout) {
		return -1, fmt.Errorf("%w after %v: %s", ErrStillRunning, timeout, p.desc)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitCode, p.exitErr
}

// kill SIGKILLs the process group and waits for the program to be reaped.
func (p *Process) kill() {
	p.signalGroup(syscall.SIGKILL)
	p.waitDone(killTimeout)
}

// signalGroup signals the program's process group while the program has not
// been reaped: after that its pid, and so the group id, may be reused.
func (p *Process) signalGroup(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.Cmd.Process.Pid, sig) // ESRCH: already gone
	}
}

func (p *Process) waitDone(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}
