package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestRoomAddr(t *testing.T) {
	for in, want := range map[string]string{
		"room://10.0.0.5:7000":                      "room://10.0.0.5:7000",
		"room://Game-Host.local:80":                 "room://game-host.local:80",
		"room://[2001:DB8::1]:7000":                 "room://[2001:db8::1]:7000",
		"room://h:65535":                            "room://h:65535",
		"room://10.0.0.5:0":                         "",
		"room://10.0.0.5:65536":                     "",
		"room://10.0.0.5":                           "",
		"http://10.0.0.5:80":                        "",
		"room://2001:db8::1:7000":                   "",
		"room://[10.0.0.1]:7000":                    "",
		"room://bad_host:1":                         "",
		"room://-bad.host:1":                        "",
		"room://:7000":                              "",
		"room://10.0.0.5:+70":                       "",
		"room://" + strings.Repeat("a", 300) + ":1": "",
	} {
		got, err := NormalizeRoomAddr(in)
		if want == "" {
			if !errors.Is(err, ErrAddr) {
				t.Errorf("%q: %q, %v; want ErrAddr", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestRegistryName(t *testing.T) {
	for name, ok := range map[string]bool{
		"lobby-1":               true,
		"Zoë's room":            true,
		"":                      false,
		" padded":               false,
		"padded ":               false,
		"tab\tname":             false,
		"Alice\u202egame":       false,
		strings.Repeat("x", 64): true,
		strings.Repeat("x", 65): false,
		"\xff":                  false,
	} {
		if err := ValidateRegistryName(name); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", name, err, ok)
		}
	}
}
