package netutil

import (
	"cmp"
	"log/slog"
	"sync"
	"time"
)

// Watcher defaults.
const (
	// DefaultDebounce is how long a Watcher waits after a change
	// notification for the rest of the burst: a link coming up brings its
	// link, IPv6 link-local, IPv4 address and route messages within a few
	// milliseconds.
	DefaultDebounce = 100 * time.Millisecond
	// DefaultPoll is the interval of the signal a Watcher sends anyway
	// where the platform has no change notifications: changes are then
	// seen within a second.
	DefaultPoll = time.Second
	// DefaultSafetyPoll is that interval where notifications work: a
	// safety net for a notification lost (a full netlink socket reports
	// ENOBUFS, which signals at once too).
	DefaultSafetyPoll = 5 * time.Second
)

// WatchConfig configures NewWatcher; the zero value is the default.
type WatchConfig struct {
	// Debounce is the quiet time after a change notification before the
	// signal; 0 means DefaultDebounce.
	Debounce time.Duration
	// MaxDelay bounds the time from the first notification of a burst to
	// the signal, however long the burst (a flapping link); 0 means
	// 5 × Debounce.
	MaxDelay time.Duration
	// Poll is the interval of the signal sent anyway; 0 means DefaultPoll
	// without change notifications and DefaultSafetyPoll with them;
	// negative means never (tests).
	Poll time.Duration
	// Logger receives notification failures; nil means slog.Default().
	Logger *slog.Logger
}

// Watcher tells its owner that the machine's interfaces or addresses may
// have changed: Wi-Fi came back, DHCP gave a new address, an interface or
// a VPN appeared or went. On Linux it listens to netlink (RTMGRP_LINK,
// RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR), debounced; elsewhere, and as a
// safety net, it signals periodically. The owner then looks at the
// interfaces again (LookupInterfaces) and compares (DiffIfaces): a
// signal is a hint, not a promise that something changed.
//
// On Linux a Watcher watches the network namespace of the thread that
// created it.
type Watcher struct {
	c      chan struct{}
	notify bool

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	notifier  notifier // nil without notifications
}

// notifier is a platform's source of change notifications.
type notifier interface {
	// run sends on events (without blocking) for every notification until
	// close; it returns at once after close, or when the source fails.
	run(events chan<- struct{})
	close()
}

// NewWatcher starts watching. Without change notifications (another
// platform, or netlink refused) it polls, which it logs at debug level;
// it never fails.
func NewWatcher(cfg WatchConfig) *Watcher {
	cfg.Debounce = cmp.Or(max(cfg.Debounce, 0), DefaultDebounce)
	cfg.MaxDelay = cmp.Or(max(cfg.MaxDelay, 0), 5*cfg.Debounce)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	w := &Watcher{c: make(chan struct{}, 1), stop: make(chan struct{})}
	n, err := openNotifier(cfg.Logger)
	if err != nil {
		cfg.Logger.Debug("netutil: no interface change notifications, polling", "err", err)
	}
	w.notifier, w.notify = n, n != nil
	poll := cfg.Poll
	if poll == 0 {
		poll = DefaultPoll
		if w.notify {
			poll = DefaultSafetyPoll
		}
	}
	events := make(chan struct{}, 1)
	notifierDone := make(chan struct{})
	if n != nil {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer close(notifierDone)
			n.run(events)
		}()
	}
	w.wg.Add(1)
	go w.loop(cfg, poll, events, notifierDone)
	return w
}

// C returns the channel that receives a value when the interfaces may
// have changed. It holds at most one: signals while the owner is busy
// merge.
func (w *Watcher) C() <-chan struct{} { return w.c }

// Notifying reports whether the platform's change notifications are in
// use (else the Watcher polls).
func (w *Watcher) Notifying() bool { return w.notify }

// Close stops the Watcher and waits for its goroutines. It is idempotent.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		if w.notifier != nil {
			w.notifier.close()
		}
		w.wg.Wait()
	})
	return nil
}

func (w *Watcher) signal() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// loop debounces the notifications and sends the periodic signal.
func (w *Watcher) loop(cfg WatchConfig, poll time.Duration, events <-chan struct{}, notifierDone <-chan struct{}) {
	defer w.wg.Done()
	d := debouncer{quiet: cfg.Debounce, max: cfg.MaxDelay}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	if w.notifier == nil {
		notifierDone = nil
	}
	for {
		if at, ok := d.due(); ok {
			timer.Reset(max(time.Until(at), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-w.stop:
			return
		case <-events:
			d.event(time.Now())
		case <-timer.C:
			if d.fire(time.Now()) {
				w.signal()
			}
		case <-tick:
			w.signal()
		case <-notifierDone:
			// The notifications failed (logged): poll as fast as a
			// platform without them, and look at once.
			notifierDone = nil
			if poll <= 0 || poll > DefaultPoll {
				t := time.NewTicker(DefaultPoll)
				defer t.Stop()
				tick = t.C
			}
			w.signal()
		}
	}
}

// debouncer turns a burst of notifications into one signal: due quiet
// after the last one, but no later than max after the first. It is pure:
// the caller passes the time.
type debouncer struct {
	quiet, max  time.Duration
	first, last time.Time
	pending     bool
}

// event records a notification at now.
func (d *debouncer) event(now time.Time) {
	if !d.pending {
		d.pending, d.first = true, now
	}
	d.last = now
}

// due returns when the signal is due; ok is false when nothing is
// pending.
func (d *debouncer) due() (at time.Time, ok bool) {
	if !d.pending {
		return time.Time{}, false
	}
	at = d.last.Add(d.quiet)
	if limit := d.first.Add(d.max); limit.Before(at) {
		at = limit
	}
	return at, true
}

// fire reports whether the signal is due at now, and if so clears the
// burst.
func (d *debouncer) fire(now time.Time) bool {
	at, ok := d.due()
	if !ok || now.Before(at) {
		return false
	}
	d.pending = false
	return true
}
