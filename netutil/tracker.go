package netutil

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// TrackerConfig configures NewTracker; the zero value tracks the
// automatic interface choice.
type TrackerConfig struct {
	// Options chooses the interfaces.
	Options IfaceOptions
	// Watch configures the Watcher.
	Watch WatchConfig
	// Name starts log lines ("beacon: advertiser").
	Name string
	// Logger receives the changes (info) and the waiting (warn); nil
	// means slog.Default().
	Logger *slog.Logger

	// Lookup replaces LookupInterfaces (tests); nil means the machine's
	// interfaces.
	Lookup func() (IfaceStatus, error)
	// Changes replaces the Watcher's signals (tests); nil means a
	// Watcher.
	Changes <-chan struct{}
}

// Tracker is the interface choice of a long-running component: it looks
// the interfaces up when the component starts, watches for changes, and
// hands the component what changed; it keeps the status the component
// reports. Its owner calls Start, then Refresh on every signal of
// Changes, from one goroutine; Status is safe for concurrent use.
type Tracker struct {
	cfg     TrackerConfig
	log     *slog.Logger
	watcher *Watcher
	changes <-chan struct{}

	statusMu sync.Mutex // guards status
	status   IfaceStatus
}

// NewTracker returns a Tracker; nothing is looked up or watched before
// Start.
func NewTracker(cfg TrackerConfig) *Tracker {
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Name = cmp.Or(cfg.Name, "netutil")
	if cfg.Lookup == nil {
		opts := cfg.Options
		opts.Names = slices.Clone(opts.Names)
		cfg.Lookup = func() (IfaceStatus, error) { return LookupInterfaces(opts) }
	}
	return &Tracker{cfg: cfg, log: cfg.Logger}
}

// Start looks the interfaces up and starts watching. It fails when the
// interfaces cannot be listed, or when an interface named in
// Options.Names does not exist at all: a typo must not wait forever.
// A named interface that exists but is down or has no address yet, and an
// automatic choice that finds nothing, do not fail: the status says what
// is missing and Refresh picks the interfaces up when they come. On
// Linux, call it on the thread whose network namespace is to be used.
func (t *Tracker) Start() (IfaceStatus, error) {
	st, err := t.cfg.Lookup()
	if err != nil {
		return IfaceStatus{}, err
	}
	if errors.Is(st.Missing, ErrUnknownInterface) {
		return IfaceStatus{}, fmt.Errorf("%s: %w", t.cfg.Name, st.Missing)
	}
	t.changes = t.cfg.Changes
	if t.changes == nil {
		wc := t.cfg.Watch
		wc.Logger = cmp.Or(wc.Logger, t.log)
		t.watcher = NewWatcher(wc)
		t.changes = t.watcher.C()
	}
	t.setStatus(st)
	if st.Waiting() {
		t.log.Warn(t.cfg.Name+": waiting for a usable network interface", "status", st.String())
	} else if st.Missing != nil {
		t.log.Warn(t.cfg.Name+": some interfaces are not usable yet", "status", st.String())
	}
	return st, nil
}

// Changes returns the channel that signals a possible change; Refresh
// tells what it was. Nil before Start.
func (t *Tracker) Changes() <-chan struct{} { return t.changes }

// Refresh looks the interfaces up again and returns the new status and
// what changed since the last look (nothing when the signal was a false
// alarm). A failed lookup is logged and changes nothing.
func (t *Tracker) Refresh() (IfaceStatus, []IfaceChange) {
	old := t.Status()
	st, err := t.cfg.Lookup()
	if err != nil {
		t.log.Warn(t.cfg.Name+": cannot list interfaces", "err", err)
		return old, nil
	}
	changes := DiffIfaces(old.Ifaces, st.Ifaces)
	t.setStatus(st)
	switch {
	case len(changes) == 0:
	case st.Waiting():
		t.log.Warn(t.cfg.Name+": no usable network interface left, waiting", "status", st.String())
	default:
		t.log.Info(t.cfg.Name+": network changed", "status", st.String())
	}
	return st, changes
}

// Status returns the interfaces in use and what is missing; the zero
// IfaceStatus before Start.
func (t *Tracker) Status() IfaceStatus {
	t.statusMu.Lock()
	defer t.statusMu.Unlock()
	return IfaceStatus{Ifaces: slices.Clone(t.status.Ifaces), Missing: t.status.Missing}
}

func (t *Tracker) setStatus(st IfaceStatus) {
	t.statusMu.Lock()
	defer t.statusMu.Unlock()
	t.status = st
}

// Stop stops watching. It is idempotent.
func (t *Tracker) Stop() {
	if t.watcher != nil {
		t.watcher.Close()
	}
}
