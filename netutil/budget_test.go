package netutil

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// TestAnswerBudget: budgets per source address (every port alike) and
// per interface, refilled with time up to two seconds' worth; the
// binding one is reported; a flood of forged sources keeps the state
// bounded, and idle sources are forgotten to make room.
func TestAnswerBudget(t *testing.T) {
	l := NewAnswerBudget(AnswerRates{PerSource: 1000, PerInterface: 3000, PacketsPerInterface: 4})
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")
	bytes, packets, binding := l.Allowance(t0, a, 1)
	if bytes != 2000 || packets != 8 || binding != BySource {
		t.Fatalf("fresh: %d bytes, %d packets, %v", bytes, packets, binding)
	}
	l.Spend(a, 1, 1990, 2)
	if bytes, _, binding = l.Allowance(t0, a, 1); bytes != 10 || binding != BySource {
		t.Fatalf("spent: %d bytes, %v", bytes, binding)
	}
	if bytes, _, _ = l.Allowance(t0.Add(500*time.Millisecond), a, 1); bytes != 510 {
		t.Fatalf("refilled: %d bytes", bytes)
	}
	// Per interface, whoever asks: bytes, then datagrams.
	l = NewAnswerBudget(AnswerRates{PerSource: 1e6, PerInterface: 1000, PacketsPerInterface: 4})
	if bytes, packets, binding = l.Allowance(t0, a, 1); bytes != 2000 || packets != 8 || binding != ByInterface {
		t.Fatalf("interface: %d bytes, %d packets, %v", bytes, packets, binding)
	}
	l.Spend(a, 1, 1500, 7)
	if bytes, packets, binding = l.Allowance(t0, b, 1); bytes != 500 || packets != 1 || binding != ByInterface {
		t.Fatalf("interface spent: %d bytes, %d packets, %v", bytes, packets, binding)
	}
	l.Spend(b, 1, 100, 1)
	if bytes, packets, _ = l.Allowance(t0, b, 1); packets != 0 || bytes != 0 {
		t.Fatalf("no datagram left: %d bytes, %d packets", bytes, packets)
	}
	if _, packets, _ = l.Allowance(t0, b, 2); packets != 8 {
		t.Fatalf("another interface: %d packets", packets)
	}
	// A flood of forged sources, each spending: bounded, and new ones
	// refused while all are busy; once idle (full again) they are
	// forgotten.
	l = NewAnswerBudget(AnswerRates{PerSource: 100, PerInterface: 1e9, PacketsPerInterface: 1e9})
	for i := range MaxBudgetSources + 10 {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		if n, _, _ := l.Allowance(t0, src, 1); n > 0 {
			l.Spend(src, 1, n, 1)
		}
	}
	if l.Sources() != MaxBudgetSources {
		t.Fatalf("%d sources tracked", l.Sources())
	}
	if n, _, binding := l.Allowance(t0, a, 1); n != 0 || binding != BySource {
		t.Fatalf("new source allowed %d while full of busy ones", n)
	}
	if n, _, _ := l.Allowance(t0.Add(3*time.Second), a, 1); n != 200 || l.Sources() != 1 {
		t.Fatalf("idle entries not forgotten: %d tracked, %d allowed", l.Sources(), n)
	}
}
