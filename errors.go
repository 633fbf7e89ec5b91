package lanlobby

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lanlobby/lanlobby/lobby"
	"github.com/lanlobby/lanlobby/netutil"
)

// Errors callers branch on with errors.Is. Lobby errors match the lobby
// package's sentinels, whether a coordinator or the LAN view found them:
// errors.Is(err, lobby.ErrLobbyFull), lobby.ErrUnknownLobby (no such
// lobby visible), lobby.ErrNoOpenLobby (nothing to quick-join).
var (
	// ErrNoDiscovery: both discovery protocols are switched off and no
	// coordinator is given, so there is no way to find a lobby.
	ErrNoDiscovery = errors.New("lanlobby: --no-beacon and --no-mdns together leave nothing to discover with")
	// ErrClosed: the Browser or Session was closed.
	ErrClosed = errors.New("lanlobby: closed")
	// ErrNoAnnounce: neither discovery protocol could start, so a hosted
	// lobby would be invisible on the LAN.
	ErrNoAnnounce = errors.New("lanlobby: cannot announce on the LAN")
	// ErrNoNetwork: no network interface is usable yet (not connected,
	// or only loopback). Discovery waits for one and carries on when it
	// comes; a one-shot look that heard nothing says so with this error.
	ErrNoNetwork = errors.New("lanlobby: no usable network interface")
)

// networked is a discovery component that reports its interfaces.
type networked interface {
	Interfaces() netutil.IfaceStatus
}

// waitingForNetwork returns an error wrapping ErrNoNetwork when every
// component waits for a usable interface, and nil when any has one.
func waitingForNetwork(cs ...networked) error {
	var first netutil.IfaceStatus
	for i, c := range cs {
		st := c.Interfaces()
		if !st.Waiting() {
			return nil
		}
		if i == 0 {
			first = st
		}
	}
	if len(cs) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%s)", ErrNoNetwork, first)
}

// AmbiguousError is returned by Join when a name matches several lobbies:
// the caller picks one by id.
type AmbiguousError struct {
	Name    string
	Lobbies []LobbyInfo
}

func (e *AmbiguousError) Error() string {
	ids := make([]string, len(e.Lobbies))
	for i, l := range e.Lobbies {
		ids[i] = fmt.Sprintf("%s (%s at %s)", l.ID, l.Name, l.Host)
	}
	return fmt.Sprintf("lanlobby: %d lobbies are named %q; join one by id: %s", len(e.Lobbies), e.Name, strings.Join(ids, ", "))
}

// DiscoveryError says why LAN discovery could not start or found nothing
// to work with, per protocol, so a game can tell its player the cause.
type DiscoveryError struct {
	Beacon error // nil when the beacon worked or was off
	MDNS   error // nil when mDNS worked or was off
}

// Error lists the causes, each named by its protocol; callers add what
// could not be done ("cannot discover on the LAN: ...").
func (e *DiscoveryError) Error() string {
	var parts []string
	for _, c := range []struct {
		name string
		err  error
	}{{"beacon", e.Beacon}, {"mdns", e.MDNS}} {
		if c.err == nil {
			continue
		}
		msg := c.err.Error()
		if !strings.HasPrefix(msg, c.name+":") {
			msg = c.name + ": " + msg
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// Unwrap gives both causes to errors.Is and errors.As.
func (e *DiscoveryError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Beacon, e.MDNS} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// isGone reports errors that mean a lobby found on the LAN is no longer
// there to join (it filled, started or ended since it answered), or not
// for this player (its metadata changed past the filter, or did not all
// fit the LAN; its owner banned the player), so the next candidate is
// worth trying.
func isGone(err error) bool {
	return errors.Is(err, lobby.ErrLobbyFull) || errors.Is(err, lobby.ErrLobbyStarted) || errors.Is(err, lobby.ErrUnknownLobby) ||
		errors.Is(err, lobby.ErrFilterMismatch) || errors.Is(err, lobby.ErrBanned)
}
