package doctor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Parsers of Linux's /proc/net tables, pure so that tests feed them
// text. proc_linux.go reads the files (of the calling thread's network
// namespace); elsewhere the checks that need them say what to look at.

// procAddr4 decodes /proc's little-endian hex IPv4 address ("0100007F").
func procAddr4(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]}), true
}

// procAddr6 decodes /proc's IPv6 address as four little-endian words
// (tcp6, udp6) when words is set, else as plain hex (igmp6).
func procAddr6(s string, words bool) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return netip.Addr{}, false
	}
	var a [16]byte
	copy(a[:], b)
	if words {
		for i := 0; i < 16; i += 4 {
			binary.BigEndian.PutUint32(a[i:], binary.LittleEndian.Uint32(b[i:]))
		}
	}
	return netip.AddrFrom16(a), true
}

// parseRoutes reads /proc/net/route.
func parseRoutes(r io.Reader) []route {
	var out []route
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, ok1 := procAddr4(f[1])
		mask, ok2 := procAddr4(f[7])
		metric, _ := strconv.Atoi(f[6])
		flags, _ := strconv.ParseUint(f[3], 16, 16)
		if !ok1 || !ok2 || flags&1 == 0 { // RTF_UP
			continue
		}
		m := mask.As4()
		bits := 0
		for _, x := range m {
			for x&0x80 != 0 {
				bits++
				x <<= 1
			}
		}
		out = append(out, route{Prefix: netip.PrefixFrom(dst, bits).Masked(), Iface: f[0], Metric: metric})
	}
	return out
}

// parseIGMP reads /proc/net/igmp: the IPv4 groups joined on each device.
func parseIGMP(r io.Reader) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	dev := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || f[0] == "Idx":
		case !strings.HasPrefix(line, "\t") && len(f) >= 2:
			dev = f[1]
		case dev != "":
			if a, ok := procAddr4(f[0]); ok {
				out[dev] = append(out[dev], a)
			}
		}
	}
	return out
}

// parseIGMP6 reads /proc/net/igmp6.
func parseIGMP6(r io.Reader) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		if a, ok := procAddr6(f[2], false); ok {
			out[f[1]] = append(out[f[1]], a)
		}
	}
	return out
}

// socketEntry is one socket of /proc/net/{udp,udp6,tcp,tcp6}.
type socketEntry struct {
	Local netip.AddrPort
	State int // TCP state (0x0A: listen); UDP 0x07
	Inode uint64
}

// parseSockets reads a /proc/net socket table.
func parseSockets(r io.Reader, v6 bool) []socketEntry {
	var out []socketEntry
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		host, port, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		var a netip.Addr
		if v6 {
			a, ok = procAddr6(host, true)
		} else {
			a, ok = procAddr4(host)
		}
		p, err := strconv.ParseUint(port, 16, 16)
		st, err2 := strconv.ParseUint(f[3], 16, 8)
		inode, err3 := strconv.ParseUint(f[9], 10, 64)
		if !ok || err != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, socketEntry{Local: netip.AddrPortFrom(a.Unmap(), uint16(p)), State: int(st), Inode: inode})
	}
	return out
}

// neighbour is one entry of /proc/net/arp.
type neighbour struct {
	Addr     netip.Addr
	Complete bool // the address resolved (ATF_COM)
	Device   string
}

// parseARP reads /proc/net/arp.
func parseARP(r io.Reader) []neighbour {
	var out []neighbour
	sc := bufio.NewScanner(r)
	sc.Scan()
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		flags, err2 := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 16)
		if err != nil || err2 != nil {
			continue
		}
		out = append(out, neighbour{Addr: a, Complete: flags&2 != 0, Device: f[5]})
	}
	return out
}
