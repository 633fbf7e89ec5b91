package lanlobby

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

// CoordinatorOptions says what kind of coordinator to run.
type CoordinatorOptions struct {
	// Listen is the TCP address; "" means ":0" (any free port) for a game's
	// own coordinator and ":7600" for a daemon.
	Listen string
	// Daemon runs a coordinator daemon: it announces itself on the LAN so
	// that hosts hand it their lobbies, and keeps its lobbies across a
	// restart (clients restore them). Without it, the coordinator is a
	// game's own: it serves that game's lobbies and closes them when it
	// stops.
	Daemon bool
	// NoAnnounce keeps the coordinator and its lobbies off the LAN (no
	// beacon, no mDNS): for a coordinator reached by address only, and
	// for tests on loopback.
	NoAnnounce bool
	// NoTakeover keeps a game's own coordinator from handing its lobbies
	// to their successors when it is lost (see lobby.ServerConfig.Takeover):
	// its lobbies then end with it. A daemon never hands them over.
	NoTakeover bool
	// Name labels a daemon in its announcements; "" means the host name.
	Name string
	// StateDir is where a daemon keeps what must survive its restart: the
	// secret its clients' restore credentials derive from (state.go). ""
	// means DefaultStateDir(); when that cannot be used, the daemon warns
	// and keeps the secret in memory (clients then cannot restore their
	// lobbies after a restart). A StateDir given but unusable fails the
	// start. A game's own coordinator keeps its secret in memory: its
	// lobbies end with it.
	StateDir string
	// RegistryUDP, when set, also answers the name registry's UDP text
	// requests on that address ("host:port"; PROTOCOL.md).
	RegistryUDP string
	// OnActivity, when set, is told every lobby created and every notice
	// sent (joins, leaves, ...), from the coordinator's state goroutine:
	// it must not block (see lobby.Server.OnActivity). A daemon logs
	// them.
	OnActivity func(lobby.Activity)
	// Server tunes the coordinator; its zero fields take lobby's defaults.
	// OnLobbyChange and KeepLobbiesOnShutdown are set by Daemon and the
	// announcer.
	Server lobby.ServerConfig
}

// Coordinator is a running coordinator with its LAN announcer.
type Coordinator struct {
	srv  *lobby.Server
	ann  *announcer // nil with NoAnnounce
	ln   net.Listener
	udp  net.Addr // the name registry's UDP listener, or nil
	done chan struct{}
	err  error // Serve's result, set before done closes
	once sync.Once
}

// StartCoordinator listens, starts announcing (unless NoAnnounce) and
// serves until Close or ctx ends. It returns once the coordinator accepts
// connections and the announcer runs; an announcer that cannot start at
// all fails it with ErrNoAnnounce.
func StartCoordinator(ctx context.Context, cfg Config, opts CoordinatorOptions) (*Coordinator, error) {
	cfg = cfg.withDefaults()
	listen := opts.Listen
	if listen == "" {
		listen = ":0"
		if opts.Daemon {
			listen = ":" + strconv.Itoa(lobby.DefaultPort)
		}
	}
	ln, err := lobby.Listen(ctx, listen)
	if err != nil {
		return nil, fmt.Errorf("lanlobby: cannot listen on %s: %w", listen, err)
	}
	return startCoordinatorOn(ctx, cfg, opts, ln)
}

// startCoordinatorOn is StartCoordinator on a listener the caller opened
// (a successor's reserved port); it closes ln when it fails.
func startCoordinatorOn(ctx context.Context, cfg Config, opts CoordinatorOptions, ln net.Listener) (*Coordinator, error) {
	cfg = cfg.withDefaults()
	var err error
	scfg := opts.Server
	if scfg.Logger == nil {
		scfg.Logger = cfg.Logger
	}
	scfg.KeepLobbiesOnShutdown = opts.Daemon
	scfg.Takeover = !opts.Daemon && !opts.NoTakeover
	if opts.Daemon && scfg.Secret == nil {
		if scfg.Secret, err = daemonSecret(cfg, opts.StateDir); err != nil {
			ln.Close()
			return nil, err
		}
	}
	c := &Coordinator{ln: ln, done: make(chan struct{})}
	if !opts.NoAnnounce {
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		var self *beacon.Coordinator
		if opts.Daemon {
			name := opts.Name
			if name == "" {
				name = hostname()
			}
			self = &beacon.Coordinator{ID: lobby.RandomID(), Name: name, Port: port}
		}
		c.ann, err = startAnnouncer(cfg, port, self)
		if err != nil {
			ln.Close()
			return nil, err
		}
		scfg.OnLobbyChange = c.ann.follow
	}
	c.srv, err = lobby.NewServer(scfg)
	if err != nil {
		ln.Close()
		if c.ann != nil {
			c.ann.stop()
		}
		return nil, err
	}
	if opts.OnActivity != nil {
		c.srv.OnActivity(opts.OnActivity)
	}
	var udpDone chan error
	if opts.RegistryUDP != "" {
		pc, err := net.ListenPacket("udp", opts.RegistryUDP)
		if err != nil {
			ln.Close()
			if c.ann != nil {
				c.ann.stop()
			}
			return nil, fmt.Errorf("lanlobby: name registry: %w", err)
		}
		c.udp = pc.LocalAddr()
		udpDone = make(chan error, 1)
		go func() { udpDone <- c.srv.ServeRegistryUDP(ctx, pc) }()
	}
	go func() {
		defer close(c.done)
		err := c.srv.Serve(ctx, ln)
		if udpDone != nil {
			if uerr := <-udpDone; uerr != nil && err == nil {
				err = uerr
			}
		}
		if c.ann != nil {
			// After Serve: the lobbies' closed states are announced
			// (goodbyes) before the announcer stops.
			c.ann.stop()
		}
		if !errors.Is(err, lobby.ErrServerClosed) {
			c.err = err
		}
	}()
	return c, nil
}

// Addr is the address the coordinator listens on.
func (c *Coordinator) Addr() *net.TCPAddr { return c.ln.Addr().(*net.TCPAddr) }

// RegistryAddr is the name registry's UDP address, or nil when off.
func (c *Coordinator) RegistryAddr() net.Addr { return c.udp }

// Port is the coordinator's TCP port.
func (c *Coordinator) Port() int { return c.Addr().Port }

// local is the loopback address a client in the same process dials.
func (c *Coordinator) local() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port()))
}

// AnnounceProblem says which discovery protocol could not announce (the
// other works), or nil when both do or announcing is off.
func (c *Coordinator) AnnounceProblem() error {
	if c.ann == nil {
		return nil
	}
	return c.ann.Problem()
}

// Network is nil while the coordinator's lobbies can be announced, else an
// error wrapping ErrNoNetwork: they are announced once an interface comes
// up. Nil when announcing is off.
func (c *Coordinator) Network() error {
	if c.ann == nil {
		return nil
	}
	return c.ann.Network()
}

// Server is the coordinator itself (stats, config).
func (c *Coordinator) Server() *lobby.Server { return c.srv }

// Done is closed when the coordinator has stopped; Err says why.
func (c *Coordinator) Done() <-chan struct{} { return c.done }

// Err is the coordinator's failure after Done, or nil.
func (c *Coordinator) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close stops the coordinator: a game's own closes its lobbies (members
// are told, and the LAN gets goodbyes); a daemon drops its links and keeps
// its lobbies for clients to restore. It waits until everything stopped
// and is idempotent.
func (c *Coordinator) Close() error {
	c.once.Do(func() { c.srv.Close() })
	<-c.done
	return c.err
}

// daemonSecret loads the daemon's secret from its state directory.
func daemonSecret(cfg Config, dir string) ([]byte, error) {
	if dir != "" {
		return LoadSecret(dir)
	}
	dir, err := DefaultStateDir()
	var secret []byte
	if err == nil {
		secret, err = LoadSecret(dir)
	}
	if err != nil {
		cfg.Logger.Warn("no state directory: lobbies cannot be restored after a restart (set --state-dir)", "err", err)
		return nil, nil
	}
	cfg.Logger.Debug("coordinator secret", "state_dir", dir)
	return secret, nil
}

// hostname is the machine's name when it is a valid label, else "".
func hostname() string {
	h, err := os.Hostname()
	if err != nil || lobby.ValidateLobbyName(h) != nil {
		return ""
	}
	return h
}
