package lanlobby

import (
	"context"
	"errors"
	"sync"

	"github.com/lanlobby/lanlobby/lobby"
)

// ErrNoCoordinator: the name registry lives on a coordinator daemon, and
// none was given (Config.Coordinator) or found on the LAN.
var ErrNoCoordinator = errors.New("lanlobby: no coordinator daemon given or found on the LAN")

// Registration is a name held in a coordinator's name registry: it lasts
// until Close (or this process ends; a blip of the link is resumed).
type Registration struct {
	client *lobby.Client
	name   string
	addr   string
	coord  string
	once   sync.Once
}

// Register gives name to the room address addr ("room://host:port") in
// the name registry of Config.Coordinator, or of a coordinator daemon
// found on the LAN. Names and addresses are unique: lobby.ErrNameTaken,
// lobby.ErrAddrTaken.
func Register(ctx context.Context, cfg Config, name, addr string) (*Registration, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := withTimeout(ctx, cfg)
	defer cancel()
	c, coord, err := registryClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Register(ctx, name, addr); err != nil {
		c.Close()
		return nil, err
	}
	return &Registration{client: c, name: name, addr: addr, coord: coord}, nil
}

// Lookup returns the room address registered for name (lobby.ErrUnknownName
// when there is none).
func Lookup(ctx context.Context, cfg Config, name string) (string, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := withTimeout(ctx, cfg)
	defer cancel()
	c, _, err := registryClient(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.Lookup(ctx, name)
}

// Coordinator is the address of the coordinator holding the name.
func (r *Registration) Coordinator() string { return r.coord }

// Done is closed when the registration is lost (the coordinator is gone
// for good) or closed.
func (r *Registration) Done() <-chan struct{} { return r.client.Done() }

// Err says why Done closed.
func (r *Registration) Err() error { return r.client.Err() }

// Close removes the name and closes the link. It is idempotent.
func (r *Registration) Close() error {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer cancel()
		r.client.Deregister(ctx, r.name) // best effort: the link's end removes it too
		r.client.Close()
	})
	return nil
}

// registryClient dials Config.Coordinator, or the daemon the LAN
// announces (waiting up to FirstAnswerWait for it).
func registryClient(ctx context.Context, cfg Config) (*lobby.Client, string, error) {
	addr := cfg.Coordinator
	if addr == "" {
		look := cfg
		look.DaemonWait = cfg.FirstAnswerWait
		if addr = findDaemon(ctx, look); addr == "" {
			return nil, "", ErrNoCoordinator
		}
	}
	addr = coordinatorAddr(addr)
	c, err := dial(ctx, cfg, addr)
	return c, addr, err
}
