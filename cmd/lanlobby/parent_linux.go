package main

import (
	"context"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// watchParent calls stop when this process's parent dies, even by kill -9,
// so a coordinator a game started never outlives the game. The kernel's
// parent-death signal fires when the thread that started us exits, which
// in a multi-threaded game may happen while the game lives: so it is a
// signal of its own (SIGUSR1) that stops us only when we were really
// orphaned (our parent changed).
func watchParent(ctx context.Context, stop func()) error {
	parent := os.Getppid()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGUSR1)
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGUSR1), 0, 0, 0); err != nil {
		signal.Stop(sig)
		return err
	}
	go func() {
		defer signal.Stop(sig)
		for {
			if os.Getppid() != parent {
				stop() // orphaned, possibly before the prctl call
				return
			}
			select {
			case <-sig:
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}
