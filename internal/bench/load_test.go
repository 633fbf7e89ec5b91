package bench

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/internal/testutil"
	"go.uber.org/goleak"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// lanlobbyBinary builds the lanlobby command once (without the race
// detector: it is the coordinator under load, not the code under test).
func lanlobbyBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("bench load reads /proc")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lanlobby-load-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "lanlobby")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/lanlobby").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	// Coordinator daemons keep their secret in a temporary state
	// directory, not in the user's configuration directory.
	state, err := os.MkdirTemp("", "lanlobby-bench-state")
	if err == nil {
		os.Setenv("LANLOBBY_STATE_DIR", state)
	}
	code := m.Run()
	if state != "" {
		os.RemoveAll(state)
	}
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func processGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatal("no process id")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("process %d still exists after the run (stat: %v)", pid, err)
	}
}

func TestLoadShortRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	bin := lanlobbyBinary(t)
	var progress strings.Builder
	res, err := Load(context.Background(), LoadConfig{
		Coordinator: []string{bin, "coordinator"},
		Members:     200,
		Hold:        2 * time.Second,
		Baseline:    200 * time.Millisecond,
		QJDuration:  time.Second,
		QJConns:     4,
		QJLobbies:   40,
		Floor:       []string{bin, "bench", "floor-server"},
		FloorHold:   time.Second,
		Progress:    &progress,
	})
	t.Logf("progress:\n%s", progress.String())
	if res != nil {
		t.Logf("\n%s", FormatLoad(res))
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 200 || res.Lobbies != 50 {
		t.Errorf("connected %d members in %d lobbies, want 200 in 50", res.Connected, res.Lobbies)
	}
	if res.FalseDrops != 0 || res.QJFalseDrops != 0 || res.DropNotices != 0 || res.LostLinks != 0 || res.Unexpected != 0 {
		t.Errorf("false drops %d+%d (notices %d, lost links %d, unexpected %d), want none",
			res.FalseDrops, res.QJFalseDrops, res.DropNotices, res.LostLinks, res.Unexpected)
	}
	if res.ListLobbies != 50 || res.ListFull != 50 || res.ListMembers != 200 {
		t.Errorf("list: %d lobbies, %d full, %d members; want 50, 50, 200", res.ListLobbies, res.ListFull, res.ListMembers)
	}
	if res.QuickJoins <= 0 || res.QJPerSec <= 0 || res.QJErrors != 0 {
		t.Errorf("quick-joins %d (%.0f/s), %d errors; want some and no errors", res.QuickJoins, res.QJPerSec, res.QJErrors)
	}
	if res.QJP50us <= 0 || res.QJP99us < res.QJP50us {
		t.Errorf("quick-join latency p50 %.0fµs p99 %.0fµs", res.QJP50us, res.QJP99us)
	}
	if res.BaselineRSS <= 0 || res.LoadedRSS <= res.BaselineRSS || res.HoldSeconds < 2 {
		t.Errorf("RSS baseline %d, loaded %d over %.1fs", res.BaselineRSS, res.LoadedRSS, res.HoldSeconds)
	}
	if res.Sources != 1 {
		t.Errorf("sources %d, want 1 for %d connections", res.Sources, 200+5+4)
	}
	if res.PingsPerSec <= 0 {
		t.Errorf("members answered %.0f pings/s during the hold", res.PingsPerSec)
	}
	processGone(t, res.PID)

	f := res.Floor
	if f == nil {
		t.Fatal("no floor result")
	}
	if f.Connected != 200 || f.Conns != 200 || f.LostLinks != 0 || f.Unexpected != 0 {
		t.Errorf("floor: %d of %d connected, %d lost links, %d unexpected; want all and none", f.Connected, f.Conns, f.LostLinks, f.Unexpected)
	}
	// CPU time comes in clock ticks (10 ms), which 200 connections may not
	// fill in a second: the figure must be there, not above 0.
	if f.HoldSeconds < 1 || f.CPUPct < 0 || math.IsNaN(f.CPUPct) || math.IsInf(f.CPUPct, 0) || f.CPUPctMax1s < 0 {
		t.Errorf("floor CPU %.2f%% (max 1s %.2f%%) over %.2fs", f.CPUPct, f.CPUPctMax1s, f.HoldSeconds)
	}
	if f.PingsPerSec <= 0 || f.BaselineRSS <= 0 || f.LoadedRSS <= 0 {
		t.Errorf("floor: %.0f pings/s, RSS baseline %d loaded %d", f.PingsPerSec, f.BaselineRSS, f.LoadedRSS)
	}
	if (f.CPUPct > 0) != (res.CPUVsFloor > 0) || (f.RSSPerConn > 0) != (res.RSSVsFloor > 0) {
		t.Errorf("ratios %.2f %.2f for floor CPU %.2f%% RSS/conn %.0f", res.CPUVsFloor, res.RSSVsFloor, f.CPUPct, f.RSSPerConn)
	}
	if !strings.Contains(progress.String(), "floor: holding") || !strings.Contains(FormatLoad(res), "floor CPU") {
		t.Error("floor phase missing from the progress or the report")
	}
	processGone(t, f.PID)
}

// A cancelled run (Ctrl-C) stops the coordinator and every connection and
// reports the cancellation; several source addresses are exercised too.
func TestLoadCancelled(t *testing.T) {
	defer goleak.VerifyNone(t)
	bin := lanlobbyBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := newLineWatch("holding")
	go func() {
		<-pr
		time.AfterFunc(300*time.Millisecond, cancel)
	}()
	res, err := Load(ctx, LoadConfig{
		Coordinator: []string{bin, "coordinator"},
		Members:     120,
		PerLobby:    3,
		Sources:     3,
		Hold:        time.Minute,
		Baseline:    100 * time.Millisecond,
		Progress:    pw,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if res == nil || res.Connected != 120 || res.Sources != 3 {
		t.Fatalf("result %+v, want 120 members connected from 3 sources", res)
	}
	processGone(t, res.PID)
}

// newLineWatch returns a writer and a channel closed once a write contains
// s.
func newLineWatch(s string) (<-chan struct{}, *watchWriter) {
	ch := make(chan struct{})
	return ch, &watchWriter{s: s, ch: ch}
}

type watchWriter struct {
	mu   sync.Mutex
	s    string
	ch   chan struct{}
	seen bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen && strings.Contains(string(p), w.s) {
		w.seen = true
		close(w.ch)
	}
	return len(p), nil
}

func TestReplyParsing(t *testing.T) {
	line := []byte(`{"id":12,"ok":true,"lobby":"k3m2x9aqpz","game":"demo","you":{"id":"p4c8vtzn2a","name":"Bob"}}`)
	if id, ok := replyID(line); !ok || id != 12 {
		t.Errorf("replyID = %d, %v", id, ok)
	}
	if !replyOK(line) {
		t.Error("replyOK false on an ok reply")
	}
	if got := stringField(line, `"lobby":"`); got != "k3m2x9aqpz" {
		t.Errorf("lobby %q", got)
	}
	if got := stringField(line, `"you":{"id":"`); got != "p4c8vtzn2a" {
		t.Errorf("you.id %q", got)
	}
	bad := []byte(`{"id":3,"ok":false,"error":{"code":"lobby_full","message":"full"}}`)
	if replyOK(bad) {
		t.Error("replyOK true on an error")
	}
	if err := replyError(bad); err == nil || !strings.Contains(err.Error(), "lobby_full") {
		t.Errorf("replyError = %v", err)
	}
	if _, ok := replyID([]byte(`{"event":"ping","seq":3}`)); ok {
		t.Error("a push parsed as a reply")
	}
}

func TestProcReaders(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux /proc")
	}
	if clockTicks() <= 0 {
		t.Fatal("no clock ticks")
	}
	// CPU time comes in clock ticks: spin until this process has used one,
	// however little of the CPU a busy machine gives it.
	var cpu time.Duration
	var err error
	testutil.WaitFor(t, 30*time.Second, "this process's CPU time in /proc", func() bool {
		for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
		}
		cpu, err = procCPU(0)
		return err != nil || cpu > 0
	})
	if err != nil || cpu <= 0 {
		t.Errorf("procCPU = %v, %v", cpu, err)
	}
	rss, hwm, err := procRSS(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Errorf("procRSS = %d, %d, %v", rss, hwm, err)
	}
	soft, hard, err := fdLimit()
	if err != nil || soft <= 0 || hard < soft {
		t.Errorf("fdLimit = %d, %d, %v", soft, hard, err)
	}
}
