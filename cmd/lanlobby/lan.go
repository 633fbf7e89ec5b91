package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/beacon/mdns"
	"github.com/lanlobby/lanlobby/lobby"
	"github.com/lanlobby/lanlobby/netutil"
)

// Zero-config flags: where discovery happens on the LAN.
var (
	flagInterface = &cli.StringSliceFlag{Name: "interface", Aliases: []string{"i"}, EnvVars: []string{"LANLOBBY_INTERFACE"},
		Usage: "network interface(s) to announce and discover on (default: every LAN interface, skipping container and VPN bridges)"}
	flagBeaconPort = &cli.UintFlag{Name: "beacon-port", Value: beacon.DefaultPort, EnvVars: []string{"LANLOBBY_BEACON_PORT"},
		Usage: "UDP port of the LAN beacon"}
	flagBeaconInterval = &cli.DurationFlag{Name: "beacon-interval", Value: beacon.DefaultInterval,
		Usage: "mean time between periodic announcements (lobbies expire after 3 silent periods)"}
	flagQuiet = &cli.DurationFlag{Name: "quiet", Value: defaultQuiet,
		Usage: "stop listening this long after the last answer (and after the query when nobody answers)"}
	flagLANKey = &cli.StringFlag{Name: "lan-key", EnvVars: []string{"LANLOBBY_LAN_KEY"},
		Usage: "shared LAN passphrase: sign beacons and mDNS TXT records, ignore unsigned ones (everyone on the LAN needs the same)"}
	flagNoMDNS = &cli.BoolFlag{Name: "no-mdns", EnvVars: []string{"LANLOBBY_NO_MDNS"},
		Usage: "do not use mDNS/DNS-SD (the UDP beacon alone)"}
	flagNoBeacon = &cli.BoolFlag{Name: "no-beacon", EnvVars: []string{"LANLOBBY_NO_BEACON"},
		Usage: "do not use the UDP beacon (mDNS/DNS-SD alone)"}
	flagDaemonWait = &cli.DurationFlag{Name: "daemon-wait", Value: defaultDaemonWait,
		Usage: "how long host looks for a coordinator daemon on the LAN before running its own (0: never use one)"}
)

const (
	// defaultQuiet ends a LAN listing: answers to a query come within a few
	// milliseconds on a LAN, so 100 ms of silence means everyone answered.
	defaultQuiet = 100 * time.Millisecond
	// defaultListTimeout caps a LAN listing.
	defaultListTimeout = time.Second
	// defaultDaemonWait is how long host waits for a daemon's answer to
	// its query. Daemons answer at once: 0.6 ms p50, 0.9 ms p90 query to
	// answer in the namespace lab, well under a millisecond on a wired LAN,
	// so this is several round trips, overlapped with the host's own set-up.
	// A daemon that answers later is not used (the host runs its own
	// coordinator, which works as well on one LAN); --daemon-wait raises it.
	defaultDaemonWait = 4 * time.Millisecond
	// settleTime is how long a search that found its lobby keeps listening
	// for the same host's answer over the other address family.
	settleTime = 5 * time.Millisecond
)

// lanKey derives the LAN key from --lan-key once per process (the
// derivation is deliberately slow) and keeps it in the app's metadata.
func lanKey(c *cli.Context) (beacon.Key, error) {
	const slot = "lan-key"
	if k, ok := c.App.Metadata[slot].(beacon.Key); ok {
		return k, nil
	}
	pass := c.String("lan-key")
	if pass == "" {
		return beacon.Key{}, nil
	}
	k, err := beacon.NewKey(pass)
	if err != nil {
		return beacon.Key{}, cli.Exit(fmt.Sprintf("--lan-key: %v", err), exitUsage)
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[slot] = k
	return k, nil
}

// mustKey is lanKey for callers that run after it succeeded once.
func mustKey(c *cli.Context) beacon.Key {
	k, _ := lanKey(c)
	return k
}

func beaconNet(c *cli.Context) beacon.NetConfig {
	return beacon.NetConfig{
		Port:       uint16(c.Uint("beacon-port")),
		Interfaces: netutil.IfaceOptions{Names: c.StringSlice("interface")},
	}
}

func toBeacon(in lobby.Info, port uint16) beacon.Lobby {
	st := map[lobby.State]beacon.State{lobby.StateOpen: beacon.StateOpen, lobby.StateFull: beacon.StateFull,
		lobby.StateStarted: beacon.StateStarted, lobby.StateClosed: beacon.StateClosed}[in.State]
	return beacon.Lobby{ID: in.ID, Game: in.Game, Name: in.Name, Players: in.Players, Capacity: in.Capacity, State: st, Port: port}
}

// announcer advertises a coordinator's lobbies on the LAN: the UDP beacon
// and mDNS/DNS-SD, each unless switched off.
type announcer struct {
	adv  *beacon.Advertiser // nil with --no-beacon
	resp *mdns.Responder    // nil with --no-mdns
	port uint16
	log  *slog.Logger
	done chan error
	runs int
}

// startAnnouncer starts advertising on the LAN. coord announces a daemon
// (nil for a host's own coordinator); the beacon carries it.
func startAnnouncer(c *cli.Context, port uint16, coord *beacon.Coordinator, log *slog.Logger) (*announcer, error) {
	if c.Bool("no-beacon") && c.Bool("no-mdns") {
		return nil, cli.Exit("--no-beacon and --no-mdns together leave nothing to announce with", exitUsage)
	}
	key, err := lanKey(c)
	if err != nil {
		return nil, err
	}
	a := &announcer{port: port, log: log, done: make(chan error, 2)}
	if !c.Bool("no-beacon") {
		a.adv, err = beacon.NewAdvertiser(beacon.AdvertiserConfig{
			Net: beaconNet(c), Interval: c.Duration("beacon-interval"), Coordinator: coord, Logger: log, Key: key,
		})
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("beacon: %v", err), exitUsage)
		}
	}
	if !c.Bool("no-mdns") {
		a.resp, err = mdns.NewResponder(mdns.ResponderConfig{Interfaces: beaconNet(c).Interfaces, Logger: log, Key: key})
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("mdns: %v", err), exitUsage)
		}
	}
	if a.adv != nil {
		a.runs++
		go func() { a.done <- a.adv.Run(context.Background()) }()
	}
	if a.resp != nil {
		a.runs++
		go func() { a.done <- a.resp.Run(context.Background()) }()
	}
	return a, nil
}

// follow is the coordinator's OnLobbyChange hook: it mirrors every lobby
// change into the advertisers (which announce it at once).
func (a *announcer) follow(in lobby.Info) {
	if in.Private {
		return // never advertised
	}
	closed := in.State == lobby.StateClosed
	if a.adv != nil {
		var err error
		if closed {
			err = a.adv.Remove(in.ID)
		} else {
			err = a.adv.Set(toBeacon(in, a.port))
		}
		if err != nil && !errors.Is(err, beacon.ErrClosed) {
			a.log.Warn("cannot announce lobby", "lobby", in.ID, "err", err)
		}
	}
	if a.resp != nil {
		var err error
		if closed {
			err = a.resp.RemoveLobby(in.ID)
		} else {
			_, err = a.resp.SetLobby(toBeacon(in, a.port))
		}
		if err != nil && !errors.Is(err, mdns.ErrClosed) {
			a.log.Warn("cannot publish lobby over mDNS", "lobby", in.ID, "err", err)
		}
	}
}

// stop sends goodbyes for every lobby and waits for the advertisers.
func (a *announcer) stop() error {
	if a.adv != nil {
		a.adv.Close()
	}
	if a.resp != nil {
		a.resp.Close()
	}
	var first error
	for range a.runs {
		if err := <-a.done; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// embeddedCoordinator is the coordinator a host runs for its own lobby
// when no daemon is around: zero configuration.
type embeddedCoordinator struct {
	srv    *lobby.Server
	ann    *announcer
	addr   string // loopback address the host's own client dials
	port   uint16
	cancel context.CancelFunc
	done   chan error
}

func startEmbedded(c *cli.Context, log *slog.Logger) (*embeddedCoordinator, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("cannot listen for players: %v", err), exitFailure)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ann, err := startAnnouncer(c, port, nil, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv, err := lobby.NewServer(lobby.ServerConfig{Logger: log, OnLobbyChange: ann.follow})
	if err != nil {
		ln.Close()
		ann.stop()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &embeddedCoordinator{srv: srv, ann: ann, port: port, cancel: cancel, done: make(chan error, 1),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))}
	go func() { e.done <- srv.Serve(ctx, ln) }()
	return e, nil
}

// stop closes the lobby for everyone (they get closed: shutdown), sends the
// LAN goodbye and waits for both.
func (e *embeddedCoordinator) stop() {
	e.cancel()
	<-e.done
	if err := e.ann.stop(); err != nil {
		e.ann.log.Warn("beacon stopped with an error", "err", err)
	}
}

// browser finds lobbies on the LAN through the beacon and mDNS, merged by
// lobby id, each source unless switched off.
type browser struct {
	beacon *beacon.Browser // nil with --no-beacon; also finds coordinator daemons
	mdns   *mdns.Browser   // nil with --no-mdns
	merge  *beacon.Merge
	done   chan error
	runs   int
}

func startBrowser(ctx context.Context, c *cli.Context, game string, log *slog.Logger) (*browser, error) {
	if c.Bool("no-beacon") && c.Bool("no-mdns") {
		return nil, cli.Exit("--no-beacon and --no-mdns together leave nothing to browse with", exitUsage)
	}
	if game != "" {
		g, err := lobby.NormalizeGame(game)
		if err != nil {
			return nil, failure(err)
		}
		game = g
	}
	key, err := lanKey(c)
	if err != nil {
		return nil, err
	}
	br := &browser{done: make(chan error, 3)}
	var sources []beacon.Source
	if !c.Bool("no-beacon") {
		br.beacon, err = beacon.NewBrowser(beacon.BrowserConfig{Net: beaconNet(c), Game: game, Logger: log, Key: key})
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("beacon: %v", err), exitUsage)
		}
		sources = append(sources, br.beacon)
	}
	if !c.Bool("no-mdns") {
		br.mdns, err = mdns.NewBrowser(mdns.BrowserConfig{Interfaces: beaconNet(c).Interfaces, Game: game, Logger: log, Key: key})
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("mdns: %v", err), exitUsage)
		}
		sources = append(sources, br.mdns)
	}
	br.merge = beacon.NewMerge(sources...)
	run := func(f func(context.Context) error) {
		br.runs++
		go func() { br.done <- f(ctx) }()
	}
	if br.beacon != nil {
		run(br.beacon.Run)
	}
	if br.mdns != nil {
		run(br.mdns.Run)
	}
	run(br.merge.Run)
	return br, nil
}

// events are the merged lobby events.
func (br *browser) events() <-chan beacon.Event { return br.merge.Events() }

// close stops browsing and reports why it ended, if it failed.
func (br *browser) close() error {
	if br.beacon != nil {
		br.beacon.Close()
	}
	if br.mdns != nil {
		br.mdns.Close()
	}
	br.merge.Close()
	var first error
	for range br.runs {
		if err := <-br.done; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return cli.Exit(fmt.Sprintf("cannot browse the LAN: %v", first), exitFailure)
	}
	return nil
}

// collect gathers the lobbies visible on the LAN: it returns when no answer
// has come for quiet (counted from the start, then from each answer), at
// timeout, or settleTime after stop accepts a lobby. onNew sees each lobby
// once, as soon as it is heard over IPv4, else settleTime after it was first
// heard (a host's IPv4 and IPv6 answers race; the IPv4 address is the one
// to show and dial).
func (br *browser) collect(ctx context.Context, quiet, timeout time.Duration, onNew func(beacon.LobbyInfo), stop func(beacon.LobbyInfo) bool) (map[string]beacon.LobbyInfo, error) {
	seen := map[string]beacon.LobbyInfo{}
	pending := map[string]time.Time{} // heard, not yet shown: waiting for IPv4
	matched := false
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	idle := time.NewTimer(quiet)
	defer idle.Stop()
	settle := time.NewTimer(time.Hour)
	defer settle.Stop()
	show := func(id string) {
		delete(pending, id)
		if onNew != nil {
			onNew(seen[id])
		}
	}
	flush := func(now time.Time, all bool) {
		next := time.Time{}
		for _, id := range sortedKeys(pending) {
			at := pending[id]
			if all || !now.Before(at) {
				show(id)
			} else if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if !next.IsZero() {
			settle.Reset(next.Sub(now))
		}
	}
	for {
		select {
		case ev, ok := <-br.events():
			if !ok {
				flush(time.Now(), true)
				return seen, br.close()
			}
			switch ev.Type {
			case beacon.Added, beacon.Updated:
				_, known := seen[ev.Lobby.ID]
				_, waiting := pending[ev.Lobby.ID]
				seen[ev.Lobby.ID] = ev.Lobby
				switch {
				case !known && ev.Lobby.Host.Addr().Is4():
					show(ev.Lobby.ID)
				case !known:
					pending[ev.Lobby.ID] = time.Now().Add(settleTime)
					settle.Reset(settleTime)
				case waiting && ev.Lobby.Host.Addr().Is4():
					show(ev.Lobby.ID)
				}
				if stop != nil && !matched && stop(ev.Lobby) {
					// Found. Linger a moment for a better address, as above.
					matched = true
					quiet = min(quiet, settleTime)
				}
			case beacon.Removed:
				delete(seen, ev.Lobby.ID)
				delete(pending, ev.Lobby.ID)
			}
			idle.Reset(quiet)
		case now := <-settle.C:
			flush(now, false)
		case <-idle.C:
			flush(time.Now(), true)
			return seen, nil
		case <-deadline.C:
			flush(time.Now(), true)
			return seen, nil
		case <-ctx.Done():
			flush(time.Now(), true)
			return seen, nil
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// findDaemon looks for a coordinator daemon on the LAN for up to wait and
// returns its address, or "" when none answered (or the LAN cannot be
// browsed: the host then runs its own coordinator, which still works).
func findDaemon(ctx context.Context, c *cli.Context, wait time.Duration, log *slog.Logger) string {
	if wait <= 0 {
		return ""
	}
	if c.Bool("no-beacon") {
		return "" // daemons announce themselves on the beacon only
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := beacon.NewBrowser(beacon.BrowserConfig{Net: beaconNet(c), Logger: log, Key: mustKey(c)})
	if err != nil {
		log.Warn("cannot look for a coordinator daemon", "err", err)
		return ""
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	go func() { // nobody reads its lobby events here
		for range b.Events() {
		}
	}()
	defer func() {
		b.Close()
		if err := <-done; err != nil {
			log.Warn("cannot look for a coordinator daemon", "err", err)
		}
	}()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if cs := b.Coordinators(); len(cs) > 0 {
			// Give its answer over the other address family a moment:
			// an IPv4 address beats a link-local IPv6 one.
			if !cs[0].Addr.Addr().Is4() {
				time.Sleep(settleTime)
				cs = b.Coordinators()
			}
			return cs[0].Addr.String()
		}
		time.Sleep(200 * time.Microsecond)
	}
	return ""
}

// quickJoinOrder sorts open lobbies the way the coordinator's quick-join
// does: fewest free slots first; then the nearest host, then by id, so
// every player tries them in the same order.
func quickJoinOrder(ls []beacon.LobbyInfo, game string) []beacon.LobbyInfo {
	var open []beacon.LobbyInfo
	for _, l := range ls {
		if l.State == beacon.StateOpen && l.Players < l.Capacity && (game == "" || l.Game == game) {
			open = append(open, l)
		}
	}
	slices.SortFunc(open, func(a, b beacon.LobbyInfo) int {
		return cmp.Or(cmp.Compare(a.Capacity-a.Players, b.Capacity-b.Players), cmp.Compare(a.RTT, b.RTT), cmp.Compare(a.ID, b.ID))
	})
	return open
}

// dialLAN connects to the coordinator at addr for a LAN lobby.
func dialLAN(c *cli.Context, addr netip.AddrPort) (*lobby.Client, error) {
	return lobby.Dial(c.Context, addr.String(), lobby.ClientConfig{Player: c.String("player"), Timeout: c.Duration("timeout")})
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || lobby.ValidateLobbyName(h) != nil {
		return ""
	}
	return h
}

// parseHost resolves a coordinator address given on the command line.
func parseHost(addr string) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, strconv.Itoa(lobby.DefaultPort))
	}
	return addr, nil
}

func parseAddrPort(addr string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err == nil {
		return ap, nil
	}
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return tcp.AddrPort(), nil
}
