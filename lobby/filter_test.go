package lobby

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

func TestFilterMatch(t *testing.T) {
	lobby := Candidate{ID: "a", Game: "demo", Version: "1.4.2", Open: true, Free: 3,
		Meta: map[string]string{"map": "dunes", "mode": "ctf", "level": " 12 ", "region": "eu"}}
	for _, c := range []struct {
		name string
		f    Filter
		want Verdict
	}{
		{"zero", Filter{}, Matches},
		{"exact version", Filter{Version: "1.4.2"}, Matches},
		{"exact version differs", Filter{Version: "1.4"}, NoMatch},
		{"compatible", Filter{Version: "1.4", VersionRule: VersionCompatible}, Matches},
		{"compatible leading zero", Filter{Version: "1.04.9", VersionRule: VersionCompatible}, Matches},
		{"compatible build", Filter{Version: "1.4+linux", VersionRule: VersionCompatible}, Matches},
		{"compatible minor differs", Filter{Version: "1.5", VersionRule: VersionCompatible}, NoMatch},
		{"compatible major differs", Filter{Version: "2.4", VersionRule: VersionCompatible}, NoMatch},
		{"meta", Filter{Meta: map[string]string{"map": "dunes", "mode": "ctf"}}, Matches},
		{"meta differs", Filter{Meta: map[string]string{"map": "forest"}}, NoMatch},
		{"meta case", Filter{Meta: map[string]string{"map": "Dunes"}}, NoMatch},
		{"meta absent", Filter{Meta: map[string]string{"lang": "en"}}, NoMatch},
		{"range in", Filter{Ranges: []Range{Between("level", 10, 20)}}, Matches},
		{"range edge", Filter{Ranges: []Range{Between("level", 12, 12)}}, Matches},
		{"range at least", Filter{Ranges: []Range{AtLeast("level", 13)}}, NoMatch},
		{"range at most", Filter{Ranges: []Range{AtMost("level", 12)}}, Matches},
		{"range not a number", Filter{Ranges: []Range{AtLeast("map", 0)}}, NoMatch},
		{"range absent", Filter{Ranges: []Range{AtLeast("ping", 0)}}, NoMatch},
		{"free", Filter{Free: 3}, Matches},
		{"free too many", Filter{Free: 4}, NoMatch},
		{"all parts", Filter{Version: "1.4", VersionRule: VersionCompatible, Meta: map[string]string{"map": "dunes"},
			Ranges: []Range{Between("level", 0, 99)}, Free: 2}, Matches},
	} {
		if got := c.f.Match(lobby); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	for _, v := range []string{"Inf", "NaN", "1e999"} {
		c := lobby
		c.Meta = map[string]string{"level": v}
		if f := (Filter{Ranges: []Range{AtLeast("level", 0)}}); f.Match(c) != NoMatch {
			t.Errorf("level %q passes a range", v)
		}
	}
	// Free seats need an open lobby: a started one with room takes no one.
	started := lobby
	started.Open = false
	if f := (Filter{Free: 1}); f.Match(started) != NoMatch {
		t.Error("a lobby that is not open passes free ≥ 1")
	}
	if f := (Filter{}); f.Match(started) != Matches {
		t.Error("the zero filter refuses a started lobby (a browser shows those)")
	}
	// A lobby without a version passes no versioned filter.
	unversioned := lobby
	unversioned.Version = ""
	for _, rule := range []VersionRule{"", VersionExact, VersionCompatible} {
		if f := (Filter{Version: "1.4", VersionRule: rule}); f.Match(unversioned) != NoMatch {
			t.Errorf("rule %q admits a lobby without version", rule)
		}
	}
}

// TestFilterPartial: a LAN announcement that carries part of a lobby's
// metadata leaves undecided what it cannot tell, and still refuses what
// it can.
func TestFilterPartial(t *testing.T) {
	c := Candidate{ID: "a", Version: "1.4", Open: true, Free: 2, Meta: map[string]string{"map": "dunes"}, Partial: true}
	for _, x := range []struct {
		f    Filter
		want Verdict
	}{
		{Filter{Meta: map[string]string{"map": "dunes"}}, Matches},
		{Filter{Meta: map[string]string{"map": "dunes", "mode": "ctf"}}, MaybeMatch},
		{Filter{Meta: map[string]string{"map": "forest", "mode": "ctf"}}, NoMatch},
		{Filter{Ranges: []Range{AtLeast("level", 3)}}, MaybeMatch},
		{Filter{Version: "2.0", Meta: map[string]string{"mode": "ctf"}}, NoMatch},
		{Filter{Free: 3, Meta: map[string]string{"mode": "ctf"}}, NoMatch},
	} {
		if got := x.f.Match(c); got != x.want {
			t.Errorf("%+v: %v, want %v", x.f, got, x.want)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	big := map[string]string{}
	for i := range rules.MaxFilterTerms + 1 {
		big[strings.Repeat("k", i+1)] = "v"
	}
	for _, f := range []Filter{
		{Version: "1 4"},
		{Version: strings.Repeat("1", rules.MaxVersionLen+1)},
		{VersionRule: "semver"},
		{Meta: big},
		{Meta: map[string]string{"": "x"}},
		{Meta: map[string]string{"k": "bad\nline"}},
		{Meta: map[string]string{"a": strings.Repeat("v", rules.MaxMetaValueLen), "b": strings.Repeat("v", rules.MaxMetaValueLen)}},
		{Ranges: []Range{Between("x", 2, 1)}},
		{Ranges: []Range{{Key: "x", Min: math.NaN(), Max: 1}}},
		{Ranges: make([]Range, rules.MaxFilterRanges+1)},
		{Free: -1},
		{Free: MaxCapacity + 1},
	} {
		err := f.Validate()
		if !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("%+v: %v, want invalid_filter", f, err)
		}
	}
	ok := Filter{Version: "1.4.2-rc1+b7", VersionRule: VersionCompatible, Meta: map[string]string{"map": "dunes"},
		Ranges: []Range{AtLeast("level", 1), AtMost("ping", 80)}, Free: 3}
	if err := ok.Validate(); err != nil {
		t.Errorf("%+v: %v", ok, err)
	}
}

// TestCompareCandidates: fewest free seats, then the oldest (by the
// millisecond; unknown last), then creation order, then id.
func TestCompareCandidates(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	cs := []Candidate{
		{ID: "z", Free: 2, Created: t0},
		{ID: "unknown-age", Free: 1},
		{ID: "b", Free: 1, Created: t0.Add(time.Second)},
		{ID: "seq2", Free: 1, Created: t0.Add(300 * time.Microsecond), Seq: 2},
		{ID: "seq1", Free: 1, Created: t0.Add(600 * time.Microsecond), Seq: 1}, // same millisecond: Seq decides
		{ID: "a", Free: 1, Created: t0.Add(time.Second)},
	}
	slices.SortFunc(cs, CompareCandidates)
	var got []string
	for _, c := range cs {
		got = append(got, c.ID)
	}
	want := []string{"seq1", "seq2", "a", "b", "unknown-age", "z"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
