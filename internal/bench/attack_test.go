//go:build linux

package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The attacks of the hardening issue on a coordinator process, each with
// the bound RELIABILITY.md states. LANLOBBY_ATTACK_BASELINE names another
// lanlobby binary (an earlier build) to attack the same way first: its
// figures are logged, not checked, as the "before".

const attackRSSBound = 300 << 20

func attackRun(t *testing.T, run func(AttackConfig) (*AttackResult, error), cfg AttackConfig) *AttackResult {
	t.Helper()
	var progress strings.Builder
	cfg.Progress = &progress
	if base := os.Getenv("LANLOBBY_ATTACK_BASELINE"); base != "" {
		bcfg := cfg
		bcfg.Coordinator = append([]string{base}, cfg.Coordinator[1:]...)
		if res, err := run(bcfg); res != nil {
			t.Logf("baseline %s:\n%s(err %v)", base, res.Format(), err)
		} else {
			t.Logf("baseline %s: %v", base, err)
		}
	}
	res, err := run(cfg)
	t.Logf("progress:\n%s", progress.String())
	if res != nil {
		t.Logf("\n%s", res.Format())
		processGone(t, res.PID)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestAttackListFlood (RELIABILITY.md row 6): 4 connections send 100 list
// requests each and read nothing, with 4,096 lobbies of 1 KB metadata.
// Each connection's backlog is bounded in bytes: the four are cut as slow
// consumers, the coordinator stays under 300 MB and answers every hello,
// within 100 ms (9 in 10 on a busy machine; all within 1 s).
func TestAttackListFlood(t *testing.T) {
	defer goleak.VerifyNone(t)
	bin := lanlobbyBinary(t)
	res := attackRun(t, func(cfg AttackConfig) (*AttackResult, error) {
		return ListFlood(context.Background(), cfg, 4096, 4, 100)
	}, AttackConfig{Coordinator: []string{bin, "coordinator"}, Hold: 3 * time.Second})
	if res.PeakRSS > attackRSSBound || res.HWM > attackRSSBound {
		t.Errorf("coordinator RSS peaked at %.0f MB (high-water %.0f MB), bound %d MB", mb(res.PeakRSS), mb(res.HWM), attackRSSBound>>20)
	}
	// Before, hellos went unanswered for tens of seconds. On a quiet
	// machine every one is answered within about 12 ms; a busy two-core
	// machine delays the race-built prober itself now and then, so the
	// bound is on nine in ten, with none near the hello deadline.
	if res.HelloFailures != 0 || res.Hellos < 20 || res.HelloP90 > 100*time.Millisecond || res.HelloMax > time.Second {
		t.Errorf("hellos: %d answered, %d failed (%s), p90 %v, max %v; want all, 90%% within 100ms, all within 1s",
			res.Hellos, res.HelloFailures, res.HelloError, res.HelloP90, res.HelloMax)
	}
	if res.Cut != 4 {
		t.Errorf("%d of 4 flooders cut as slow consumers", res.Cut)
	}
}

// TestAttackPartialLines (RELIABILITY.md row 9): 16,000 connections each
// hold half of a 64 KB line (and dial again when cut). Partial lines
// share one memory budget: the coordinator stays under 300 MB and real
// clients, whose creates are lines longer than a link's read buffer, keep
// being served.
func TestAttackPartialLines(t *testing.T) {
	defer goleak.VerifyNone(t)
	bin := lanlobbyBinary(t)
	res := attackRun(t, func(cfg AttackConfig) (*AttackResult, error) {
		return PartialLines(context.Background(), cfg, 16000, 32<<10)
	}, AttackConfig{Coordinator: []string{bin, "coordinator"}, Hold: 4 * time.Second})
	if res.PeakRSS > attackRSSBound || res.HWM > attackRSSBound {
		t.Errorf("coordinator RSS peaked at %.0f MB (high-water %.0f MB), bound %d MB", mb(res.PeakRSS), mb(res.HWM), attackRSSBound>>20)
	}
	if res.RealFailed != 0 || res.RealOK < realClients {
		t.Errorf("real clients: %d served, %d failed", res.RealOK, res.RealFailed)
	}
	if res.Dialed < 16000 {
		t.Errorf("only %d attacking connections were dialled", res.Dialed)
	}
}

// TestAttackConnFlood (RELIABILITY.md row 10): 33 addresses × 512
// connections say hello and hold the coordinator at its cap (16,384). A
// real client from another address gets in, each time, within 1 s: idle
// connections without a seat are shed, heaviest source first.
func TestAttackConnFlood(t *testing.T) {
	defer goleak.VerifyNone(t)
	bin := lanlobbyBinary(t)
	res := attackRun(t, func(cfg AttackConfig) (*AttackResult, error) {
		return ConnFlood(context.Background(), cfg, 33, 512, 16384)
	}, AttackConfig{Coordinator: []string{bin, "coordinator"}, CoordinatorArgs: []string{"--heartbeat", "1h"}, Hold: 3 * time.Second})
	if res.Attackers < 16384 {
		t.Errorf("the flood held %d connections at most, not the cap", res.Attackers)
	}
	if res.RealFailed != 0 || res.RealOK < realClients || res.RealMax > time.Second {
		t.Errorf("real clients: %d got in, %d failed, worst %v; want all within 1s", res.RealOK, res.RealFailed, res.RealMax)
	}
}
