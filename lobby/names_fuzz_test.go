package lobby

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzRegistryText: whatever a datagram holds, the text listener answers
// with one bounded reply starting OK or NOTOK, and never panics.
func FuzzRegistryText(f *testing.F) {
	for _, s := range []string{"", "REGISTER room://10.0.0.1:7 a", "LOOKUP a", "DEREGISTER a", "register room://[::1]:1 b c",
		"REGISTER room://h:99999 x", "\xff", "LOOKUP " + strings.Repeat("z", 600)} {
		f.Add([]byte(s))
	}
	srv, err := NewServer(ServerConfig{})
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddr("10.0.0.9")
	f.Fuzz(func(t *testing.T, req []byte) {
		reply := srv.registryText(src, req)
		if len(reply) > MaxRegistryDatagram {
			t.Fatalf("reply of %d bytes", len(reply))
		}
		if !strings.HasPrefix(string(reply), "OK") && !strings.HasPrefix(string(reply), "NOTOK ") {
			t.Fatalf("reply %q", reply)
		}
	})
}
