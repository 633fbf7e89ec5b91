package lanlobby

import (
	"net/netip"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/netutil"
)

// LANAddrs returns this machine's addresses on the interfaces cfg
// discovers on, IPv4 first, then global IPv6 (link-local addresses, which
// need a zone, are left out): the addresses other machines on the LAN
// reach a coordinator or a game on this machine at. A host prints them in
// the join command of a private lobby, and a member whose game address the
// coordinator recorded as loopback (it runs on the coordinator's machine)
// shows the one its peers are given. Empty when no interface is usable.
func LANAddrs(cfg Config) []netip.Addr {
	st, err := netutil.LookupInterfaces(cfg.ifaces())
	if err != nil {
		return nil
	}
	var v4, v6 []netip.Addr
	for _, i := range st.Ifaces {
		v4 = append(v4, i.IPv4()...)
		for _, a := range i.IPv6() {
			if !a.IsLinkLocalUnicast() {
				v6 = append(v6, a)
			}
		}
	}
	return append(v4, v6...)
}

// OwnCoordinator is the game's own coordinator when the Session's lobby
// lives on it (Own), else nil: a host may serve its metrics and status
// page (package coordhttp) from it.
func (s *Session) OwnCoordinator() *Coordinator { return s.suc.ownCoordinator() }

// LANKey returns the beacon key of cfg.LANKey (the zero Key when unset),
// derived once per passphrase per process like every call of the library
// (PrepareKey): for tools beside the library, such as the doctor, that
// check signatures themselves.
func LANKey(cfg Config) (beacon.Key, error) { return cfg.lanKey() }
