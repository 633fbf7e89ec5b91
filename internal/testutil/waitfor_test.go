package testutil

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTB records Fatalf and stops the caller as testing.T does.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// run calls WaitFor with a fake TB and returns its failure message, or "".
func run(timeout time.Duration, what string, cond func() bool) (msg string) {
	f := &fakeTB{}
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
		msg = f.msg
	}()
	WaitFor(f, timeout, what, cond)
	return ""
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 5 {
			n.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	if msg := run(time.Minute, "five", func() bool { return n.Load() == 5 }); msg != "" {
		t.Fatalf("failed: %s", msg)
	}
	calls := 0
	if msg := run(0, "true at once", func() bool { calls++; return true }); msg != "" || calls != 1 {
		t.Fatalf("a condition that holds at once: %q after %d calls", msg, calls)
	}
}

func TestWaitForFailsClearlyAtTheDeadline(t *testing.T) {
	start := time.Now()
	calls := 0
	msg := run(30*time.Millisecond, "the impossible", func() bool { calls++; return false })
	if msg != "timed out after 30ms waiting for the impossible" {
		t.Fatalf("message %q", msg)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("gave up after %v, before the deadline", d)
	}
	if calls < 2 {
		t.Fatalf("condition checked %d times", calls)
	}
}

// The last check of the condition comes after the deadline, however the
// sleeps fell.
func TestWaitForChecksAfterTheDeadline(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Millisecond, 7 * time.Millisecond, 30 * time.Millisecond} {
		start := time.Now()
		var last time.Time
		run(timeout, "never", func() bool { last = time.Now(); return false })
		if last.Sub(start) <= timeout {
			t.Errorf("timeout %v: last check %v after the start", timeout, last.Sub(start))
		}
	}
}
