package lobby

import (
	"net/netip"
	"slices"
)

// LoopbackAs rewrites a loopback game address to the same port on local,
// the coordinator address a remote recipient connected to. A member on the
// coordinator's own host (such as an owner whose process runs the
// coordinator) reaches it over loopback; remote peers must be given an
// address of that host they can reach, and the one they used to reach the
// coordinator is the best evidence there is. Other addresses, and an
// invalid or loopback local, are returned unchanged.
func LoopbackAs(addr string, local netip.Addr) string {
	if !local.IsValid() || local.IsLoopback() {
		return addr
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return addr
	}
	// A zone names an interface of the coordinator's host, meaningless to
	// the recipient.
	return netip.AddrPortFrom(local.WithZone(""), ap.Port()).String()
}

// GameAddr derives a member's game address (see session.member).
func GameAddr(seen netip.Addr, port int, addr string) (string, error) {
	if addr != "" {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || ap.Port() == 0 {
			return "", errorf(CodeInvalidAddress, "game address %q is not ip:port", addr)
		}
		if !ap.Addr().IsUnspecified() {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
		}
		port = int(ap.Port())
	}
	if port < 1 || port > 65535 {
		return "", errorf(CodeInvalidAddress, "game port %d outside 1..65535 (give port or addr)", port)
	}
	if !seen.IsValid() {
		return "", errorf(CodeInvalidAddress, "cannot tell your address; give addr as ip:port")
	}
	return netip.AddrPortFrom(seen, uint16(port)).String(), nil
}

func (n Notice) hasLoopbackAddr() bool {
	if isLoopbackAddr(n.Member.Addr) || isLoopbackAddr(n.Lobby.SuccessorAddr) {
		return true
	}
	for _, m := range n.Peers {
		if isLoopbackAddr(m.Addr) {
			return true
		}
	}
	return false
}

// loopbackAs returns a copy of the notice with loopback game addresses
// rewritten (see LoopbackAs).
func (n Notice) loopbackAs(local netip.Addr) Notice {
	n.Member.Addr = LoopbackAs(n.Member.Addr, local)
	n.Lobby.SuccessorAddr = LoopbackAs(n.Lobby.SuccessorAddr, local)
	if len(n.Peers) > 0 {
		peers := slices.Clone(n.Peers)
		for i := range peers {
			peers[i].Addr = LoopbackAs(peers[i].Addr, local)
		}
		n.Peers = peers
	}
	return n
}

func isLoopbackAddr(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsLoopback()
}

// peersAs lists the members of l other than you, in join order, with
// their loopback game addresses as a recipient that reached the
// coordinator at local must see them (see LoopbackAs). It is never nil: a
// join reply always carries a list, if an empty one.
func peersAs(l *Lobby, you string, local netip.Addr) []Member {
	peers := make([]Member, 0, max(0, len(l.Members)-1))
	for _, m := range l.Members {
		if m.ID != you {
			m.Addr = LoopbackAs(m.Addr, local)
			peers = append(peers, m)
		}
	}
	return peers
}
