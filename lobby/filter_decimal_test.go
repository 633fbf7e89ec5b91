package lobby

import "testing"

// TestParseDecimal: ranges read decimal numbers only, as the SDKs do.
func TestParseDecimal(t *testing.T) {
	for in, ok := range map[string]bool{"4": true, " -1.5e3 ": true, "+2": true, ".5": true, "0x10": false, "0x1p4": false,
		"Inf": false, "NaN": false, "1_000": false, "": false, "1e999": false, "four": false} {
		if _, got := parseDecimal(in); got != ok {
			t.Errorf("%q: %v, want %v", in, got, ok)
		}
	}
}
