package doctor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/lanlobby/lanlobby/netutil"
)

// holder is a process holding a port.
type holder struct {
	PID  int
	Name string
	Addr netip.AddrPort
}

func (h holder) String() string {
	if h.PID == 0 {
		return fmt.Sprintf("a socket on %v (whose cannot be told: run as root to see)", h.Addr)
	}
	return fmt.Sprintf("%s (pid %d) on %v", h.Name, h.PID, h.Addr)
}

// PortHolders says who holds a port ("udp": bound, "tcp": listening), as
// "name (pid N) on addr" when the system tells: for error hints such as
// "port in use: who holds it". Nil when nobody does or it cannot be told.
func PortHolders(proto string, port uint16) []string {
	hs, _ := portHolders(proto, port)
	var out []string
	for _, h := range hs {
		if h.PID != os.Getpid() {
			out = append(out, h.String())
		}
	}
	return out
}

// shareable tries to bind UDP port as lanlobby's listeners do (shared):
// nil when it can, an error wrapping EADDRINUSE when a program holds the
// port without sharing.
func shareable(port uint16) error {
	for _, network := range []string{"udp4", "udp6"} {
		s, err := netutil.ListenUDP(netutil.SocketConfig{Network: network, Addr: netip.AddrPortFrom(netip.Addr{}, port), Shared: true})
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return err
			}
			continue // IPv6 off, say: not this check's business
		}
		s.Close()
	}
	return nil
}

// portFindings checks the beacon and mDNS UDP ports (held? shared?) and
// the coordinator's TCP port.
func portFindings(p ports) []Finding {
	var out []Finding
	udp := func(port uint16, what, fix string) Finding {
		f := Finding{Check: fmt.Sprintf("udp port %d", port), Status: OK}
		holders := PortHolders("udp", port)
		switch err := shareable(port); {
		case err != nil:
			f.Status = Fail
			who := "another program"
			if len(holders) > 0 {
				who = strings.Join(holders, ", ")
			}
			f.Detail = fmt.Sprintf("held exclusively by %s: %s cannot listen", who, what)
			f.Fix = fix
		case len(holders) > 0:
			f.Detail = fmt.Sprintf("shared with %s: fine", strings.Join(holders, ", "))
		default:
			f.Detail = "free"
		}
		return f
	}
	out = append(out, udp(p.beacon, "lanlobby's beacon",
		fmt.Sprintf("stop the program holding UDP %d, or use another port on every machine (--beacon-port)", p.beacon)))
	out = append(out, udp(p.mdns, "mDNS/DNS-SD",
		"stop the program holding UDP 5353 or make it share the port (SO_REUSEADDR), or use the beacon alone (--no-mdns)"))
	out = append(out, responderFinding(p.mdns))
	f := Finding{Check: fmt.Sprintf("tcp port %d", p.coordinator), Status: OK}
	if hs := PortHolders("tcp", p.coordinator); len(hs) > 0 {
		f.Detail = fmt.Sprintf("listening: %s (a coordinator daemon, if it is lanlobby)", strings.Join(hs, ", "))
		if !strings.Contains(strings.Join(hs, " "), "lanlobby") {
			f.Status = Warn
			f.Fix = fmt.Sprintf("a coordinator daemon here needs another port: lanlobby coordinator --listen :%d", p.coordinator+10)
		}
	} else {
		f.Detail = "free (no coordinator daemon runs on this machine; hosts run their own coordinator on a free port)"
	}
	return append(out, f)
}

// responderFinding names another mDNS responder on the host (avahi,
// Bonjour's mDNSResponder, a browser's).
func responderFinding(port uint16) Finding {
	f := Finding{Check: "mdns responder", Status: OK}
	hs, err := portHolders("udp", port)
	if err != nil {
		f.Status = Warn
		f.Detail = "cannot tell which programs answer mDNS here: " + err.Error()
		return f
	}
	var others []string
	for _, h := range hs {
		if h.PID != os.Getpid() && !strings.HasPrefix(h.Name, "lanlobby") {
			others = append(others, h.String())
		}
	}
	if len(others) == 0 {
		f.Detail = "no other mDNS responder on this machine"
		return f
	}
	f.Detail = fmt.Sprintf("another responder answers mDNS here: %s; lanlobby shares port %d with it and answers for its own lobbies", strings.Join(others, ", "), port)
	return f
}
