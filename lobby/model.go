package lobby

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"slices"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

// State is a lobby's life-cycle state; its value is the wire name.
type State string

// Lobby states.
const (
	StateOpen    State = "open"    // has free slots and takes joins
	StateFull    State = "full"    // every slot taken; opens again when someone leaves
	StateStarted State = "started" // the owner started the game; takes no one new
	StateClosed  State = "closed"  // gone: closed by its owner, emptied, or coordinator shutdown
)

// Reason says why a member left a lobby or why a lobby closed; its value is
// the wire name carried in member_left and closed notices.
type Reason string

// Reasons. The connection-level ones match tcpconn.CloseReason names.
const (
	ReasonLeft          Reason = "left"           // the member asked to leave
	ReasonKicked        Reason = "kicked"         // the owner removed the member
	ReasonTimeout       Reason = "timeout"        // missed its heartbeats
	ReasonDisconnected  Reason = "disconnected"   // its connection closed or reset
	ReasonSlowConsumer  Reason = "slow_consumer"  // it did not read its notices
	ReasonProtocolError Reason = "protocol_error" // it broke the protocol
	ReasonShutdown      Reason = "shutdown"       // the coordinator is stopping
	ReasonOwnerClosed   Reason = "owner_closed"   // closed notice: the owner closed the lobby
)

// Member is one player in a lobby.
type Member struct {
	ID   string `json:"id"`   // the member's connection identity, unique on the coordinator
	Name string `json:"name"` // player name, may be empty
	Addr string `json:"addr"` // game address (ip:port) peers connect to
	// Key is the stable player key the member sent in hello ("" when
	// none), by which bans and named party seats know the player again.
	// It is never sent to anyone.
	Key string `json:"-"`
}

// Lobby is one party being formed. The Registry owns every *Lobby; callers
// outside the owning goroutine get copies through Info.
type Lobby struct {
	ID       string
	Game     string
	Name     string
	Capacity int
	Members  []Member // join order: Members[0] has been present longest
	Owner    string   // member id of the owner
	Meta     map[string]string
	State    State
	// AutoStart makes the lobby start by itself when its last seat is
	// taken: capacity is then "the players needed to start". Without it
	// a full lobby waits for its owner's start, and start works below
	// capacity either way.
	AutoStart bool
	// Version is the game version the lobby was made with ("" when none).
	Version string
	// Filterable lists the metadata keys the host wants advertised on the
	// LAN, where filters can see them (see rules.MaxFilterableKeys).
	Filterable []string
	// Created is when the lobby was made, by the registry's clock.
	Created time.Time

	secret  [sha256.Size]byte // SHA-256 of the password of a private lobby
	private bool              // joinable only with the password; never listed or advertised

	created uint64 // creation order, for oldest-first tie breaks
	bucket  int    // quick-join index bucket (free slots), 0 when not indexed
	heapPos int    // position in that bucket's heap

	reserved     int            // seats held by reservations, not yet claimed
	reservations []*reservation // party and owner reservations (party.go)
	bans         []ban          // banned player keys (ban.go)

	// Term counts the lobby's moves to another coordinator (term.go).
	Term    uint32
	standby map[string]string // member id → where it would serve the lobby (term.go)
	adopted *adoption         // set when this coordinator took the lobby over (term.go)
}

// Players is how many members the lobby has.
func (l *Lobby) Players() int { return len(l.Members) }

// Free is how many slots are left: neither taken nor reserved.
func (l *Lobby) Free() int { return l.Capacity - len(l.Members) - l.reserved }

// Reserved is how many seats reservations hold for players yet to come.
func (l *Lobby) Reserved() int { return l.reserved }

// Successor is the member who becomes owner if the owner leaves, and who
// takes the lobby over if its coordinator is lost: the longest-present
// member other than the owner that registered a standby address (term.go),
// else the longest-present member other than the owner; "" when there is
// none. A member that cannot take the lobby over (it registered no standby:
// an SDK client, a bare Client) is so never named while one that can is in
// the lobby: the others would wait at an address nobody serves. Every
// membership notice names it so peers can re-form without an election.
func (l *Lobby) Successor() string {
	first := ""
	for _, m := range l.Members {
		switch {
		case m.ID == l.Owner:
		case l.standby[m.ID] != "":
			return m.ID
		case first == "":
			first = m.ID
		}
	}
	return first
}

func (l *Lobby) memberIndex(id string) int {
	for i, m := range l.Members {
		if m.ID == id {
			return i
		}
	}
	return -1
}

// MemberIDs lists the members' ids in join order.
func (l *Lobby) MemberIDs() []string {
	ids := make([]string, len(l.Members))
	for i, m := range l.Members {
		ids[i] = m.ID
	}
	return ids
}

func (l *Lobby) refreshState() {
	switch {
	case l.State == StateStarted || l.State == StateClosed:
	case len(l.Members)+l.reserved >= l.Capacity:
		l.State = StateFull
	default:
		l.State = StateOpen
	}
}

// Info is a copy of a lobby's public state, safe to keep and share.
type Info struct {
	ID        string            `json:"id"`
	Game      string            `json:"game"`
	Name      string            `json:"name"`
	Players   int               `json:"players"`
	Capacity  int               `json:"capacity"`
	State     State             `json:"state"`
	Owner     string            `json:"owner"`
	Successor string            `json:"successor,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	// Private lobbies are joined by id and password only: they are not
	// listed, not quick-joined and not advertised on the LAN.
	Private bool `json:"private,omitempty"`
	// AutoStart: the lobby starts by itself when it fills.
	AutoStart bool `json:"auto_start,omitempty"`
	// Version is the lobby's game version ("" when none).
	Version string `json:"version,omitempty"`
	// Reserved is how many seats are held for party members or invited
	// players yet to come; Players + Reserved never exceeds Capacity.
	Reserved int `json:"reserved,omitempty"`
	// Created is when the lobby was made (the quick-join order's tie
	// break: the oldest first).
	Created time.Time `json:"created,omitzero"`
	// Filterable lists the metadata keys advertised on the LAN.
	Filterable []string `json:"filterable,omitempty"`
	// Term counts the lobby's moves to another coordinator (a successor's
	// takeover, or its owner's move to a daemon): when two coordinators
	// hold it, the higher term is the lobby.
	Term uint32 `json:"term,omitempty"`
	// SuccessorAddr is where the successor would serve the lobby if its
	// coordinator were lost ("" when unknown, or on a coordinator that
	// does not hand its lobbies over).
	SuccessorAddr string `json:"successor_addr,omitempty"`
}

// Info returns a copy of the lobby's public state.
func (l *Lobby) Info() Info {
	return Info{ID: l.ID, Game: l.Game, Name: l.Name, Players: len(l.Members), Capacity: l.Capacity,
		State: l.State, Owner: l.Owner, Successor: l.Successor(), Meta: l.Meta, Private: l.private,
		Version: l.Version, Reserved: l.reserved, Created: l.Created, Filterable: l.Filterable, AutoStart: l.AutoStart,
		Term: l.Term, SuccessorAddr: l.successorAddr()}
}

// NoticeKind names a push to lobby members; its value is the wire event name.
type NoticeKind string

// Notice kinds.
const (
	NoticeMemberJoined NoticeKind = "member_joined"
	NoticeMemberLeft   NoticeKind = "member_left"
	NoticeOwnerChanged NoticeKind = "owner_changed"
	NoticeStarted      NoticeKind = "started"
	NoticeClosed       NoticeKind = "closed"
	NoticeUpdated      NoticeKind = "lobby_updated" // metadata changed
	NoticeMemberAway   NoticeKind = "member_away"   // a member's link dropped; its seat is kept for the resume grace
	NoticeMemberBack   NoticeKind = "member_back"   // an away member resumed
	// NoticeReservationExpired: a reservation's window passed and its
	// unclaimed seats were released (Notice.Released).
	NoticeReservationExpired NoticeKind = "reservation_expired"
)

// Notice is something members of one lobby must be told. Registry operations
// return notices instead of sending anything, which keeps the model pure and
// lets the server encode each notice once for all its recipients.
type Notice struct {
	Kind       NoticeKind
	Lobby      Info     // the lobby after the change
	Member     Member   // member_joined, member_left
	Reason     Reason   // member_left, closed
	Peers      []Member // started: every member, in join order
	Recipients []string // member ids to tell: the lobby's members (but not a joiner, who has its reply), plus a kicked member
	// Banned marks the member_left of a kick that banned the member.
	Banned bool
	// Reservation and Released: reservation_expired, the reservation's id
	// and how many of its seats went unclaimed.
	Reservation string
	Released    int
}

// CreateSpec describes a lobby to create.
type CreateSpec struct {
	Game     string
	Name     string
	Capacity int
	Meta     map[string]string
	// Password, when set, makes the lobby private: joined by id with this
	// password only (see Lobby.Private).
	Password string
	// AutoStart starts the lobby when it fills (see Lobby.AutoStart).
	AutoStart bool
	// Version is the game version ("" when none; rules.ValidateVersion).
	Version string
	// Filterable lists metadata keys to advertise on the LAN
	// (rules.ValidateFilterable).
	Filterable []string
}

// Registry holds every lobby of one coordinator and implements the lobby
// rules. It is not safe for concurrent use: one goroutine owns it.
type Registry struct {
	lobbies   map[string]*Lobby
	byMember  map[string][]string // member id -> lobby ids it is in
	games     map[string]*gameIndex
	seq       uint64
	newID     func() string
	maxPerMbr int
	track     bool   // record changes for TakeChanges
	changed   []Info // lobbies changed since the last TakeChanges
	now       func() time.Time
	byAge     lobbyOrder
}

// TakeChanges returns the state of every lobby changed since the last call
// (closed ones with State closed), oldest change first, and forgets them;
// it needs RegistryConfig.TrackChanges.
// The coordinator feeds them to whatever advertises its lobbies on the LAN.
func (r *Registry) TakeChanges() []Info {
	c := r.changed
	r.changed = nil
	return c
}

// takeChanges is TakeChanges for a caller that is done with the changes
// before the registry changes again and then hands them back
// (doneChanges), so that their array is reused.
func (r *Registry) takeChanges() []Info {
	c := r.changed
	r.changed = nil
	return c
}

func (r *Registry) doneChanges(c []Info) {
	if r.changed == nil && cap(c) <= 64 {
		clear(c)
		r.changed = c[:0]
	}
}

func (r *Registry) noteChange(l *Lobby) {
	if r.track {
		r.changed = append(r.changed, l.Info())
	}
}

// RegistryConfig tunes a Registry.
type RegistryConfig struct {
	// MaxLobbiesPerMember caps how many lobbies one member (connection) may
	// be in at once; default DefaultMaxLobbiesPerMember.
	MaxLobbiesPerMember int
	// NewID makes lobby ids; default RandomID. Tests inject a counter.
	NewID func() string
	// TrackChanges makes the registry record every changed lobby for
	// TakeChanges; off, the hot path skips that work.
	TrackChanges bool
	// Now is the clock for creation times, reservation windows and timed
	// bans (default time.Now); tests inject one.
	Now func() time.Time
}

// DefaultMaxLobbiesPerMember is the default cap on lobbies per connection.
const DefaultMaxLobbiesPerMember = 8

// NewRegistry returns an empty registry.
func NewRegistry(cfg RegistryConfig) *Registry {
	if cfg.MaxLobbiesPerMember <= 0 {
		cfg.MaxLobbiesPerMember = DefaultMaxLobbiesPerMember
	}
	if cfg.NewID == nil {
		cfg.NewID = RandomID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Registry{
		now:       cfg.Now,
		lobbies:   make(map[string]*Lobby),
		byMember:  make(map[string][]string),
		games:     make(map[string]*gameIndex),
		newID:     cfg.NewID,
		maxPerMbr: cfg.MaxLobbiesPerMember,
		track:     cfg.TrackChanges,
	}
}

var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// RandomID returns a short random id (10 characters, 50 bits) from an
// alphabet without look-alike characters, easy to read out and type.
func RandomID() string {
	var b [7]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])[:10]
}

// Len is the number of lobbies.
func (r *Registry) Len() int { return len(r.lobbies) }

// Get returns the lobby with that id, or nil.
func (r *Registry) Get(id string) *Lobby { return r.lobbies[id] }

// LobbiesOf lists the ids of the lobbies a member is in.
func (r *Registry) LobbiesOf(memberID string) []string { return r.byMember[memberID] }

// List returns the public lobbies of a game (all games when game is ""),
// oldest first.
func (r *Registry) List(game string) []Info {
	var ls []*Lobby
	for _, l := range r.lobbies {
		if (game == "" || l.Game == game) && !l.private {
			ls = append(ls, l)
		}
	}
	slices.SortFunc(ls, func(a, b *Lobby) int { return cmpUint(a.created, b.created) })
	out := make([]Info, len(ls))
	for i, l := range ls {
		out[i] = l.Info()
	}
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Create makes a lobby owned by m, who is its first member.
func (r *Registry) Create(m Member, spec CreateSpec) (*Lobby, error) {
	game, err := NormalizeGame(spec.Game)
	if err != nil {
		return nil, err
	}
	if err := ValidateLobbyName(spec.Name); err != nil {
		return nil, err
	}
	if err := fromRules(rules.ValidateCapacity(spec.Capacity)); err != nil {
		return nil, err
	}
	if err := ValidateMeta(spec.Meta); err != nil {
		return nil, err
	}
	if err := ValidatePassword(spec.Password); err != nil {
		return nil, err
	}
	if err := fromRules(rules.ValidateVersion(spec.Version)); err != nil {
		return nil, err
	}
	if err := fromRules(rules.ValidateFilterable(spec.Filterable)); err != nil {
		return nil, err
	}
	if len(r.byMember[m.ID]) >= r.maxPerMbr {
		return nil, errorf(CodeTooManyLobbies, "already in %d lobbies", len(r.byMember[m.ID]))
	}
	id := r.newID()
	for r.lobbies[id] != nil {
		id = r.newID()
	}
	r.seq++
	l := &Lobby{ID: id, Game: game, Name: spec.Name, Capacity: spec.Capacity, Owner: m.ID,
		Members: []Member{m}, Meta: cloneMeta(spec.Meta), created: r.seq,
		Version: spec.Version, Filterable: slices.Clone(spec.Filterable), Created: r.now(), AutoStart: spec.AutoStart}
	if spec.Password != "" {
		l.private, l.secret = true, sha256.Sum256([]byte(spec.Password))
	}
	l.refreshState()
	r.lobbies[id] = l
	r.byAge.add(l)
	r.byMember[m.ID] = append(r.byMember[m.ID], id)
	gi := r.index(game)
	gi.lobbies++
	gi.update(l)
	r.noteChange(l)
	return l, nil
}

// Restore re-creates a lobby under its old id, with m as owner, on a
// coordinator that lost it (a restart). If the id is taken it fails with
// CodeAlreadyMember when m is in it, else as Join would.
func (r *Registry) Restore(m Member, id string, spec CreateSpec, started bool) (*Lobby, error) {
	if !validLobbyID(id) {
		return nil, errorf(CodeBadRequest, "lobby id %q is not restorable", id)
	}
	if l := r.lobbies[id]; l != nil {
		if l.memberIndex(m.ID) >= 0 {
			return l, nil
		}
		l, _, err := r.JoinWithPassword(m, id, spec.Password)
		return l, err
	}
	prev := r.newID
	r.newID = func() string { return id }
	l, err := r.Create(m, spec)
	r.newID = prev
	if err == nil && started {
		l.State = StateStarted
		r.index(l.Game).remove(l)
	}
	return l, err
}

// validLobbyID accepts the ids RandomID makes and similar short tokens, for
// lobby and member ids a client asks to restore. Its alphabet is a subset of
// what rules.ValidateLobbyID lets the LAN carry, so a restored lobby can be
// announced.
func validLobbyID(id string) bool {
	if id == "" || len(id) > rules.MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Join adds m to the lobby with that id (not to a private one: see
// JoinWithPassword).
func (r *Registry) Join(m Member, lobbyID string) (*Lobby, []Notice, error) {
	return r.JoinWithPassword(m, lobbyID, "")
}

// JoinWithPassword adds m to the lobby with that id; a private lobby needs
// its password, compared in constant time (of digests, so not even the
// length leaks). A wrong password and an unknown id give different errors:
// the id is the invitation, the password the proof.
func (r *Registry) JoinWithPassword(m Member, lobbyID, password string) (*Lobby, []Notice, error) {
	l, _, notices, err := r.JoinWith(m, lobbyID, JoinSpec{Password: password})
	return l, notices, err
}

// checkPassword lets m into l when l is public or password is its own.
func checkPassword(l *Lobby, password string) error {
	if l.private {
		given := sha256.Sum256([]byte(password))
		if subtle.ConstantTimeCompare(given[:], l.secret[:]) != 1 {
			return errorf(CodeBadPassword, "lobby %s is private: wrong or missing password", l.ID)
		}
	}
	return nil
}

// QuickJoin puts m in the open lobby of game that is closest to starting:
// the fewest free slots that still has room, the oldest on ties.
func (r *Registry) QuickJoin(m Member, game string) (*Lobby, []Notice, error) {
	l, _, notices, err := r.QuickJoinWith(m, game, JoinSpec{})
	return l, notices, err
}

func (r *Registry) joinable(memberID string, l *Lobby) error {
	if l.memberIndex(memberID) >= 0 {
		return errorf(CodeAlreadyMember, "already in lobby %s", l.ID)
	}
	switch l.State {
	case StateStarted:
		return errorf(CodeLobbyStarted, "lobby %s has started", l.ID)
	case StateFull:
		return errorf(CodeLobbyFull, "lobby %s is full (%d/%d)", l.ID, len(l.Members), l.Capacity)
	case StateClosed:
		return errorf(CodeUnknownLobby, "lobby %s is closed", l.ID)
	}
	if len(r.byMember[memberID]) >= r.maxPerMbr {
		return errorf(CodeTooManyLobbies, "already in %d lobbies", len(r.byMember[memberID]))
	}
	return nil
}

func (r *Registry) addMember(l *Lobby, m Member) []Notice {
	l.Members = append(l.Members, m)
	l.refreshState()
	r.byMember[m.ID] = append(r.byMember[m.ID], l.ID)
	r.index(l.Game).update(l)
	r.noteChange(l)
	// The joiner itself learns everything from its join reply.
	others := l.MemberIDs()[:len(l.Members)-1]
	notices := []Notice{{Kind: NoticeMemberJoined, Lobby: l.Info(), Member: m, Recipients: others}}
	if l.AutoStart && len(l.Members) == l.Capacity && l.State != StateStarted {
		l.State = StateStarted
		r.index(l.Game).remove(l)
		r.noteChange(l)
		notices = append(notices, Notice{Kind: NoticeStarted, Lobby: l.Info(), Peers: slices.Clone(l.Members), Recipients: l.MemberIDs()})
	}
	return notices
}

// Leave removes a member from a lobby for the given reason. It is also how
// the server drops members whose link failed (timeout, disconnected, ...).
func (r *Registry) Leave(memberID, lobbyID string, reason Reason) ([]Notice, error) {
	l := r.lobbies[lobbyID]
	if l == nil {
		return nil, errorf(CodeUnknownLobby, "no lobby %q", lobbyID)
	}
	i := l.memberIndex(memberID)
	if i < 0 {
		return nil, errorf(CodeNotMember, "not in lobby %s", lobbyID)
	}
	return r.removeMember(l, i, reason, nil), nil
}

// Kick removes target from the lobby; only the owner may, and not itself.
func (r *Registry) Kick(ownerID, lobbyID, targetID string) ([]Notice, error) {
	l, i, err := r.kickable(ownerID, lobbyID, targetID)
	if err != nil {
		return nil, err
	}
	return r.removeMember(l, i, ReasonKicked, []string{targetID}), nil
}

// kickable finds the member an owner may kick.
func (r *Registry) kickable(ownerID, lobbyID, targetID string) (*Lobby, int, error) {
	l, err := r.owned(ownerID, lobbyID)
	if err != nil {
		return nil, 0, err
	}
	if targetID == ownerID {
		return nil, 0, errorf(CodeBadRequest, "the owner cannot kick itself; leave or close instead")
	}
	i := l.memberIndex(targetID)
	if i < 0 {
		return nil, 0, errorf(CodeUnknownMember, "no member %q in lobby %s", targetID, lobbyID)
	}
	return l, i, nil
}

// Start marks the lobby started: it leaves matchmaking and takes no one new.
func (r *Registry) Start(ownerID, lobbyID string) ([]Notice, error) {
	l, err := r.owned(ownerID, lobbyID)
	if err != nil {
		return nil, err
	}
	if l.State == StateStarted {
		return nil, errorf(CodeLobbyStarted, "lobby %s has already started", lobbyID)
	}
	l.State = StateStarted
	l.reservations, l.reserved = nil, 0 // nobody new comes in
	r.index(l.Game).remove(l)
	r.noteChange(l)
	return []Notice{{Kind: NoticeStarted, Lobby: l.Info(), Peers: slices.Clone(l.Members), Recipients: l.MemberIDs()}}, nil
}

// CloseLobby ends the lobby at its owner's request; every member is told.
func (r *Registry) CloseLobby(ownerID, lobbyID string) ([]Notice, error) {
	l, err := r.owned(ownerID, lobbyID)
	if err != nil {
		return nil, err
	}
	return r.closeLobby(l, ReasonOwnerClosed), nil
}

// SetMeta replaces the lobby's metadata; only the owner may.
func (r *Registry) SetMeta(ownerID, lobbyID string, meta map[string]string) ([]Notice, error) {
	l, err := r.owned(ownerID, lobbyID)
	if err != nil {
		return nil, err
	}
	if err := ValidateMeta(meta); err != nil {
		return nil, err
	}
	l.Meta = cloneMeta(meta)
	r.noteChange(l)
	return []Notice{{Kind: NoticeUpdated, Lobby: l.Info(), Recipients: l.MemberIDs()}}, nil
}

// RemoveMember takes a member out of every lobby it is in, as when its
// connection ends.
func (r *Registry) RemoveMember(memberID string, reason Reason) []Notice {
	var notices []Notice
	for _, id := range slices.Clone(r.byMember[memberID]) {
		n, _ := r.Leave(memberID, id, reason)
		notices = append(notices, n...)
	}
	return notices
}

// CloseAll closes every lobby, as when the coordinator shuts down.
func (r *Registry) CloseAll(reason Reason) []Notice {
	var notices []Notice
	for _, l := range r.lobbies {
		notices = append(notices, r.closeLobby(l, reason)...)
	}
	return notices
}

func (r *Registry) owned(ownerID, lobbyID string) (*Lobby, error) {
	l := r.lobbies[lobbyID]
	if l == nil {
		return nil, errorf(CodeUnknownLobby, "no lobby %q", lobbyID)
	}
	if l.Owner != ownerID {
		return nil, errorf(CodeNotOwner, "only the owner of lobby %s may do that", lobbyID)
	}
	return l, nil
}

// removeMember takes Members[i] out. alsoTell are extra recipients (the
// kicked member). Ownership passes to the longest-present member.
func (r *Registry) removeMember(l *Lobby, i int, reason Reason, alsoTell []string) []Notice {
	m := l.Members[i]
	succ := l.Successor() // the next owner, if m owns the lobby
	l.Members = slices.Delete(l.Members, i, i+1)
	l.forgetStandby(m.ID)
	r.unlinkMember(m.ID, l.ID)
	if len(l.Members) == 0 {
		// Empty lobby closes; nobody is left to tell but a kicked member.
		r.dropLobby(l)
		return nil
	}
	ownerLeft := l.Owner == m.ID
	if ownerLeft {
		l.Owner = succ
	}
	l.refreshState()
	r.index(l.Game).update(l)
	r.noteChange(l)
	info := l.Info()
	recipients := append(l.MemberIDs(), alsoTell...)
	notices := []Notice{{Kind: NoticeMemberLeft, Lobby: info, Member: m, Reason: reason, Recipients: recipients}}
	if ownerLeft {
		notices = append(notices, Notice{Kind: NoticeOwnerChanged, Lobby: info, Recipients: l.MemberIDs()})
	}
	return notices
}

func (r *Registry) closeLobby(l *Lobby, reason Reason) []Notice {
	recipients := l.MemberIDs()
	for _, m := range l.Members {
		r.unlinkMember(m.ID, l.ID)
	}
	r.dropLobby(l)
	return []Notice{{Kind: NoticeClosed, Lobby: l.Info(), Reason: reason, Recipients: recipients}}
}

// dropLobby removes a lobby that has closed, and its game's index once the
// game has no lobby left, so the index never outgrows the live lobbies.
func (r *Registry) dropLobby(l *Lobby) {
	l.State = StateClosed
	gi := r.index(l.Game)
	gi.remove(l)
	delete(r.lobbies, l.ID)
	r.byAge.dropped(r)
	r.noteChange(l)
	if gi.lobbies--; gi.lobbies <= 0 {
		delete(r.games, l.Game)
	}
}

func (r *Registry) unlinkMember(memberID, lobbyID string) {
	ids := r.byMember[memberID]
	if i := slices.Index(ids, lobbyID); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(r.byMember, memberID)
	} else {
		r.byMember[memberID] = ids
	}
}

func (r *Registry) index(game string) *gameIndex {
	g := r.games[game]
	if g == nil {
		g = &gameIndex{}
		r.games[game] = g
	}
	return g
}

func cloneMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
