package lanlobby

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby/lobby"
)

// Member is a player in a lobby: id, display name and game address.
type Member = lobby.Member

// JoinOptions says where this player's game listens (Port: the
// coordinator pairs it with the address it sees; or a full Addr) and,
// for a private lobby, its password or invite code.
type JoinOptions = lobby.JoinOptions

// LobbyEvent is a notice about the lobby a Session is in: a member joined,
// left, went away or came back, the owner changed, the game started, the
// metadata changed, the lobby closed; or the link was resumed or restored.
type LobbyEvent = lobby.Event

// leaveTimeout bounds the leave that Close sends.
const leaveTimeout = 2 * time.Second

// Session is this player's seat in one lobby, from Host, Join or
// QuickJoin. Owner-only calls (Start, Kick, SetMeta, CloseLobby) fail with
// lobby.ErrNotOwner for the others; ownership passes on when the owner
// leaves. Its methods are safe for concurrent use.
type Session struct {
	client *lobby.Client
	suc    *succession // this process's coordinator of the lobby, takeover, moves (failover.go)
	joined *lobby.Joined
	addr   string // the coordinator first joined at
	once   sync.Once
}

// Lobby is the lobby as it was when this player took the seat; Events
// tells every change since.
func (s *Session) Lobby() lobby.Info { return s.joined.Lobby }

// ID is the lobby's id.
func (s *Session) ID() string { return s.joined.Lobby.ID }

// You is this player as the coordinator recorded it, with the game
// address the others were given.
func (s *Session) You() Member { return s.joined.You }

// Peers are the other members now, in join order, with the game
// addresses to connect to (the join reply's list, kept current by the
// lobby's notices).
func (s *Session) Peers() []Member {
	if s.client.Err() == nil {
		if ps := s.client.Peers(s.ID()); ps != nil || len(s.joined.Peers) == 0 {
			return ps
		}
	}
	return s.joined.Peers
}

// Invite is the invite code of a private lobby created without a
// password ("" otherwise): hand it to the players with the lobby id.
func (s *Session) Invite() string { return s.joined.Invite }

// Coordinator is the address of the coordinator holding the lobby now.
// For a lobby on the game's own coordinator it is ":port" (every address
// of this host). It changes when the lobby moves: to the successor's
// coordinator after a takeover, to a daemon that appeared.
func (s *Session) Coordinator() string {
	if own := s.suc.ownCoordinator(); own != nil {
		return ":" + strconv.Itoa(own.Port())
	}
	if s.client.Err() == nil {
		return s.client.Addr()
	}
	return s.addr
}

// Own reports whether the lobby lives on this process's own coordinator
// now (the host's, or the one this player started when it took the lobby
// over), so that Close ends it for everyone.
func (s *Session) Own() bool { return s.suc.ownCoordinator() != nil }

// AnnounceProblem says which discovery protocol could not announce a
// lobby hosted on the game's own coordinator (the other works), or nil.
func (s *Session) AnnounceProblem() error {
	if own := s.suc.ownCoordinator(); own != nil {
		return own.AnnounceProblem()
	}
	return nil
}

// Network is nil while a lobby on the game's own coordinator can be
// announced, else an error wrapping ErrNoNetwork: it is announced once a
// network interface comes up.
func (s *Session) Network() error {
	if own := s.suc.ownCoordinator(); own != nil {
		return own.Network()
	}
	return nil
}

// Events delivers the lobby's notices; see lobby.Client.Events. When the
// coordinator is lost it says so at once (lobby.EventCoordinatorLost, with
// what happens next), then how the reconnection goes (EventReconnecting,
// once a second) and how it ended: the lobby taken over by its successor
// (lobby.NoticeTakenOver), moved (NoticeCoordinatorMoved), resumed. It
// closes after an EventError when the coordinator is lost for good, and
// after Close.
func (s *Session) Events() <-chan LobbyEvent { return s.client.Events() }

// Client is the coordinator connection, for what Session does not wrap.
func (s *Session) Client() *lobby.Client { return s.client }

// Start marks the lobby started (owner only); every member gets started
// with the final peer list.
func (s *Session) Start(ctx context.Context) error { return s.client.Start(ctx, s.ID()) }

// Kick removes a member (owner only).
func (s *Session) Kick(ctx context.Context, memberID string) error {
	return s.client.Kick(ctx, s.ID(), memberID)
}

// SetMeta replaces the lobby's metadata (owner only).
func (s *Session) SetMeta(ctx context.Context, meta map[string]string) error {
	return s.client.SetMeta(ctx, s.ID(), meta)
}

// CloseLobby ends the lobby for everyone (owner only).
func (s *Session) CloseLobby(ctx context.Context) error { return s.client.CloseLobby(ctx, s.ID()) }

// Leave gives up the seat; the others are told at once.
func (s *Session) Leave(ctx context.Context) error { return s.client.Leave(ctx, s.ID()) }

// Close leaves the lobby and releases everything. On the game's own
// coordinator it ends the lobby for all (they get closed, reason
// shutdown) and sends the LAN goodbyes. It is idempotent.
func (s *Session) Close() error {
	s.once.Do(func() {
		if own := s.suc.close(); own != nil {
			own.Close()
			s.client.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer cancel()
		s.client.Leave(ctx, s.ID()) // best effort: closing the link tells the others too
		s.client.Close()
	})
	return nil
}
