// Package lanlobby is what a game imports to find players on a local
// network with zero configuration: Host creates a lobby (with the game's
// own coordinator, or on a coordinator daemon found on the LAN) and
// announces it; Browse keeps a live view of the lobbies on the LAN; List
// takes one look; Join and QuickJoin find a lobby and take a seat in it,
// returning the peers' game addresses.
//
// A game hosts in a few lines:
//
//	s, err := lanlobby.Host(ctx, lanlobby.DefaultConfig(), lanlobby.HostOptions{
//		Game: "demo", Name: "Alice's game", Players: 4, Port: 7777})
//	if err != nil { ... }
//	defer s.Close()
//	for ev := range s.Events() { ... } // who joins, leaves, starts
//
// and another quick-joins the lobby closest to starting:
//
//	s, err := lanlobby.QuickJoin(ctx, lanlobby.DefaultConfig(), "demo", lanlobby.JoinOptions{Port: 7777})
//	for _, p := range s.Peers() { connect(p.Addr) }
//
// Discovery runs the UDP beacon and mDNS/DNS-SD side by side (see
// PROTOCOL.md); the lobby itself lives on a coordinator that holds a TCP
// link to every member (package lobby). Every call is bounded by its
// context and by Config.Timeout: nothing waits forever.
package lanlobby

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
	"github.com/lanlobby/lanlobby/netutil"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds every call to a coordinator (dial, hello, join)
	// and a whole List when the caller's context has no deadline.
	DefaultTimeout = lobby.DefaultTimeout
	// DefaultSettle is the least quiet, after the last answer, that ends a
	// one-shot look at the LAN (List, cold Join and QuickJoin). Hosts on a
	// wired LAN or awake Wi-Fi answer a query within about a millisecond of
	// each other, so 10 ms of silence after the last one means everyone
	// who will answer soon has answered. The wait grows with the answers
	// measured (see SettleFactor).
	DefaultSettle = 10 * time.Millisecond
	// DefaultSettleFactor stretches the quiet window to this many times the
	// slowest answer measured in the same look, so a LAN whose hosts answer
	// in 15 ms is given 45 ms, not cut off at 10.
	DefaultSettleFactor = 3
	// DefaultFirstAnswerWait is how long a one-shot look waits for the
	// first answer of all. It is the trade-off against hosts on
	// power-saving Wi-Fi, whose access point may hold multicast for
	// 100-200 ms: a LAN with no lobby costs this long; raise it to 250 ms
	// to be sure to hear such hosts in a one-shot look. A running Browse
	// hears them whenever they answer.
	DefaultFirstAnswerWait = 150 * time.Millisecond
	// DefaultMaxWait caps a one-shot look however answers trickle in.
	DefaultMaxWait = time.Second
	// DefaultDaemonWait is how long Host looks for a coordinator daemon on
	// the LAN while its own coordinator starts (see Config.DaemonWait).
	DefaultDaemonWait = 4 * time.Millisecond
	// addressSettle is how long a lobby first heard over IPv6 waits for the
	// same host's IPv4 answer, which races it and is the address to show.
	addressSettle = 5 * time.Millisecond
)

// Config says how the library finds and reaches lobbies. The zero value
// is valid and equals DefaultConfig(); every field documents what zero
// means. Functions copy the Config and never modify the caller's.
type Config struct {
	// Coordinator, when set ("host" or "host:port", port 7600 when
	// omitted), uses that coordinator daemon for everything instead of the
	// LAN: Host creates its lobby there, List asks it, Join and QuickJoin
	// join there. It is the way across subnets and VPNs, where multicast
	// does not go.
	Coordinator string
	// Player is this player's display name, shown to the others (may be
	// empty; at most 64 bytes).
	Player string
	// PlayerKey is this player's stable key (NewPlayerKey), by which an
	// owner's ban and a party leader's named seats know the player again
	// when it comes back; a game makes one once and keeps it. "" means a
	// key made once per process. On a LAN it is a courtesy, not
	// authentication: a player who makes up a new key is a new player.
	PlayerKey string
	// Interfaces names the network interfaces to announce and discover on
	// (like "eth0", "wlan0"); nil means every LAN interface, skipping
	// container and VPN bridges, following interfaces as they come and go.
	Interfaces []string
	// BeaconPort is the UDP port of the LAN beacon; 0 means 7601.
	BeaconPort uint16
	// BeaconInterval is the mean period of beacon announcements; 0 means
	// beacon.DefaultInterval (1.5 s). Lobbies expire after three silent
	// periods.
	BeaconInterval time.Duration
	// LANKey is a passphrase shared by the hosts of a LAN: announcements
	// are signed with it and unsigned ones ignored. "" means no signing.
	// The key is derived once per passphrase per process (the derivation
	// is deliberately slow).
	LANKey string
	// NoBeacon turns the UDP beacon off (mDNS alone); NoMDNS turns mDNS
	// off (the beacon alone). Both set is an error.
	NoBeacon bool
	NoMDNS   bool
	// Timeout bounds each call to a coordinator when the caller's context
	// has no deadline; 0 means DefaultTimeout.
	Timeout time.Duration
	// Settle is the least quiet after the last answer that ends a
	// one-shot look at the LAN; 0 means DefaultSettle. SettleFactor (0:
	// DefaultSettleFactor) stretches it to that many times the slowest
	// answer measured. FirstAnswerWait (0: DefaultFirstAnswerWait) is how
	// long to wait when nobody has answered yet, and MaxWait (0:
	// DefaultMaxWait) caps the look. A quick-join that hears a lobby one
	// seat from starting joins it at once: no other can be better.
	Settle          time.Duration
	SettleFactor    float64
	FirstAnswerWait time.Duration
	MaxWait         time.Duration
	// DaemonWait is how long Host looks for a coordinator daemon on the
	// LAN before using its own; 0 means DefaultDaemonWait, negative means
	// never use a daemon.
	DaemonWait time.Duration
	// Logger receives the library's logs; nil discards them.
	Logger *slog.Logger

	// spawn starts the goroutines that open sockets (nil: the go
	// statement); tests run them inside a lab host's network namespace.
	spawn func(func())
	// dial opens coordinator connections (nil: a net.Dialer); tests dial
	// from inside a lab host's network namespace.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultConfig returns the configuration for a game on a LAN: every LAN
// interface, both discovery protocols, the documented defaults.
func DefaultConfig() Config {
	return Config{
		BeaconPort:      beacon.DefaultPort,
		BeaconInterval:  beacon.DefaultInterval,
		Timeout:         DefaultTimeout,
		Settle:          DefaultSettle,
		SettleFactor:    DefaultSettleFactor,
		FirstAnswerWait: DefaultFirstAnswerWait,
		MaxWait:         DefaultMaxWait,
		DaemonWait:      DefaultDaemonWait,
	}
}

// LocalConfig is the fast preset for tests on one machine: discovery on
// the loopback interface only (nothing leaves the host), short waits,
// frequent beacons, and no daemon search.
func LocalConfig() Config {
	c := DefaultConfig()
	c.Interfaces = []string{"lo"}
	c.BeaconInterval = 200 * time.Millisecond
	c.FirstAnswerWait = 50 * time.Millisecond
	c.MaxWait = 500 * time.Millisecond
	c.DaemonWait = -1
	return c
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BeaconPort == 0 {
		c.BeaconPort = d.BeaconPort
	}
	if c.BeaconInterval <= 0 {
		c.BeaconInterval = d.BeaconInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Settle <= 0 {
		c.Settle = d.Settle
	}
	if c.SettleFactor <= 0 {
		c.SettleFactor = d.SettleFactor
	}
	if c.FirstAnswerWait <= 0 {
		c.FirstAnswerWait = d.FirstAnswerWait
	}
	if c.MaxWait <= 0 {
		c.MaxWait = d.MaxWait
	}
	if c.DaemonWait == 0 {
		c.DaemonWait = d.DaemonWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.spawn == nil {
		c.spawn = func(f func()) { go f() }
	}
	c.Interfaces = append([]string(nil), c.Interfaces...)
	return c
}

func (c Config) ifaces() netutil.IfaceOptions {
	return netutil.IfaceOptions{Names: c.Interfaces}
}

func (c Config) beaconNet() beacon.NetConfig {
	return beacon.NetConfig{Port: c.BeaconPort, Interfaces: c.ifaces()}
}

func (c Config) clientConfig() lobby.ClientConfig {
	key := c.PlayerKey
	if key == "" {
		key = processKey()
	}
	return lobby.ClientConfig{Player: c.Player, PlayerKey: key, Timeout: c.Timeout, Logger: c.Logger, Dial: c.dial}
}

// check reports configuration errors a caller must fix.
func (c Config) check() error {
	if c.Coordinator == "" && c.NoBeacon && c.NoMDNS {
		return ErrNoDiscovery
	}
	if err := lobby.ValidatePlayerName(c.Player); err != nil {
		return err
	}
	return lobby.ValidatePlayerKey(c.PlayerKey)
}

// keys caches derived LAN keys by passphrase for the life of the process:
// the derivation costs about 150 ms on purpose (it slows guessing), and a
// game that lists, joins and lists again must pay it once.
var keys struct {
	mu sync.Mutex // guards m
	m  map[string]beacon.Key
}

// maxCachedKeys bounds the cache: a process uses one or two passphrases.
const maxCachedKeys = 8

// lanKey returns the key for c.LANKey (the zero Key when unset).
func (c Config) lanKey() (beacon.Key, error) {
	if c.LANKey == "" {
		return beacon.Key{}, nil
	}
	keys.mu.Lock()
	defer keys.mu.Unlock()
	if k, ok := keys.m[c.LANKey]; ok {
		return k, nil
	}
	k, err := beacon.NewKey(c.LANKey)
	if err != nil {
		return beacon.Key{}, err
	}
	if keys.m == nil || len(keys.m) >= maxCachedKeys {
		keys.m = make(map[string]beacon.Key)
	}
	keys.m[c.LANKey] = k
	return k, nil
}

// PrepareKey derives the LAN key of cfg now, so that the first List or
// Join does not pay for it. Games call it at start-up, off the frame loop.
func PrepareKey(cfg Config) error {
	_, err := cfg.lanKey()
	return err
}

// addrPort parses an "ip:port" the library was given or heard.
func addrPort(s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	return ap, err == nil
}
