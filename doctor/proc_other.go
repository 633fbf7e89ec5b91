//go:build !linux

package doctor

import (
	"errors"
	"net/netip"
)

var errNoProc = errors.New("not available on this system")

func readRoutes() ([]route, error)                   { return nil, errNoProc }
func joinedGroups() (map[string][]netip.Addr, error) { return nil, errNoProc }
func readARP() ([]neighbour, error)                  { return nil, errNoProc }
func portHolders(string, uint16) ([]holder, error)   { return nil, errNoProc }
