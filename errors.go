package lanlobby

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lanlobby/lanlobby/lobby"
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
)

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

func (e *DiscoveryError) Error() string {
	var parts []string
	if e.Beacon != nil {
		parts = append(parts, "beacon: "+e.Beacon.Error())
	}
	if e.MDNS != nil {
		parts = append(parts, "mDNS: "+e.MDNS.Error())
	}
	return "lanlobby: cannot discover on the LAN (" + strings.Join(parts, "; ") + ")"
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
// there to join (it filled, started or ended since it answered), so the
// next candidate is worth trying.
func isGone(err error) bool {
	return errors.Is(err, lobby.ErrLobbyFull) || errors.Is(err, lobby.ErrLobbyStarted) || errors.Is(err, lobby.ErrUnknownLobby)
}
