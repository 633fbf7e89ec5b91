package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/netlab"
)

// The conformance run: the Go, C# and Python clients follow the same
// script (conformance/script.json) against a real coordinator, each through
// its driver (conformance/README.md), every role played by every language in
// turn; a wireProxy between each client and the coordinator checks every
// line against PROTOCOL.md's rules.

// confScript is conformance/script.json.
type confScript struct {
	HeartbeatMS   int `json:"heartbeat_ms"`
	Misses        int `json:"misses"`
	ResumeGraceMS int `json:"resume_grace_ms"`
	Roles         map[string]struct {
		Player string `json:"player"`
		Port   int    `json:"port"`
		Lang   string `json:"lang"` // the takeover run: who plays the role
	} `json:"roles"`
	Vars  map[string]string `json:"vars"`
	Steps []confStep        `json:"steps"`
	// Takeover and TakeoverCut are the takeover runs' scripts
	// (conformance_takeover_test.go): the host killed, the host's cable
	// cut silently and healed.
	Takeover    *confScript `json:"takeover"`
	TakeoverCut *confScript `json:"takeover_cut"`
}

type confStep struct {
	Name       string                      `json:"name"`
	Rule       string                      `json:"rule"`
	Actor      any                         `json:"actor"` // a role or a list of roles
	Do         string                      `json:"do"`
	Args       map[string]any              `json:"args"`
	Save       map[string]string           `json:"save"`
	Expect     map[string]any              `json:"expect"`
	ExpectEach map[string]map[string]any   `json:"expect_each"`
	Events     map[string][]map[string]any `json:"events"`
	// WithinMS: every event of the step within this long of its cause (the
	// step's action), for all roles together; default confEventTimeout per
	// role.
	WithinMS int `json:"within_ms"`
	// OnHost: the reply's coordinator is on this role's lab host (or
	// "daemon": the one a start_daemon step started).
	OnHost string `json:"on_host"`
}

func (s confStep) actors() []string {
	switch a := s.Actor.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// Timeouts of the run: generous, as the machine may be loaded; a step waits
// only as long as it takes.
const (
	confReplyTimeout = 20 * time.Second // a reply (the first includes a cold mono or python start)
	confEventTimeout = 5 * time.Second  // an event after its cause, unless the step says within_ms
	confQuiet        = 300 * time.Millisecond
	confMinPings     = 3 // answered while idle: the heartbeat ran
)

// rotations: which language plays roles A, B, C; every language plays
// every role once.
var rotations = [][3]string{{"go", "csharp", "python"}, {"csharp", "python", "go"}, {"python", "go", "csharp"}}

func loadScript(t *testing.T) *confScript {
	t.Helper()
	var sc confScript
	readJSON(t, "conformance/script.json", &sc)
	if len(sc.Steps) == 0 || sc.HeartbeatMS <= 0 || sc.Misses <= 0 || len(sc.Roles) != 3 {
		t.Fatalf("conformance/script.json: %d steps, heartbeat %d ms, %d misses, %d roles", len(sc.Steps), sc.HeartbeatMS, sc.Misses, len(sc.Roles))
	}
	return &sc
}

// driverArgv is how each language's driver is run.
func driverArgv(t *testing.T) map[string][]string {
	t.Helper()
	py := need(t, "python3", "python3")
	mono := need(t, "mono", "mono-runtime")
	exe := buildCSharp(t)
	pyDriver, _ := filepath.Abs("python/tests/conform_driver.py")
	return map[string][]string{"go": {goDriverPath}, "csharp": {mono, exe, "conform"}, "python": {py, pyDriver}}
}

// TestConformance runs the script for every rotation of languages over
// roles, against a coordinator daemon on loopback (clients given its
// address; pinned to lo, --announce=false) and zero-config in a lab
// (a daemon on h1, clients on h2-h4 that find it and the lobby by beacon).
func TestConformance(t *testing.T) {
	sc := loadScript(t)
	argv := driverArgv(t)
	t.Run("loopback", func(t *testing.T) {
		for i, rot := range rotations {
			t.Run(strings.Join(rot[:], "-"), func(t *testing.T) {
				coord := startLoopbackCoordinator(t, sc)
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				r := newConfRun(t, sc, rot, fmt.Sprintf("conf%d", i+1))
				r.proxy = newWireProxy(t, []net.Listener{ln}, func() (net.Conn, error) {
					return net.DialTimeout("tcp", coord, 2*time.Second)
				}, r.pongBound(), r.who)
				r.coordinator = ln.Addr().String()
				for k, role := range []string{"A", "B", "C"} {
					r.start(role, rot[k], argv[rot[k]], nil, "127.0.0.1")
				}
				r.run()
			})
		}
	})
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t, netlab.Options{Hosts: 4})
		h1 := lab.Hosts[0]
		for i, rot := range rotations {
			t.Run(strings.Join(rot[:], "-"), func(t *testing.T) {
				bport := 17610 + i // a beacon port per rotation: no daemon of another rotation is found
				port := startLabCoordinator(t, sc, h1, bport)
				lns := make([]net.Listener, 0, 2)
				if err := h1.Do(func() error {
					for _, a := range []netip.Addr{h1.IPv4, h1.IPv6} {
						ln, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(port)).String())
						if err != nil {
							return err
						}
						lns = append(lns, ln)
					}
					return nil
				}); err != nil {
					t.Fatalf("proxy listeners on h1 beside the coordinator's loopback port %d: %v", port, err)
				}
				r := newConfRun(t, sc, rot, fmt.Sprintf("lab%d", i+1))
				r.proxy = newWireProxy(t, lns, func() (net.Conn, error) {
					var c net.Conn
					err := h1.Do(func() (err error) {
						c, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
						return err
					})
					return c, err
				}, r.pongBound(), r.who)
				r.lan = &confLAN{iface: labIface, beaconPort: bport, coordinators: []string{
					netip.AddrPortFrom(h1.IPv4, uint16(port)).String(), netip.AddrPortFrom(h1.IPv6, uint16(port)).String()}}
				for k, role := range []string{"A", "B", "C"} {
					h := lab.Hosts[k+1]
					r.start(role, rot[k], argv[rot[k]], h, h.IPv4.String())
				}
				r.run()
			})
		}
	})
}

// startLoopbackCoordinator runs a daemon on 127.0.0.1 that announces
// nothing, with the script's heartbeat; returns its address.
func startLoopbackCoordinator(t *testing.T, sc *confScript) string {
	cmd := startProc(t, binPath, append([]string{"coordinator", "--listen", "127.0.0.1:0", "--announce=false", "--json"}, coordFlags(sc)...)...)
	stdout, _ := cmd.StdoutPipe()
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("coordinator log:\n%s", logs.String())
		}
	})
	var l struct{ Addr string }
	if err := json.NewDecoder(stdout).Decode(&l); err != nil || l.Addr == "" {
		t.Fatalf("coordinator listening line: %v %+v", err, l)
	}
	go io.Copy(io.Discard, stdout)
	return l.Addr
}

// startLabCoordinator runs a daemon on h1 that listens on its loopback only
// (the proxy takes the same port on h1's LAN addresses) and announces itself
// and its lobbies by beacon on the lab's LAN; returns its port.
func startLabCoordinator(t *testing.T, sc *confScript, h1 *netlab.Host, beaconPort int) int {
	p := h1.Start(t, binPath, append([]string{"coordinator", "--listen", "127.0.0.1:0", "--interface", labIface, "--no-mdns",
		"--beacon-port", strconv.Itoa(beaconPort), "--json"}, coordFlags(sc)...)...)
	l := waitJSON(t, p, 15*time.Second, "listening", nil)
	port, _ := l["port"].(float64)
	if port == 0 {
		t.Fatalf("coordinator listening line %v", l)
	}
	return int(port)
}

func coordFlags(sc *confScript) []string {
	return []string{"--heartbeat", fmt.Sprintf("%dms", sc.HeartbeatMS), "--misses", strconv.Itoa(sc.Misses),
		"--resume-grace", fmt.Sprintf("%dms", sc.ResumeGraceMS)}
}

// confLAN: the zero-config mode's settings.
type confLAN struct {
	iface        string
	beaconPort   int
	coordinators []string // the addresses a client may find the daemon at (the proxy's)
}

type confRole struct {
	player, lang, addr string
	port               int
	id                 string
	d                  *confDriver
	h                  *netlab.Host // its lab host (nil on loopback)
}

// confRun is one run of the script with one rotation.
type confRun struct {
	t           *testing.T
	sc          *confScript
	rot         [3]string
	proxy       *wireProxy
	coordinator string   // loopback mode: where clients connect
	lan         *confLAN // zero-config mode
	roles       map[string]*confRole
	vars        map[string]any
	seq         int
	daemonHost  *netlab.Host             // where a start_daemon step started a coordinator daemon
	took        map[string]time.Duration // measured: how long after its cause an event came, by "role event"
	cause       time.Time                // when the last step's action was done
}

func newConfRun(t *testing.T, sc *confScript, rot [3]string, game string) *confRun {
	r := &confRun{t: t, sc: sc, rot: rot, roles: map[string]*confRole{},
		vars: map[string]any{"game": game, "game2": game + "-auto", "game3": game + "-party", "game4": game + "-subs"}}
	for k, v := range sc.Vars {
		r.vars[k] = v
	}
	return r
}

// pongBound: a client must answer a ping within the coordinator's
// tolerance, heartbeat × misses.
func (r *confRun) pongBound() time.Duration {
	return time.Duration(r.sc.HeartbeatMS*r.sc.Misses) * time.Millisecond
}

// who names a member by role and language, for messages.
func (r *confRun) who(member string) string {
	for name, role := range r.roles {
		if role.id == member && member != "" {
			return fmt.Sprintf("%s, %s", name, role.lang)
		}
	}
	return "member " + member
}

func (r *confRun) start(role, lang string, argv []string, h *netlab.Host, ip string) {
	cfg := r.sc.Roles[role]
	iface := "lo"
	if h != nil {
		iface = labIface
	}
	env := []string{"LANLOBBY_BIN=" + binPath, "LANLOBBY_INTERFACE=" + iface, "PYTHONDONTWRITEBYTECODE=1"}
	r.roles[role] = &confRole{player: cfg.Player, lang: lang, port: cfg.Port, addr: fmt.Sprintf("%s:%d", ip, cfg.Port),
		d: startDriver(r.t, role+" ("+lang+")", argv, env, h), h: h}
}

// run carries out every step, then checks that nothing was left over.
func (r *confRun) run() {
	t := r.t
	start := time.Now()
	for i, st := range r.sc.Steps {
		r.step(i+1, st)
		if v := r.proxy.check(); len(v) > 0 {
			t.Fatalf("after step %d %q, the protocol was broken:\n%s", i+1, st.Name, strings.Join(v, "\n"))
		}
	}
	r.finish(start)
}

// finish checks that nothing more came, and ends the drivers.
func (r *confRun) finish(start time.Time) {
	t := r.t
	// Nothing more may come: every event was expected.
	time.Sleep(confQuiet)
	for _, name := range r.live() {
		if evs := r.roles[name].d.pending(); len(evs) > 0 {
			t.Errorf("[rule notices: every notice as expected, no more] %s got unexpected events at the end: %s", r.label(name), jsonStr(evs))
		}
	}
	for _, name := range r.live() {
		r.roles[name].d.quit(t)
	}
	if v := r.proxy.check(); len(v) > 0 {
		t.Fatalf("at the end, the protocol was broken:\n%s", strings.Join(v, "\n"))
	}
	t.Logf("%d steps for %s in %v", len(r.sc.Steps), strings.Join(r.rot[:], ", "), time.Since(start).Round(time.Millisecond))
}

func (r *confRun) live() []string {
	var out []string
	for name, role := range r.roles {
		if !role.d.killed {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (r *confRun) label(role string) string { return fmt.Sprintf("%s (%s)", role, r.roles[role].lang) }

func (r *confRun) fail(n int, st confStep, format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d %q [rule %s]: %s", n, st.Name, st.Rule, fmt.Sprintf(format, args...))
}

func (r *confRun) step(n int, st confStep) {
	t := r.t
	t.Helper()
	role := func(key string) *confRole {
		name, _ := st.Args[key].(string)
		ro := r.roles[name]
		if ro == nil {
			r.fail(n, st, "no role %q", name)
		}
		return ro
	}
	var err error
	switch st.Do {
	case "none": // only the events of what happened before
	case "idle":
		intervals, _ := st.Args["intervals"].(float64)
		before := map[string]int{}
		for _, name := range r.live() {
			before[name] = r.proxy.answered(r.roles[name].id)
		}
		time.Sleep(time.Duration(intervals) * time.Duration(r.sc.HeartbeatMS) * time.Millisecond)
		for _, name := range r.live() {
			if evs := r.roles[name].d.pending(); len(evs) > 0 {
				r.fail(n, st, "%s got notices while everyone was idle: %s", r.label(name), jsonStr(evs))
			}
			// Pings kept coming and were answered (the proxy holds every
			// one to its bound; a loaded machine may ping less often, so
			// the count is only evidence, waited for).
			deadline := time.Now().Add(confEventTimeout)
			for r.proxy.answered(r.roles[name].id)-before[name] < confMinPings {
				if time.Now().After(deadline) {
					r.fail(n, st, "%s answered %d pings", r.label(name), r.proxy.answered(r.roles[name].id)-before[name])
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	case "freeze":
		err = r.proxy.freeze(role("role").id)
	case "cut_upstream":
		// The coordinator takes a link that closes after a silence of a
		// heartbeat interval or more for a blip: make sure it was silent.
		intervals, _ := st.Args["silent_intervals"].(float64)
		err = r.proxy.cutUpstream(role("role").id, time.Duration(intervals)*time.Duration(r.sc.HeartbeatMS)*time.Millisecond)
	case "cut_client":
		err = r.proxy.cutClient(role("role").id)
	case "kill":
		ro := role("role")
		r.proxy.markKilled(ro.id)
		ro.d.kill()
	case "start_daemon":
		r.startDaemon(n, st, role("role"))
	case "silence", "heal":
		// The role's lab host's cable cut silently (or healed): its
		// packets vanish, nobody is told.
		ro := role("role")
		if ro.h == nil {
			r.fail(n, st, "%s needs the lab", st.Do)
		}
		err = ro.h.SetLinkSilent(st.Do == "silence")
	case "discard":
		// What a role saw that the run does not check (a cut-off host's
		// view of its members going away, in whatever order).
		role("role").d.pending()
	default:
		r.driverStep(n, st)
	}
	if err != nil {
		r.fail(n, st, "%v", err)
	}
	// A step that does nothing waits for more of the previous step's
	// events: their cause is that step's action.
	cause := time.Now()
	if st.Do == "none" && !r.cause.IsZero() {
		cause = r.cause
	}
	r.cause = cause
	within := confEventTimeout
	var deadline time.Time
	if st.WithinMS > 0 {
		within = time.Duration(st.WithinMS) * time.Millisecond
		deadline = cause.Add(within)
	}
	names := make([]string, 0, len(st.Events))
	for name := range st.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := deadline
		if d.IsZero() {
			d = time.Now().Add(within)
		}
		r.expectEvents(n, st, name, st.Events[name], cause, d)
	}
}

// driverStep sends the step's command to each actor and checks the replies.
func (r *confRun) driverStep(n int, st confStep) {
	actors := st.actors()
	if len(actors) == 0 {
		r.fail(n, st, "no actor for %q", st.Do)
	}
	seqs := map[string]int{}
	for _, name := range actors {
		ro := r.roles[name]
		if ro == nil || ro.d.killed {
			r.fail(n, st, "actor %s is not running", name)
		}
		c := map[string]any{}
		for k, v := range st.Args {
			c[k] = r.expand(v)
		}
		switch st.Do {
		case "host", "quick_join":
			c["player"] = ro.player
			if r.lan != nil {
				c["interface"], c["beacon_port"] = r.lan.iface, r.lan.beaconPort
				if _, given := c["wait_ms"]; !given {
					c["wait_ms"] = 3000
				}
			} else {
				c["coordinator"] = r.coordinator
			}
		}
		switch st.Do {
		case "host", "quick_join", "join", "create":
			// On loopback the coordinator pairs the port with the address it
			// sees; through the lab's proxy it sees the proxy, so the
			// clients give their full address.
			if r.lan != nil {
				c["addr"] = ro.addr
			} else {
				c["port"] = ro.port
			}
		}
		r.seq++
		c["seq"], c["do"] = r.seq, st.Do
		seqs[name] = r.seq
		ro.d.send(r.t, c)
	}
	for _, name := range actors {
		ro := r.roles[name]
		reply, err := ro.d.reply(seqs[name], confReplyTimeout)
		if err != nil {
			r.fail(n, st, "%s: %v", r.label(name), err)
		}
		if st.OnHost != "" {
			// A client told its lobby moved follows it by itself: ask
			// again until it is there.
			for deadline := time.Now().Add(confEventTimeout); !r.onHost(name, st.OnHost, reply) && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				r.seq++
				ro.d.send(r.t, map[string]any{"seq": r.seq, "do": st.Do})
				if reply, err = ro.d.reply(r.seq, confReplyTimeout); err != nil {
					r.fail(n, st, "%s: %v", r.label(name), err)
				}
			}
		}
		want := st.Expect
		if st.ExpectEach != nil {
			want = st.ExpectEach[name]
		}
		wantOK := true
		if ok, has := want["ok"].(bool); has {
			wantOK = ok
		}
		if got, _ := reply["ok"].(bool); got != wantOK {
			r.fail(n, st, "%s answered %s, want ok=%v", r.label(name), jsonStr(reply), wantOK)
		}
		for key, path := range st.Save {
			v := dig(reply, path)
			if v == nil {
				r.fail(n, st, "%s's reply has no %s: %s", r.label(name), path, jsonStr(reply))
			}
			if role, ok := strings.CutSuffix(key, ".id"); ok && r.roles[role] != nil {
				r.roles[role].id, _ = v.(string)
			} else {
				r.vars[key] = v
			}
		}
		if err := match("", r.expand(want), reply); err != nil {
			r.fail(n, st, "%s's reply: %v\n  reply: %s", r.label(name), err, jsonStr(reply))
		}
		if st.OnHost != "" {
			r.checkOnHost(n, st, name, reply)
		}
		if r.lan != nil && len(r.lan.coordinators) > 0 && (st.Do == "host" || st.Do == "quick_join") {
			if c, _ := reply["coordinator"].(string); !contains(r.lan.coordinators, c) {
				r.fail(n, st, "%s used coordinator %q, not the daemon it should find by beacon at %v", r.label(name), c, r.lan.coordinators)
			}
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// expectEvents takes role's next events and matches them in order against
// want; a pattern marked optional may be absent.
func (r *confRun) expectEvents(n int, st confStep, name string, want []map[string]any, cause, deadline time.Time) {
	ro := r.roles[name]
	var ev map[string]any
	for i := 0; i < len(want); i++ {
		w := map[string]any{}
		for k, v := range want[i] {
			w[k] = v
		}
		optional, _ := w["optional"].(bool)
		delete(w, "optional")
		w = r.expand(w).(map[string]any)
		if ev == nil {
			var err error
			if ev, err = ro.d.nextEvent(time.Until(deadline)); err != nil {
				r.fail(n, st, "%s: no %s event: %v (want %s)", r.label(name), w["event"], err, jsonStr(w))
			}
		}
		if err := match("", w, ev); err != nil {
			if optional {
				continue // the same event against the next pattern
			}
			r.fail(n, st, "%s got an event other than the one due: %v\n  want: %s\n  got:  %s", r.label(name), err, jsonStr(w), jsonStr(ev))
		}
		if at, ok := ev["_at"].(time.Time); ok && st.WithinMS > 0 {
			took := at.Sub(cause)
			if took > time.Duration(st.WithinMS)*time.Millisecond {
				r.fail(n, st, "%s got %s %v after its cause, want within %d ms", r.label(name), ev["event"], took, st.WithinMS)
			}
			if r.took != nil {
				r.took[fmt.Sprintf("%s %s", r.label(name), ev["event"])] = took
			}
		}
		ev = nil
	}
	if ev != nil {
		r.fail(n, st, "%s got an unexpected event: %s", r.label(name), jsonStr(ev))
	}
}

// expand replaces $names: $X is role X as a member, $X.id its id, $v a
// variable.
func (r *confRun) expand(v any) any {
	switch x := v.(type) {
	case string:
		name, ok := strings.CutPrefix(x, "$")
		if !ok {
			return x
		}
		role, field, _ := strings.Cut(name, ".")
		if ro := r.roles[role]; ro != nil {
			m := map[string]any{"id": ro.id, "name": ro.player, "addr": ro.addr}
			if field == "" {
				return m
			}
			return m[field]
		}
		if val, ok := r.vars[name]; ok {
			return val
		}
		r.t.Fatalf("script: unknown variable %s", x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.expand(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = r.expand(e)
		}
		return out
	}
	return v
}

// match checks that got has want: maps by their keys, lists of objects in
// length and order; a list of strings where got has a string is "any of".
func match(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %s", orRoot(path), jsonStr(got))
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, has := g[k]
			if !has {
				return fmt.Errorf("%s.%s: missing", orRoot(path), k)
			}
			if err := match(path+"."+k, w[k], gv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if s, isStr := got.(string); isStr {
			for _, x := range w {
				if x == s {
					return nil
				}
			}
			return fmt.Errorf("%s: want one of %s, got %q", orRoot(path), jsonStr(w), s)
		}
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: want %s, got %s", orRoot(path), jsonStr(w), jsonStr(got))
		}
		for i := range w {
			if err := match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("%s: want %s, got %s", orRoot(path), jsonStr(want), jsonStr(got))
	}
	return nil
}

func orRoot(path string) string {
	if path == "" {
		return "(reply)"
	}
	return strings.TrimPrefix(path, ".")
}

func dig(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func jsonStr(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// confDriver is one language's driver process: commands on its stdin,
// replies and events as JSON lines on its stdout.
type confDriver struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	killed bool

	mu      sync.Mutex
	replies map[int]map[string]any
	events  []map[string]any
	other   []string // lines that are neither
	// progress counts the reconnecting events: progress reports, timed by
	// the client's clock, not part of the script's sequence.
	progress int
	stderr   bytes.Buffer
	exited   bool
	changed  chan struct{}
	done     chan struct{}
}

// maxDriverLog bounds what a driver's stderr keeps for the failure report.
const maxDriverLog = 64 << 10

func startDriver(t *testing.T, name string, argv, env []string, h *netlab.Host) *confDriver {
	t.Helper()
	var cmd *exec.Cmd
	if h != nil {
		cmd = h.Command(context.Background(), "/usr/bin/env", append(env, argv...)...)
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	cmd.SysProcAttr.Setpgid = true
	d := &confDriver{name: name, cmd: cmd, replies: map[int]map[string]any{}, changed: make(chan struct{}), done: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = driverLog{d}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the %s driver: %v", name, err)
	}
	d.stdin = stdin
	go d.read(stdout)
	t.Cleanup(func() {
		d.stdin.Close()
		select {
		case <-d.done:
		case <-time.After(3 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
		cmd.Wait()
		if t.Failed() {
			d.mu.Lock()
			t.Logf("driver %s: stderr:\n%s\nother output: %s", name, d.stderr.String(), strings.Join(d.other, "\n"))
			d.mu.Unlock()
		}
	})
	return d
}

type driverLog struct{ d *confDriver }

func (w driverLog) Write(b []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.d.stderr.Len() < maxDriverLog {
		w.d.stderr.Write(b)
	}
	return len(b), nil
}

func (d *confDriver) read(stdout io.Reader) {
	defer close(d.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		err := json.Unmarshal(sc.Bytes(), &m)
		d.mu.Lock()
		switch {
		case err != nil:
			d.other = append(d.other, sc.Text())
		case m["event"] == "reconnecting":
			d.progress++
		case m["event"] != nil:
			m["_at"] = time.Now()
			d.events = append(d.events, m)
		case m["seq"] != nil && m["ok"] != nil:
			seq, _ := m["seq"].(float64)
			d.replies[int(seq)] = m
		default:
			d.other = append(d.other, sc.Text())
		}
		d.notifyLocked()
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.exited = true
	d.notifyLocked()
	d.mu.Unlock()
}

func (d *confDriver) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *confDriver) send(t *testing.T, c map[string]any) {
	b, _ := json.Marshal(c)
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("driver %s: writing a command: %v", d.name, err)
	}
}

// wait polls cond (under d.mu) until it holds, the driver exits or timeout.
func (d *confDriver) wait(timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		ok, exited, ch := cond(), d.exited, d.changed
		d.mu.Unlock()
		switch {
		case ok:
			return nil
		case exited:
			return fmt.Errorf("the %s driver exited", d.name)
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("nothing within %v", timeout)
		}
	}
}

func (d *confDriver) reply(seq int, timeout time.Duration) (map[string]any, error) {
	var got map[string]any
	err := d.wait(timeout, func() bool {
		got = d.replies[seq]
		delete(d.replies, seq)
		return got != nil
	})
	return got, err
}

func (d *confDriver) nextEvent(timeout time.Duration) (map[string]any, error) {
	var got map[string]any
	err := d.wait(max(timeout, 0), func() bool {
		if len(d.events) == 0 {
			return false
		}
		got, d.events = d.events[0], d.events[1:]
		return true
	})
	return got, err
}

// pending takes the events not consumed yet.
func (d *confDriver) pending() []map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	evs := d.events
	d.events = nil
	return evs
}

// kill is kill -9 of the driver alone: its client dies with no goodbye.
func (d *confDriver) kill() {
	d.killed = true
	d.cmd.Process.Signal(syscall.SIGKILL)
}

// quit asks the driver to close its client and exit.
func (d *confDriver) quit(t *testing.T) {
	d.send(t, map[string]any{"seq": -1, "do": "quit"})
	if _, err := d.reply(-1, confReplyTimeout); err != nil {
		t.Errorf("driver %s did not quit: %v", d.name, err)
	}
}
