package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
	"github.com/lanlobby/lanlobby/netutil"
)

// A lobby outlives its host. On a game's own coordinator every member
// holds a TCP port in reserve and tells the coordinator (standby), which
// names the successor's in every notice (successor_addr). When the
// coordinator is lost the successor's Session starts a coordinator on that
// port (takeOver), its client adopts the lobby there with the lobby's
// secret and the next term, and it is announced on the LAN; the other
// members' clients go there by themselves, or find the lobby by its id on
// the LAN (locate). A Session whose own coordinator holds the lobby keeps
// watching the LAN (watch): when a coordinator daemon appears it moves the
// lobby there, and when another coordinator announces the lobby with a
// higher term (the host was cut off, and came back after a takeover) it
// checks that one's proof and hands its members over. Package lobby does
// the protocol's part (failover.go, takeover.go there).

// Timings of the watch and the lookups.
const (
	// watchEvery is how often a host's watch looks at what the LAN beacon
	// heard (daemons, higher terms of its lobby): a map lookup, cheap.
	watchEvery = 200 * time.Millisecond
	// daemonRetry is how long a daemon that refused the lobby is left
	// alone before the watch tries it again.
	daemonRetry = 30 * time.Second
	// locateWait bounds one look at the LAN for a lobby's coordinator.
	locateWait = time.Second
	// handoverTimeout bounds a move to a daemon, or a hand-over to a
	// coordinator with a higher term, including the proof it gives.
	handoverTimeout = 5 * time.Second
)

// succession is a Session's part in keeping its lobby alive: the reserved
// port, the coordinator of this process that holds the lobby (Host's, or
// one a takeover started), and the watch of the LAN while it does.
type succession struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // guards the fields below
	client  *lobby.Client
	lobbyID string
	port    *netutil.ReservedPort // where this member would serve the lobby; nil when none
	own     *Coordinator          // this process's coordinator holding the lobby, or nil
	watch   *watch                // running while own is set
	closed  bool
	refused map[string]time.Time // daemons that refused the lobby, by address
}

func newSuccession(cfg Config) *succession {
	return &succession{cfg: cfg, log: cfg.Logger, refused: make(map[string]time.Time)}
}

// clientConfig is the Config's client configuration with the hooks of
// this succession.
func (s *succession) clientConfig() lobby.ClientConfig {
	cc := s.cfg.clientConfig()
	cc.TakeOver = s.takeOver
	cc.Locate = s.locate
	return cc
}

// newSession makes the Session of a seat just taken, and readies its
// succession: the reserved port on a coordinator that hands its lobbies
// over, the watch when this process's coordinator holds the lobby. It runs
// on the caller's goroutine, so the port is reserved where the caller's
// sockets are (a lab host's namespace in tests).
func newSession(ctx context.Context, c *lobby.Client, suc *succession, j *lobby.Joined, addr string) *Session {
	s := &Session{client: c, joined: j, addr: addr, suc: suc}
	suc.mu.Lock()
	suc.client, suc.lobbyID = c, j.Lobby.ID
	own := suc.own
	suc.mu.Unlock()
	if c.Takeover() {
		suc.standby(ctx)
	}
	if own != nil {
		suc.startWatch()
	}
	return s
}

// standby reserves the port this member would serve the lobby at and
// tells the coordinator.
func (s *succession) standby(ctx context.Context) {
	p, err := netutil.ReserveTCP()
	if err != nil {
		s.log.Warn("no port in reserve: this player cannot take the lobby over", "err", err)
		return
	}
	s.mu.Lock()
	if s.closed || s.port != nil {
		s.mu.Unlock()
		p.Close()
		return
	}
	s.port = p
	c, id := s.client, s.lobbyID
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := c.Standby(ctx, id, p.Port()); err != nil {
		s.log.Info("standby not registered", "lobby", id, "err", err)
	}
}

// ownCoordinator is this process's coordinator holding the lobby, or nil.
func (s *succession) ownCoordinator() *Coordinator {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.own
}

// takeOver is the client's TakeOver hook: it starts a coordinator on the
// reserved port, announced on the LAN, and returns its loopback address.
func (s *succession) takeOver(ctx context.Context, t lobby.Takeover) (string, error) {
	s.mu.Lock()
	p, closed := s.port, s.closed
	s.port = nil
	s.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	if p == nil {
		return "", errors.New("lanlobby: no port in reserve to take the lobby over on")
	}
	ln, err := p.Listen()
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	quiet := s.cfg.NoBeacon && s.cfg.NoMDNS
	coord, err := startCoordinatorOn(context.Background(), s.cfg, CoordinatorOptions{NoAnnounce: quiet}, ln)
	if err != nil && !quiet {
		// The LAN cannot be told; the members know the address anyway.
		s.log.Warn("the lobby taken over cannot be announced", "err", err)
		if ln, err = net.Listen("tcp", ":"+strconv.Itoa(port)); err == nil {
			coord, err = startCoordinatorOn(context.Background(), s.cfg, CoordinatorOptions{NoAnnounce: true}, ln)
		}
	}
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		coord.Close()
		return "", ErrClosed
	}
	s.own = coord
	s.mu.Unlock()
	s.log.Info("taking the lobby over", "lobby", t.Lobby.ID, "term", t.Term, "departed", t.Departed.ID,
		"reason", t.Reason, "port", port)
	s.startWatch()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// locate is the client's Locate hook: one look at the LAN beacon for the
// coordinator announcing lobby id with a term of at least minTerm.
func (s *succession) locate(ctx context.Context, id string, minTerm uint32) (string, error) {
	if s.cfg.NoBeacon {
		return "", errors.New("lanlobby: the beacon is off: cannot look for the lobby")
	}
	key, err := s.cfg.lanKey()
	if err != nil {
		return "", err
	}
	b, err := beacon.NewBrowser(beacon.BrowserConfig{Net: s.cfg.beaconNet(), Logger: s.cfg.Logger, Key: key})
	if err != nil {
		return "", err
	}
	run := running{spawn: s.cfg.spawn}
	defer run.stop()
	if err := run.start(context.WithoutCancel(ctx), "beacon", b); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, locateWait)
	defer cancel()
	for {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				return "", fmt.Errorf("lanlobby: the beacon stopped while looking for lobby %s", id)
			}
			if l := ev.Lobby; ev.Type != beacon.Removed && l.ID == id && l.Term >= minTerm {
				return l.Host.String(), nil
			}
		case <-ctx.Done():
			return "", fmt.Errorf("lanlobby: lobby %s (term %d or later) not heard on the LAN: %w", id, minTerm, ctx.Err())
		}
	}
}

// close stops the watch, releases the reserved port and hands back this
// process's coordinator holding the lobby (nil when none), which the
// caller closes. No takeover starts afterwards.
func (s *succession) close() *Coordinator {
	s.mu.Lock()
	s.closed = true
	own, w, p := s.own, s.watch, s.port
	s.own, s.watch, s.port = nil, nil, nil
	s.mu.Unlock()
	if w != nil {
		w.stop()
	}
	if p != nil {
		p.Close()
	}
	return own
}

// watch is a host's look at the LAN while its coordinator holds the
// lobby: daemons to move it to, higher terms to give it up to.
type watch struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func (w *watch) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}

// startWatch starts the watch unless it runs, or nothing can be heard
// (the beacon is off).
func (s *succession) startWatch() {
	if s.cfg.NoBeacon {
		return
	}
	s.mu.Lock()
	if s.closed || s.watch != nil || s.own == nil {
		s.mu.Unlock()
		return
	}
	w := &watch{quit: make(chan struct{}), done: make(chan struct{})}
	s.watch = w
	s.mu.Unlock()
	go s.runWatch(w)
}

// runWatch is the watch's goroutine: a beacon browser, looked at every
// watchEvery, until the watch stops or the lobby left this process's
// coordinator.
func (s *succession) runWatch(w *watch) {
	defer close(w.done)
	key, err := s.cfg.lanKey()
	if err != nil {
		return
	}
	b, err := beacon.NewBrowser(beacon.BrowserConfig{Net: s.cfg.beaconNet(), Logger: s.cfg.Logger, Key: key})
	if err != nil {
		s.log.Warn("cannot watch the LAN for daemons and takeovers", "err", err)
		return
	}
	run := running{spawn: s.cfg.spawn}
	defer run.stop()
	if err := run.start(context.Background(), "beacon", b); err != nil {
		s.log.Warn("cannot watch the LAN for daemons and takeovers", "err", err)
		return
	}
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		if !s.look(b) {
			s.mu.Lock()
			if s.watch == w {
				s.watch = nil
			}
			s.mu.Unlock()
			return
		}
		select {
		case <-tick.C:
		case <-w.quit:
			return
		}
	}
}

// look acts on what the LAN beacon heard; false when the lobby left this
// process's coordinator (the watch ends).
func (s *succession) look(b *beacon.Browser) bool {
	s.mu.Lock()
	c, id, own, closed := s.client, s.lobbyID, s.own, s.closed
	s.mu.Unlock()
	if closed || own == nil {
		return false
	}
	if c == nil {
		return true // the Session is not made yet
	}
	info, ok := c.LobbyInfo(id)
	if !ok {
		return true
	}
	// The term to defend is the one this process's coordinator holds, and
	// only once this client knows it too: a successor's coordinator is
	// started, and watched, before its client has adopted the lobby there,
	// and the coordinator's own announcements of the new term must not
	// pass for another coordinator's.
	ctx, cancel := context.WithTimeout(context.Background(), handoverTimeout)
	term, held, err := own.Server().Term(ctx, id)
	cancel()
	if err != nil || !held || term != info.Term {
		return err == nil // not adopted yet, or the client not told yet: look again
	}
	for _, l := range b.Lobbies() {
		if l.ID == id && l.Term > term {
			return !s.giveUp(c, own, id, l)
		}
	}
	if s.cfg.DaemonWait < 0 {
		return true
	}
	for _, d := range b.Coordinators() {
		addr := d.Addr.String()
		s.mu.Lock()
		at, tried := s.refused[addr]
		s.mu.Unlock()
		if tried && time.Since(at) < daemonRetry {
			continue
		}
		return !s.moveToDaemon(c, own, id, info, addr)
	}
	return true
}

// moveToDaemon moves the lobby from this process's coordinator to the
// daemon at addr: the owner adopts it there, the members are told
// (coordinator_moved) and follow, and this process's coordinator stops.
// It reports whether the lobby moved.
func (s *succession) moveToDaemon(c *lobby.Client, own *Coordinator, id string, info lobby.Info, addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), handoverTimeout)
	defer cancel()
	if err := c.MoveTo(ctx, addr); err != nil {
		s.mu.Lock()
		s.refused[addr] = time.Now()
		s.mu.Unlock()
		s.log.Warn("a coordinator daemon appeared but the lobby could not move there", "daemon", addr, "err", err)
		return false
	}
	s.log.Info("lobby moved to a coordinator daemon", "lobby", id, "daemon", addr, "term", info.Term+1)
	s.handOver(own, id, addr, info.Term+1)
	return true
}

// giveUp hands the lobby to the coordinator that announces it with a
// higher term (l), once that one proved it holds the lobby's secret: the
// members (this process's own client among them) are told and follow.
// It reports whether the lobby was given up.
func (s *succession) giveUp(c *lobby.Client, own *Coordinator, id string, l LobbyInfo) bool {
	ctx, cancel := context.WithTimeout(context.Background(), handoverTimeout)
	defer cancel()
	addr := l.Host.String()
	term, err := s.prove(ctx, addr, id, c.LobbySecret(id))
	if err != nil || term < l.Term {
		s.log.Warn("a coordinator announces this lobby with a higher term but cannot prove it holds it",
			"lobby", id, "coordinator", addr, "term", l.Term, "err", err)
		return false
	}
	s.log.Info("the lobby was taken over elsewhere: handing its members over", "lobby", id, "coordinator", addr, "term", term)
	s.handOver(own, id, addr, term)
	return true
}

// prove checks that the coordinator at addr holds lobby id with its
// secret, and returns the lobby's term there.
func (s *succession) prove(ctx context.Context, addr, id string, secret []byte) (uint32, error) {
	if secret == nil {
		return 0, errors.New("lanlobby: this client holds no secret of the lobby")
	}
	pc, err := lobby.Dial(ctx, addr, s.cfg.clientConfig())
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	return pc.VerifyLobby(ctx, id, secret)
}

// handOver tells the members of the lobby on this process's coordinator
// that it lives on at addr under term, and stops that coordinator.
func (s *succession) handOver(own *Coordinator, id, addr string, term uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), handoverTimeout)
	defer cancel()
	if err := own.Server().Moved(ctx, id, addr, term); err != nil {
		s.log.Warn("members not told where the lobby went", "lobby", id, "err", err)
	}
	s.mu.Lock()
	if s.own == own {
		s.own = nil
	}
	s.mu.Unlock()
	own.Close() // its links close after the notice is out
}
