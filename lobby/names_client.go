package lobby

import "context"

// Register gives name to the room address addr ("room://host:port") in
// the coordinator's name registry, for as long as this client's
// connection lasts (or until Deregister). Names and addresses are unique:
// a name or an address someone else holds is refused (ErrNameTaken,
// ErrAddrTaken). Registering the same name again moves it to addr.
func (c *Client) Register(ctx context.Context, name, addr string) error {
	_, err := c.call(ctx, &request{Op: OpRegister, Name: name, Addr: addr})
	return err
}

// Deregister removes a name this client registered.
func (c *Client) Deregister(ctx context.Context, name string) error {
	_, err := c.call(ctx, &request{Op: OpDeregister, Name: name})
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
