package doctor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procNet is /proc/net of the calling thread's network namespace: a test
// or a game may run the doctor on a thread switched into another one.
func procNet(name string) (*os.File, error) {
	f, err := os.Open(filepath.Join("/proc/thread-self/net", name))
	if err != nil {
		f, err = os.Open(filepath.Join("/proc/net", name))
	}
	return f, err
}

func readRoutes() ([]route, error) {
	f, err := procNet("route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseRoutes(f), nil
}

// joinedGroups returns the multicast groups joined per device, IPv4 and
// IPv6.
func joinedGroups() (map[string][]netip.Addr, error) {
	out := map[string][]netip.Addr{}
	f, err := procNet("igmp")
	if err != nil {
		return nil, err
	}
	for dev, as := range parseIGMP(f) {
		out[dev] = append(out[dev], as...)
	}
	f.Close()
	if f, err := procNet("igmp6"); err == nil {
		for dev, as := range parseIGMP6(f) {
			out[dev] = append(out[dev], as...)
		}
		f.Close()
	}
	return out, nil
}

func readARP() ([]neighbour, error) {
	f, err := procNet("arp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseARP(f), nil
}

// portHolders lists who holds a port: "udp" sockets bound to it, or "tcp"
// sockets listening on it, with their processes when /proc tells (all of
// them as root).
func portHolders(proto string, port uint16) ([]holder, error) {
	var socks []socketEntry
	for _, name := range []string{proto, proto + "6"} {
		f, err := procNet(name)
		if err != nil {
			if name == proto {
				return nil, err
			}
			continue
		}
		socks = append(socks, parseSockets(f, name != proto)...)
		f.Close()
	}
	inodes := map[uint64]netip.AddrPort{}
	for _, s := range socks {
		if s.Local.Port() != port || (proto == "tcp" && s.State != 0x0A) {
			continue
		}
		inodes[s.Inode] = s.Local
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	var out []holder
	found := map[uint64]bool{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if addr, ok := inodes[ino]; err == nil && ok && !found[ino] {
				found[ino] = true
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				out = append(out, holder{PID: pid, Name: strings.TrimSpace(string(comm)), Addr: addr})
			}
		}
	}
	for ino, addr := range inodes {
		if !found[ino] {
			out = append(out, holder{Addr: addr})
		}
	}
	return out, nil
}
