package lobby

import (
	"slices"
	"testing"
)

func TestFilterWireRoundTrip(t *testing.T) {
	f := Filter{Version: "1.4", VersionRule: VersionCompatible, Meta: map[string]string{"map": "dunes"},
		Ranges: []Range{AtLeast("level", 3), AtMost("ping", 80), Between("x", -1, 1)}, Free: 2}
	back := filterWire(f).filter()
	if back.Version != f.Version || back.VersionRule != f.VersionRule || back.Free != f.Free ||
		back.Meta["map"] != "dunes" || !slices.Equal(back.Ranges, f.Ranges) {
		t.Fatalf("round trip %+v, want %+v", back, f)
	}
	if filterWire(Filter{}) != nil {
		t.Error("the zero filter is sent")
	}
}
