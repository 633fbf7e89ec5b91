// Package testutil holds what the project's tests share. It imports
// nothing of the project, so any package's tests may use it.
package testutil

import (
	"testing"
	"time"
)

// Polling intervals of WaitFor: the first check comes at once, the next
// after pollMin, then twice as long each time up to pollMax, so a quick
// condition is seen within a millisecond and a slow one costs little CPU
// on a busy machine.
const (
	pollMin = time.Millisecond
	pollMax = 20 * time.Millisecond
)

// WaitFor polls cond until it holds, and fails the test with
// "timed out after <timeout> waiting for <what>" when timeout passes first.
// The last check of cond comes after the deadline, so a test that was
// descheduled past it does not fail for that alone. Tests use it instead
// of sleeping: pick timeout as the longest a loaded machine may need, not
// as how long the event usually takes. Call it from the test's goroutine
// (it calls t.Fatalf).
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := pollMin
	for {
		expired := time.Now().After(deadline) // before cond: its last check comes after the deadline
		if cond() {
			return
		}
		if expired {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
			return
		}
		time.Sleep(min(wait, time.Until(deadline)+time.Millisecond))
		wait = min(2*wait, pollMax)
	}
}
