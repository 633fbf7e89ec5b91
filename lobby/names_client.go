package lobby

import (
	"context"
	"errors"
)

// Register gives name to the room address addr ("room://host:port") in
// the coordinator's name registry, for as long as this client's
// connection lasts (or until Deregister). Names and addresses are unique:
// a name or an address someone else holds is refused (ErrNameTaken,
// ErrAddrTaken). Registering the same name again moves it to addr.
func (c *Client) Register(ctx context.Context, name, addr string) error {
	_, err := c.call(ctx, &request{Op: OpRegister, Name: name, Addr: addr})
	if err == nil {
		c.mu.Lock()
		c.names[name] = addr
		c.mu.Unlock()
	}
	return err
}

// Deregister removes a name this client registered.
func (c *Client) Deregister(ctx context.Context, name string) error {
	_, err := c.call(ctx, &request{Op: OpDeregister, Name: name})
	if err == nil || errors.Is(err, ErrUnknownName) {
		c.mu.Lock()
		delete(c.names, name)
		c.mu.Unlock()
	}
	return err
}

// Lookup returns the room address registered for name (ErrUnknownName
// when there is none).
func (c *Client) Lookup(ctx context.Context, name string) (string, error) {
	in, err := c.call(ctx, &request{Op: OpLookup, Name: name})
	if err != nil {
		return "", err
	}
	return in.Addr, nil
}

// EventNameLost: after a coordinator restart, a name this client held
// could not be registered again (someone else took it meanwhile); Name
// says which, Err why.
const EventNameLost NoticeKind = "name_lost"

// reregister registers the client's names again on a coordinator that
// restarted (a resumed link keeps them). A blip keeps them through the
// resume grace, as seats are kept.
func (c *Client) reregister(ctx context.Context) {
	c.mu.Lock()
	held := make(map[string]string, len(c.names))
	for n, a := range c.names {
		held[n] = a
	}
	c.mu.Unlock()
	for name, addr := range held {
		if _, err := c.call(ctx, &request{Op: OpRegister, Name: name, Addr: addr}); err != nil {
			c.mu.Lock()
			delete(c.names, name)
			c.mu.Unlock()
			c.events.push(Event{Kind: EventNameLost, Name: name, Err: err})
		}
	}
}
