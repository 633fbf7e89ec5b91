package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// component is what the beacon and mDNS parts share: Run owns the sockets
// until ctx ends or Close; Ready is closed once Run has opened them.
type component interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
	Close() error
}

// startTimeout bounds how long a component may take to open its sockets
// before it counts as failed: opening sockets takes well under a
// millisecond, so this only matters on a machine that is stuck.
const startTimeout = 2 * time.Second

// running is a set of components started together and stopped together.
type running struct {
	// spawn starts Run's goroutine (Config.spawn); set before start.
	spawn func(func())
	wg    sync.WaitGroup
	mu    sync.Mutex // guards errs
	errs  []error    // from Runs that ended with an error
	comp  []component
	once  sync.Once
}

// start runs c in a goroutine owned by r and waits until it has opened its
// sockets. It returns Run's error when Run ended before that.
func (r *running) start(ctx context.Context, name string, c component) error {
	done := make(chan error, 1)
	r.wg.Add(1)
	r.comp = append(r.comp, c)
	r.spawn(func() {
		defer r.wg.Done()
		err := c.Run(ctx)
		if err != nil && ctx.Err() == nil {
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
			r.mu.Unlock()
		}
		done <- err
	})
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case <-c.Ready():
		return nil
	case err := <-done:
		if err == nil {
			err = errors.New("stopped at once")
		}
		return err
	case <-t.C:
		return fmt.Errorf("did not start within %v", startTimeout)
	}
}

// stop closes every component and waits for their Runs; it is idempotent.
func (r *running) stop() {
	r.once.Do(func() {
		for _, c := range r.comp {
			c.Close()
		}
		r.wg.Wait()
	})
}

// failures returns the errors of Runs that ended on their own.
func (r *running) failures() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}
