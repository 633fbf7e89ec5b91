package lobby

import (
	"encoding/json"
	"net/netip"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

// Limits of the name registry (PROTOCOL.md, "Name registry").
const (
	// DefaultMaxNames bounds the names registered on one coordinator.
	DefaultMaxNames = 4096
	// MaxNamesPerOwner bounds the names one connection (or, over UDP, one
	// source address) may hold: a room server registers one or a few.
	MaxNamesPerOwner = 64
	// DefaultNameTTL is how long a name registered over UDP lives unless
	// registered again (renewed); names registered over TCP live as long as
	// their connection.
	DefaultNameTTL = 60 * time.Second
	// nameEntryOverhead is what one entry costs besides its strings, for
	// the registry's bound in bytes.
	nameEntryOverhead = 128
	// maxNameBytes bounds the registry's memory: every entry at its
	// largest.
	maxNameBytes = DefaultMaxNames * (rules.MaxRegistryNameLen + rules.MaxRoomAddrLen + nameEntryOverhead)
)

// Registry errors, as wire errors.
var (
	ErrNameTaken    = &Error{Code: CodeNameTaken}
	ErrAddrTaken    = &Error{Code: CodeAddrTaken}
	ErrUnknownName  = &Error{Code: CodeUnknownName}
	ErrTooManyNames = &Error{Code: CodeTooManyNames}
)

// nameOwner is who holds a registration: a member (over TCP: the
// registration lives while the member does, through a resumed blip, and
// goes when it leaves for good), or a UDP source address (then it expires
// unless renewed).
type nameOwner struct {
	member string     // TCP
	udp    netip.Addr // UDP
}

func (o nameOwner) same(p nameOwner) bool { return o == p }

type nameEntry struct {
	name, addr string
	owner      nameOwner
	expires    time.Time // zero for TCP registrations
}

func (e *nameEntry) size() int { return len(e.name) + len(e.addr) + nameEntryOverhead }

// names is the coordinator's name registry: names are unique, and so are
// addresses; a registration belongs to its connection (gone when it
// drops) or, over UDP, to its source address until its TTL passes. It has
// its own lock: it shares nothing with the lobbies, and the UDP listener
// uses it too.
type names struct {
	mu      sync.Mutex // guards the fields below
	byName  map[string]*nameEntry
	byAddr  map[string]*nameEntry
	byOwner map[nameOwner]int
	bytes   int
	max     int
	ttl     time.Duration
	now     func() time.Time
	// nextExpiry is the earliest expiry of a UDP registration (zero when
	// none), so that a sweep walks the table only when one is due.
	nextExpiry time.Time
}

func newNames(max int, ttl time.Duration, now func() time.Time) *names {
	return &names{byName: map[string]*nameEntry{}, byAddr: map[string]*nameEntry{}, byOwner: map[nameOwner]int{},
		max: max, ttl: ttl, now: now}
}

// register gives name to addr for owner: a new registration, a move of
// owner's name to another address, or (same name, same address) a
// renewal.
func (n *names) register(owner nameOwner, name, addr string) error {
	if err := rules.ValidateRegistryName(name); err != nil {
		return fromRules(err)
	}
	addr, err := rules.NormalizeRoomAddr(addr)
	if err != nil {
		return fromRules(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	n.expireLocked(now)
	e := n.byName[name]
	if e != nil && !e.owner.same(owner) {
		return errorf(CodeNameTaken, "%q is registered to %s by someone else", name, e.addr)
	}
	if other := n.byAddr[addr]; other != nil && other != e {
		return errorf(CodeAddrTaken, "%s is registered as %q", addr, other.name)
	}
	if e == nil {
		if n.byOwner[owner] >= MaxNamesPerOwner {
			return errorf(CodeTooManyNames, "%d names registered from here already", MaxNamesPerOwner)
		}
		e = &nameEntry{name: name, owner: owner}
		if len(n.byName) >= n.max || n.bytes+e.size()+len(addr) > maxNameBytes {
			return errorf(CodeTooManyNames, "the registry holds its maximum of %d names", n.max)
		}
		n.byName[name] = e
		n.byOwner[owner]++
	} else {
		delete(n.byAddr, e.addr)
		n.bytes -= e.size()
	}
	e.addr = addr
	n.byAddr[addr] = e
	n.bytes += e.size()
	if owner.member == "" {
		e.expires = now.Add(n.ttl)
		if n.nextExpiry.IsZero() || e.expires.Before(n.nextExpiry) {
			n.nextExpiry = e.expires
		}
	}
	return nil
}

// deregister removes owner's name.
func (n *names) deregister(owner nameOwner, name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expireLocked(n.now())
	e := n.byName[name]
	if e == nil {
		return errorf(CodeUnknownName, "no name %q registered", name)
	}
	if !e.owner.same(owner) {
		return errorf(CodeNotOwner, "%q was registered by someone else", name)
	}
	n.removeLocked(e)
	return nil
}

// lookup returns the address registered for name.
func (n *names) lookup(name string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.expireLocked(n.now())
	if e := n.byName[name]; e != nil {
		return e.addr, nil
	}
	return "", errorf(CodeUnknownName, "no name %q registered", name)
}

// dropOwner removes every registration of a member that left for good.
func (n *names) dropOwner(owner nameOwner) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byOwner[owner] == 0 {
		return
	}
	for _, e := range n.byName {
		if e.owner.same(owner) {
			n.removeLocked(e)
		}
	}
}

// expireLocked drops UDP registrations past their TTL. It walks the table
// only when one is due.
func (n *names) expireLocked(now time.Time) {
	if n.nextExpiry.IsZero() || now.Before(n.nextExpiry) {
		return
	}
	n.nextExpiry = time.Time{}
	for _, e := range n.byName {
		switch {
		case e.expires.IsZero():
		case !now.Before(e.expires):
			n.removeLocked(e)
		case n.nextExpiry.IsZero() || e.expires.Before(n.nextExpiry):
			n.nextExpiry = e.expires
		}
	}
}

func (n *names) removeLocked(e *nameEntry) {
	delete(n.byName, e.name)
	delete(n.byAddr, e.addr)
	n.bytes -= e.size()
	if n.byOwner[e.owner]--; n.byOwner[e.owner] <= 0 {
		delete(n.byOwner, e.owner)
	}
}

// holds reports whether owner holds a name.
func (n *names) holds(owner nameOwner) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byOwner[owner] > 0
}

func (n *names) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.byName)
}

// lookupReply answers lookup.
type lookupReply struct {
	ID   json.RawMessage `json:"id"`
	OK   bool            `json:"ok"`
	Name string          `json:"name"`
	Addr string          `json:"addr"`
}

// nameOp carries out register, deregister and lookup for a connection
// (on the state goroutine, after hello like every op).
func (s *Server) nameOp(sess *session, req *request) ([]byte, error) {
	owner := nameOwner{member: sess.id}
	switch req.Op {
	case OpRegister:
		if err := s.names.register(owner, req.Name, req.Addr); err != nil {
			return nil, err
		}
		s.log.Info("name registered", "name", req.Name, "addr", req.Addr, "member", sess.id)
		return nil, nil
	case OpDeregister:
		return nil, s.names.deregister(owner, req.Name)
	}
	addr, err := s.names.lookup(req.Name)
	if err != nil {
		return nil, err
	}
	return marshal(lookupReply{ID: replyID(req.ID), OK: true, Name: req.Name, Addr: addr}), nil
}
