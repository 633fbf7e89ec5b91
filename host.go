package lanlobby

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lanlobby/lanlobby/beacon"
	"github.com/lanlobby/lanlobby/lobby"
)

// HostOptions describes the lobby to host.
type HostOptions struct {
	// Game is the game id (a-z, 0-9, '-', '_', '.'; matched without case).
	Game string
	// Name is shown to players ("Alice's game").
	Name string
	// Players is the lobby's capacity: the players needed to start,
	// lobby.MinCapacity..lobby.MaxCapacity, the host included.
	Players int
	// Meta is free-form metadata every member receives (map, mode...).
	Meta map[string]string
	// Version is the game version players' filters compare (Filter.Version;
	// "" for none: no versioned filter admits the lobby).
	Version string
	// Filterable names the keys of Meta to advertise on the LAN, so that
	// LAN filters see them: keys of a-z 0-9 . _ -, at most 8, of which the
	// beacon and mDNS carry the first 4 that fit in 72 bytes of keys and
	// values (see Filter). A coordinator filters on all of Meta anyway.
	Filterable []string
	// Port or Addr says where the host's game listens (see JoinOptions).
	Port int
	Addr string
	// Password makes the lobby private: joined by id and this password
	// only, never listed or announced. Private without a Password has the
	// coordinator make up an invite code (Session.Invite).
	Password string
	Private  bool
	// AutoStart starts the lobby when its last seat is taken; without it
	// the host starts it (Session.Start), full or not.
	AutoStart bool
}

// check validates the options before any socket opens, with the same
// rules (and errors) the coordinator applies.
func (o HostOptions) check() error {
	if _, err := lobby.NormalizeGame(o.Game); err != nil {
		return err
	}
	if err := lobby.ValidateLobbyName(o.Name); err != nil {
		return err
	}
	if o.Players < lobby.MinCapacity || o.Players > lobby.MaxCapacity {
		return &lobby.Error{Code: lobby.CodeInvalidCapacity,
			Message: fmt.Sprintf("players must be %d..%d, not %d", lobby.MinCapacity, lobby.MaxCapacity, o.Players)}
	}
	if err := lobby.ValidateMeta(o.Meta); err != nil {
		return err
	}
	if err := lobby.ValidateVersion(o.Version); err != nil {
		return err
	}
	if err := lobby.ValidateFilterable(o.Filterable); err != nil {
		return err
	}
	if err := lobby.ValidatePassword(o.Password); err != nil {
		return err
	}
	if o.Addr == "" && (o.Port < 1 || o.Port > 65535) {
		return &lobby.Error{Code: lobby.CodeInvalidAddress, Message: fmt.Sprintf("game port %d outside 1..65535 (give Port or Addr)", o.Port)}
	}
	return nil
}

// Host creates a lobby and returns the host's seat in it. With
// Config.Coordinator the lobby is created there. Otherwise Host looks for
// a coordinator daemon on the LAN (Config.DaemonWait) while it starts a
// coordinator of its own, uses the daemon if one answered, and announces
// the lobby on the LAN; the lobby then ends when the Session is closed
// (or the process exits). A lobby on the game's own coordinator that one
// discovery protocol could not announce is still hosted: AnnounceProblem
// says why; when neither can, Host fails with ErrNoAnnounce.
func Host(ctx context.Context, cfg Config, opts HostOptions) (*Session, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	if _, err := cfg.lanKey(); err != nil { // before any timing-sensitive step
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, cfg)
	defer cancel()
	create := createOp(lobby.CreateOptions{Game: opts.Game, Name: opts.Name, Capacity: opts.Players, Meta: opts.Meta,
		Version: opts.Version, Filterable: opts.Filterable,
		Private: opts.Private, AutoStart: opts.AutoStart, JoinOptions: JoinOptions{Port: opts.Port, Addr: opts.Addr, Password: opts.Password}})
	if cfg.Coordinator != "" {
		return joinAt(ctx, cfg, coordinatorAddr(cfg.Coordinator), create)
	}
	// Look for a daemon while this process's own coordinator gets ready,
	// so the search costs no more than the set-up it overlaps.
	found := make(chan string, 1)
	go func() { found <- findDaemon(ctx, cfg) }()
	own, err := StartCoordinator(context.WithoutCancel(ctx), cfg, CoordinatorOptions{})
	daemon := <-found
	if err != nil {
		if daemon == "" {
			return nil, err
		}
		cfg.Logger.Warn("own coordinator failed; a daemon was found", "err", err)
	}
	if daemon != "" {
		if own != nil {
			own.Close()
		}
		return joinAt(ctx, cfg, daemon, create)
	}
	c, suc, j, err := create.dial(ctx, cfg, own.local())
	if err != nil {
		if c != nil {
			c.Close()
		}
		own.Close()
		return nil, err
	}
	suc.own = own // before the Session exists: nobody else sees suc yet
	return newSession(ctx, c, suc, j, ":"+strconv.Itoa(own.Port())), nil
}

// findDaemon looks for a coordinator daemon on the LAN for up to
// cfg.DaemonWait and returns its address, or "" when none answered (or the
// beacon, which daemons announce themselves on, cannot run: the host then
// uses its own coordinator, which works as well on one LAN).
func findDaemon(ctx context.Context, cfg Config) string {
	if cfg.DaemonWait <= 0 || cfg.NoBeacon {
		return ""
	}
	key, err := cfg.lanKey()
	if err != nil {
		return ""
	}
	b, err := beacon.NewBrowser(beacon.BrowserConfig{Net: cfg.beaconNet(), Logger: cfg.Logger, Key: key})
	if err != nil {
		return ""
	}
	run := running{spawn: cfg.spawn}
	defer run.stop()
	if err := run.start(context.WithoutCancel(ctx), "beacon", b); err != nil {
		cfg.Logger.Info("cannot look for a coordinator daemon", "err", err)
		return ""
	}
	// Nobody reads its lobby events: the browser coalesces them, bounded.
	deadline := time.Now().Add(cfg.DaemonWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if cs := b.Coordinators(); len(cs) > 0 {
			// An IPv4 address beats a link-local IPv6 one, which races it.
			if !cs[0].Addr.Addr().Is4() {
				time.Sleep(addressSettle)
				cs = b.Coordinators()
			}
			return cs[0].Addr.String()
		}
		time.Sleep(200 * time.Microsecond)
	}
	return ""
}
