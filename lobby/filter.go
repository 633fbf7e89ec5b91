package lobby

import (
	"cmp"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

// This file is matchmaking's one source of truth: which lobbies a filter
// admits (Filter.Match) and in which order quick-join tries them
// (CompareCandidates). The coordinator applies them to its lobbies, and the
// root package's LAN view to the lobbies it heard on the beacon and mDNS,
// so that a game gets the same answer from a daemon and from the LAN.

// VersionRule says how a filter's game version is compared with a lobby's.
// Its value is the wire name.
type VersionRule string

// Version rules.
const (
	// VersionExact (the default, also "") admits lobbies whose version is
	// byte for byte the filter's.
	VersionExact VersionRule = "exact"
	// VersionCompatible admits lobbies whose version has the same first
	// two dot-separated components (major and minor) as the filter's,
	// compared as numbers when both are digits; a missing component counts
	// as 0 and anything after a '+' is ignored. "1.4", "1.4.0", "1.4.7"
	// and "1.04.2-rc1" are compatible; "1.5" and "2.4" are not. A game
	// opts in when its patch releases play together.
	VersionCompatible VersionRule = "compatible"
)

// Range is a numeric range on a metadata key, bounds included: a lobby
// passes when its value for Key parses as a finite number within
// [Min, Max]. Build one with AtLeast, AtMost or Between: the zero Min and
// Max are the range [0, 0], and an open end is -Inf or +Inf.
type Range = rules.FilterRange

// AtLeast is the range key ≥ min.
func AtLeast(key string, min float64) Range { return Range{Key: key, Min: min, Max: math.Inf(1)} }

// AtMost is the range key ≤ max.
func AtMost(key string, max float64) Range { return Range{Key: key, Min: math.Inf(-1), Max: max} }

// Between is the range min ≤ key ≤ max.
func Between(key string, min, max float64) Range { return Range{Key: key, Min: min, Max: max} }

// Filter selects lobbies by what they carry beyond their game. Every part
// must hold; the zero Filter admits every lobby.
type Filter struct {
	// Version, when set, admits lobbies of that game version under
	// VersionRule ("" is VersionExact). A lobby without a version passes
	// no versioned filter.
	Version     string
	VersionRule VersionRule
	// Meta admits lobbies whose metadata has each key with exactly that
	// value.
	Meta map[string]string
	// Ranges admits lobbies whose metadata value of each range's key is a
	// number in the range.
	Ranges []Range
	// Free admits lobbies that are open with at least that many seats
	// free (neither taken nor reserved); 0 also admits full and started
	// ones, as a lobby browser shows them.
	Free int
}

// IsZero reports whether f admits every lobby.
func (f Filter) IsZero() bool {
	return f.Version == "" && len(f.Meta) == 0 && len(f.Ranges) == 0 && f.Free == 0
}

// Validate checks f against the limits of package rules; the error is an
// *Error with CodeInvalidFilter.
func (f Filter) Validate() error {
	if err := rules.ValidateVersion(f.Version); err != nil {
		return &Error{Code: CodeInvalidFilter, Message: err.Error()}
	}
	switch f.VersionRule {
	case "", VersionExact, VersionCompatible:
	default:
		return errorf(CodeInvalidFilter, "version rule %q: want %q or %q", f.VersionRule, VersionExact, VersionCompatible)
	}
	if err := rules.ValidateFilter(f.Meta, f.Ranges, f.Free); err != nil {
		return &Error{Code: CodeInvalidFilter, Message: err.Error()}
	}
	return nil
}

// Candidate is what matchmaking reads of a lobby: the coordinator makes
// one from its own lobbies (Info.Candidate), the LAN view from an
// announcement, which may carry only part of the metadata.
type Candidate struct {
	ID      string
	Game    string
	Version string
	// Open: the lobby takes joins now (not full, started or closed).
	Open bool
	// Free seats: neither taken nor reserved.
	Free int
	// Created is when the lobby was made (millisecond precision counts;
	// zero when unknown, which sorts after every known time).
	Created time.Time
	// Seq is the coordinator's creation order, which breaks ties within a
	// millisecond; 0 on the LAN, where ties go by ID.
	Seq  uint64
	Meta map[string]string
	// Partial says Meta holds only part of the lobby's metadata (the LAN
	// carries the keys the host marked filterable, as many as fit): a
	// filter on a key Meta lacks is then undecided rather than failed.
	Partial bool
}

// Verdict is a filter's answer for one lobby.
type Verdict uint8

// Verdicts.
const (
	// NoMatch: the lobby fails the filter.
	NoMatch Verdict = iota
	// Matches: the lobby passes.
	Matches
	// MaybeMatch: the lobby passes every part the candidate can tell, but
	// a key the filter needs was not carried (Candidate.Partial). Its
	// coordinator decides: a join with the filter gets filter_mismatch
	// when it fails.
	MaybeMatch
)

func (v Verdict) String() string {
	switch v {
	case Matches:
		return "matches"
	case MaybeMatch:
		return "maybe"
	}
	return "no match"
}

// Match tells whether c passes f. It never allocates.
func (f *Filter) Match(c Candidate) Verdict {
	if f.Free > 0 && (!c.Open || c.Free < f.Free) {
		return NoMatch
	}
	if f.Version != "" && !VersionMatches(f.Version, c.Version, f.VersionRule) {
		return NoMatch
	}
	v := Matches
	for k, want := range f.Meta {
		got, ok := c.Meta[k]
		switch {
		case !ok && c.Partial:
			v = MaybeMatch
		case !ok || got != want:
			return NoMatch
		}
	}
	for _, r := range f.Ranges {
		got, ok := c.Meta[r.Key]
		if !ok {
			if c.Partial {
				v = MaybeMatch
				continue
			}
			return NoMatch
		}
		n, ok := parseDecimal(got)
		if !ok || n < r.Min || n > r.Max {
			return NoMatch
		}
	}
	return v
}

// VersionMatches reports whether a lobby's version passes a filter's
// version want under rule (see VersionExact and VersionCompatible).
func VersionMatches(want, have string, rule VersionRule) bool {
	if rule != VersionCompatible {
		return want == have
	}
	if have == "" {
		return false
	}
	wMaj, wMin := majorMinor(want)
	hMaj, hMin := majorMinor(have)
	return sameComponent(wMaj, hMaj) && sameComponent(wMin, hMin)
}

// majorMinor splits a version into its first two components, build
// metadata ("+...") dropped.
func majorMinor(v string) (string, string) {
	v, _, _ = strings.Cut(v, "+")
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	return major, minor
}

// sameComponent compares two version components, as numbers when both are
// digits ("04" is "4", "" is "0"), else as strings.
func sameComponent(a, b string) bool {
	an, aok := componentNumber(a)
	bn, bok := componentNumber(b)
	if aok && bok {
		return an == bn
	}
	return a == b
}

func componentNumber(s string) (uint64, bool) {
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// CompareCandidates is the quick-join order: fewest free seats first (the
// lobby closest to starting), then the oldest, then the coordinator's
// creation order, then the id, so that every player, and the LAN and a
// daemon, try lobbies in the same order. It returns -1 when a comes first.
// Only open lobbies are ever compared.
func CompareCandidates(a, b Candidate) int {
	if c := cmp.Compare(a.Free, b.Free); c != 0 {
		return c
	}
	if c := compareCreated(a.Created, b.Created); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Seq, b.Seq), strings.Compare(a.ID, b.ID))
}

// compareCreated orders creation times by the millisecond (the precision
// the LAN carries); an unknown (zero) time sorts after every known one.
func compareCreated(a, b time.Time) int {
	switch az, bz := a.IsZero(), b.IsZero(); {
	case az && bz:
		return 0
	case az:
		return 1
	case bz:
		return -1
	}
	return cmp.Compare(a.UnixMilli(), b.UnixMilli())
}

// parseDecimal reads a metadata value as PROTOCOL.md's ranges do: a finite
// decimal number (digits, an optional sign, point and exponent),
// surrounding spaces allowed. Go's ParseFloat also takes hex, "Inf", "NaN"
// and underscores, which no SDK reads alike: they are not numbers here.
func parseDecimal(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, false
	}
	return n, true
}
