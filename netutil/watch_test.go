package netutil

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestDebouncer: a burst of notifications gives one signal, quiet after
// the last one, but never later than max after the first, however long
// the burst.
func TestDebouncer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	d := debouncer{quiet: 100 * time.Millisecond, max: 500 * time.Millisecond}
	if _, ok := d.due(); ok || d.fire(ms(0)) {
		t.Fatal("due with nothing pending")
	}
	d.event(ms(0))
	d.event(ms(30))
	d.event(ms(60))
	if at, ok := d.due(); !ok || !at.Equal(ms(160)) {
		t.Fatalf("due %v %v, want 160 ms", at.Sub(t0), ok)
	}
	if d.fire(ms(159)) {
		t.Fatal("fired before the quiet time")
	}
	if !d.fire(ms(160)) {
		t.Fatal("not fired at the quiet time")
	}
	if d.fire(ms(400)) {
		t.Fatal("fired twice for one burst")
	}
	// A notification every 50 ms without end: the signal comes at max
	// after the first, then a new burst starts.
	var fired []time.Duration
	for n := 1000; n <= 2200; n += 10 {
		if n%50 == 0 {
			d.event(ms(n))
		}
		if d.fire(ms(n)) {
			fired = append(fired, ms(n).Sub(t0))
		}
	}
	if len(fired) != 2 || fired[0] != 1500*time.Millisecond || fired[1] != 2050*time.Millisecond {
		t.Fatalf("storm fired at %v, want [1.5s 2.05s]", fired)
	}
}

// TestWatcherPolls: without notifications a Watcher signals every Poll,
// and Close stops it (goleak checks the goroutines).
func TestWatcherPolls(t *testing.T) {
	w := NewWatcher(WatchConfig{Poll: 10 * time.Millisecond})
	defer w.Close()
	for range 2 {
		select {
		case <-w.C():
		case <-time.After(waitTimeout):
			t.Fatal("no periodic signal")
		}
	}
	w.Close()
	w.Close() // idempotent
}

func statusOf(ifs ...Iface) func() (IfaceStatus, error) {
	return func() (IfaceStatus, error) { return IfaceStatus{Ifaces: ifs}, nil }
}

var (
	eth0 = Iface{Index: 2, Name: "eth0", Flags: mcast, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}
	wlan = Iface{Index: 3, Name: "wlan0", Flags: mcast, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/24")}}
)

// TestTrackerStart: a named interface that does not exist fails at once,
// naming it; no usable interface at all does not fail, and says so.
func TestTrackerStart(t *testing.T) {
	cands := []Candidate{cand(2, "eth0", mcast), cand(3, "wlan0", mcast&^net.FlagUp, "10.1.0.1/24")}
	lookup := func(opts IfaceOptions) func() (IfaceStatus, error) {
		return func() (IfaceStatus, error) { return SelectAvailable(cands, opts), nil }
	}
	never := make(chan struct{})
	_, err := NewTracker(TrackerConfig{Name: "test", Lookup: lookup(IfaceOptions{Names: []string{"nosuch0"}}), Changes: never}).Start()
	if !errors.Is(err, ErrUnknownInterface) || !contains(err.Error(), `"nosuch0"`) {
		t.Fatalf("unknown name: %v", err)
	}
	for name, opts := range map[string]IfaceOptions{
		"automatic":     {},
		"no address":    {Names: []string{"eth0"}},
		"down":          {Names: []string{"wlan0"}},
		"both unusable": {Names: []string{"eth0", "wlan0"}},
	} {
		tr := NewTracker(TrackerConfig{Name: "test", Lookup: lookup(opts), Changes: never, Logger: quietLog})
		st, err := tr.Start()
		if err != nil || !st.Waiting() || st.Missing == nil || !tr.Status().Waiting() {
			t.Errorf("%s: %v %v", name, st, err)
		}
		if !contains(st.String(), "no usable network interface yet") {
			t.Errorf("%s: status %q", name, st)
		}
		tr.Stop()
	}
}

// TestTrackerRefresh: Refresh reports interfaces added, changed and
// removed, and nothing on a false alarm.
func TestTrackerRefresh(t *testing.T) {
	cur := statusOf()
	tr := NewTracker(TrackerConfig{Lookup: func() (IfaceStatus, error) { return cur() }, Changes: make(chan struct{}), Logger: quietLog})
	if st, err := tr.Start(); err != nil || !st.Waiting() {
		t.Fatal(st, err)
	}
	cur = statusOf(eth0)
	if st, ch := tr.Refresh(); len(ch) != 1 || !ch[0].Added() || ch[0].New.Name != "eth0" || st.Waiting() {
		t.Fatalf("added: %+v %v", ch, st)
	}
	if _, ch := tr.Refresh(); len(ch) != 0 {
		t.Fatalf("false alarm: %+v", ch)
	}
	moved := eth0
	moved.Prefixes = []netip.Prefix{netip.MustParsePrefix("10.0.0.9/24")}
	cur = statusOf(moved, wlan)
	_, ch := tr.Refresh()
	if len(ch) != 2 {
		t.Fatalf("changes %+v", ch)
	}
	for _, c := range ch {
		switch c.New.Name {
		case "eth0":
			if c.Added() || c.Removed() || len(c.Lost()) != 1 || c.Lost()[0] != netip.MustParseAddr("10.0.0.1") ||
				len(c.Gained()) != 1 || c.Gained()[0] != netip.MustParseAddr("10.0.0.9") {
				t.Errorf("eth0 change %+v", c)
			}
		case "wlan0":
			if !c.Added() {
				t.Errorf("wlan0 change %+v", c)
			}
		}
	}
	cur = statusOf(wlan)
	if _, ch := tr.Refresh(); len(ch) != 1 || !ch[0].Removed() || ch[0].Old.Name != "eth0" || len(ch[0].Lost()) != 1 {
		t.Fatalf("removed: %+v", ch)
	}
	// Carrier back: same addresses, running again, is a change.
	down := wlan
	down.Flags &^= net.FlagRunning
	cur = statusOf(down)
	tr.Refresh()
	cur = statusOf(wlan)
	if _, ch := tr.Refresh(); len(ch) != 1 || ch[0].Added() || ch[0].Removed() {
		t.Fatalf("carrier back: %+v", ch)
	}
	tr.Stop()
}
