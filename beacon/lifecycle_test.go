package beacon

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunOnce(t *testing.T) {
	var l RunOnce
	ctx, finish, err := l.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Start(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Start: %v", err)
	}
	if l.Stopped() {
		t.Fatal("stopped while running")
	}
	ran := make(chan struct{})
	go func() { // the Run this life cycle guards
		defer close(ran)
		defer finish()
		<-ctx.Done()
	}()
	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop Run")
	}
	<-ran
	l.Close() // idempotent
	if !l.Stopped() {
		t.Fatal("not stopped after Close")
	}
	if _, _, err := l.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	var never RunOnce
	never.Close()
	if _, _, err := never.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close of an idle life cycle: %v", err)
	}
}
