package lobby

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/lanlobby/lanlobby/rules"
	"github.com/lanlobby/lanlobby/tcpconn"
)

// Server defaults.
const (
	DefaultPort              = 7600
	DefaultHeartbeatInterval = tcpconn.DefaultHeartbeatInterval
	DefaultHeartbeatMisses   = tcpconn.DefaultHeartbeatMisses
	// DefaultHelloTimeout is how long a new connection has to complete hello.
	DefaultHelloTimeout = 2 * time.Second
	// serverReadBuffer is each link's read buffer: requests and pongs are
	// short, and a coordinator holds thousands of mostly idle links.
	serverReadBuffer = 1024
	// DefaultResumeGrace is how long a dropped member may resume its seat.
	DefaultResumeGrace = 10 * time.Second
	// DefaultSocketBuffer is each connection's kernel send buffer.
	DefaultSocketBuffer = 64 * 1024
	// DefaultMaxConns caps open connections in total.
	DefaultMaxConns = 16384
	// DefaultMaxConnsPerIP caps open connections from one source address:
	// a LAN party has one or a few per machine.
	DefaultMaxConnsPerIP = 512
	// DefaultRequestRate and DefaultRequestBurst are each connection's
	// token bucket for requests (pongs are free): far above what a player
	// does, far below what a flood does.
	DefaultRequestRate  = 200
	DefaultRequestBurst = 400
	// DefaultOpQueue bounds requests waiting for the state goroutine; past
	// it, connection readers wait, which pushes back on the senders' TCP.
	DefaultOpQueue = 4096
	// DefaultSubscriptionPending bounds a connection's waiting
	// subscription output in bytes: some 5,000 lobby changes, merged per
	// lobby, each encoded only when it is sent.
	DefaultSubscriptionPending = 256 << 10
	// DefaultMaxPendingBytes bounds each connection's outbound backlog in
	// bytes: 16 list pages, or thousands of notices. A member that lets
	// more pile up is cut as a slow consumer.
	DefaultMaxPendingBytes = tcpconn.DefaultMaxPendingBytes
	// DefaultLineBudget bounds the memory that all connections together
	// spend on request lines still arriving (bytes beyond each link's 1 KiB
	// read buffer): 512 lines of the maximum length at once, far more
	// than a LAN's players send, far less than 16,384 half-sent lines.
	DefaultLineBudget = 32 << 20
)

// ServerConfig tunes a coordinator. Zero fields take the documented defaults.
type ServerConfig struct {
	// HeartbeatInterval is the ping period (default 1 s).
	HeartbeatInterval time.Duration
	// HeartbeatMisses is how many intervals of silence drop a member with
	// reason timeout (default 3). A silent member is dropped within
	// HeartbeatInterval × (HeartbeatMisses + 1).
	HeartbeatMisses int
	// HelloTimeout is how long a connection may take to complete hello
	// (default 2 s).
	HelloTimeout time.Duration
	// WriteTimeout bounds one flush to a member (default 2 s); past it the
	// member is dropped as a slow consumer.
	WriteTimeout time.Duration
	// SendQueue is each member's outbound queue in messages (default 1024).
	SendQueue int
	// MaxPendingBytes bounds each member's outbound queue in bytes as well
	// (default DefaultMaxPendingBytes, 1 MiB); past it the member is cut as
	// a slow consumer.
	MaxPendingBytes int
	// LineBudget bounds the bytes of request lines still being received,
	// across all connections (default DefaultLineBudget, 32 MiB; negative:
	// no bound). When it is spent, the connections that have held an
	// unfinished line the longest are closed (protocol_error) to make room.
	LineBudget int
	// SocketBuffer is each connection's kernel send buffer in bytes
	// (default 64 KiB; negative: the system's default). Small enough that a
	// member that stops reading is noticed (its writes block, then the
	// write timeout cuts it) before megabytes pile up in the kernel, big
	// enough for any burst of notices a healthy member reads at once.
	SocketBuffer int
	// MaxLineLength is the largest request frame (default 64 KiB).
	MaxLineLength int
	// MaxLobbiesPerMember caps lobbies per connection (default 8).
	MaxLobbiesPerMember int
	// MaxConns caps open connections (default 16384; negative: no cap).
	// Past it a new connection gets a too_many_connections error and is
	// closed.
	MaxConns int
	// MaxConnsPerIP caps open connections from one source address
	// (default 512; negative: no cap).
	MaxConnsPerIP int
	// RequestRate is each connection's sustained requests per second and
	// RequestBurst its bucket size (defaults 200 and 400; a negative rate
	// means no limit). A request over the rate gets a rate_limited error
	// and is not carried out.
	RequestRate  float64
	RequestBurst int
	// Logger receives structured logs (default: discarded).
	Logger *slog.Logger
	// ResumeGrace is how long a member whose link went silent or dropped
	// after a silence keeps its seat, waiting to resume (default 10 s: VR
	// headsets on Wi-Fi blip and sleep; negative: no grace). The others get
	// member_away at once, then member_back, or member_left when it passes.
	ResumeGrace time.Duration
	// KeepLobbiesOnShutdown makes Close drop the links without closing the
	// lobbies (no closed notices): clients then restore them on the next
	// instance at the same address, as after a crash. The daemon sets it, so
	// a restart (an upgrade) loses no lobby; a host's own coordinator does
	// not, since its lobby ends with it.
	KeepLobbiesOnShutdown bool
	// Takeover makes the coordinator hand each lobby to its successor when
	// it is lost (a game's own coordinator, which dies with its game): its
	// hello replies say so ("takeover"), members register where they would
	// serve the lobby (standby), and every state block names the
	// successor's address (successor_addr), so that the members move to
	// the successor's coordinator by themselves. A daemon leaves it off:
	// its lobbies survive its restarts instead (clients restore them).
	Takeover bool
	// OnLobbyChange, when set, is called with a lobby's new state after
	// every change (created, joined, left, started, metadata, closed: State
	// StateClosed), in order, from the goroutine that owns lobby state. It
	// must not block; it is how a LAN advertiser follows the lobbies.
	OnLobbyChange func(Info)
	// NewLobbyID makes lobby ids (default RandomID); tests make them
	// predictable.
	NewLobbyID func() string
	// Secret is the key that resume tokens and restore credentials are
	// derived from (see credentials.go): a coordinator that restarts with
	// the same Secret accepts the credentials it issued before. Nil means a
	// random one for this process (a host's own coordinator, whose lobbies
	// end with it). At least 16 bytes when set. The daemon keeps it in its
	// state directory.
	Secret []byte
	// RestoreWindow is how long the seats of a restored lobby's members are
	// held for them after its owner restored it on a restarted coordinator
	// (default: ResumeGrace plus the heartbeat limit, the time a client
	// keeps trying to come back; negative: no seat is held). Held seats
	// count as taken; a member not back when it ends is reported gone
	// (member_left, reason timeout).
	RestoreWindow time.Duration
	// MaxNames bounds the name registry (default DefaultMaxNames).
	MaxNames int
	// NameTTL is how long a name registered over UDP lives unless renewed
	// (default DefaultNameTTL).
	NameTTL time.Duration
	// ReservationWindow is how long seats a party reserves wait for its
	// members (default rules.DefaultReservationWindow, 10 s); then the
	// unclaimed ones are released and the lobby's members told.
	ReservationWindow time.Duration
	// MaxSubscriptions caps the live subscriptions of one connection
	// (default rules.MaxSubscriptions, 8).
	MaxSubscriptions int
	// SubscriptionPending bounds, in bytes, the subscription output a
	// connection may have waiting while its link is backed up (default
	// DefaultSubscriptionPending). Waiting events are merged per lobby;
	// past the bound the connection's subscriptions end with an
	// unsubscribed push (reason slow_consumer) and it may subscribe again.
	SubscriptionPending int
	// Now is the clock of creation times, reservation windows and timed
	// bans (default time.Now); tests inject one.
	Now func() time.Time
}

// DefaultServerConfig returns the defaults for a LAN coordinator.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		HeartbeatInterval:   DefaultHeartbeatInterval,
		HeartbeatMisses:     DefaultHeartbeatMisses,
		HelloTimeout:        DefaultHelloTimeout,
		WriteTimeout:        tcpconn.DefaultWriteTimeout,
		SendQueue:           tcpconn.DefaultSendQueue,
		MaxPendingBytes:     DefaultMaxPendingBytes,
		LineBudget:          DefaultLineBudget,
		SocketBuffer:        DefaultSocketBuffer,
		ResumeGrace:         DefaultResumeGrace,
		MaxLineLength:       tcpconn.DefaultMaxLineLength,
		MaxLobbiesPerMember: DefaultMaxLobbiesPerMember,
		MaxConns:            DefaultMaxConns,
		MaxConnsPerIP:       DefaultMaxConnsPerIP,
		RequestRate:         DefaultRequestRate,
		RequestBurst:        DefaultRequestBurst,
	}
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	d := DefaultServerConfig()
	if c.MaxNames <= 0 {
		c.MaxNames = DefaultMaxNames
	}
	if c.NameTTL <= 0 {
		c.NameTTL = DefaultNameTTL
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.HeartbeatMisses == 0 {
		c.HeartbeatMisses = d.HeartbeatMisses
	}
	if c.HelloTimeout == 0 {
		c.HelloTimeout = d.HelloTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.SendQueue == 0 {
		c.SendQueue = d.SendQueue
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = d.MaxPendingBytes
	}
	if c.LineBudget == 0 {
		c.LineBudget = d.LineBudget
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = d.SocketBuffer
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = d.ResumeGrace
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = d.MaxLineLength
	}
	if c.MaxLobbiesPerMember == 0 {
		c.MaxLobbiesPerMember = d.MaxLobbiesPerMember
	}
	if c.MaxConns == 0 {
		c.MaxConns = d.MaxConns
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = d.MaxConnsPerIP
	}
	if c.RequestRate == 0 {
		c.RequestRate = d.RequestRate
	}
	if c.RequestBurst <= 0 {
		c.RequestBurst = max(d.RequestBurst, int(2*c.RequestRate))
	}
	if c.RestoreWindow == 0 {
		c.RestoreWindow = max(c.ResumeGrace, 0) + c.HeartbeatInterval*time.Duration(c.HeartbeatMisses+1)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.ReservationWindow <= 0 {
		c.ReservationWindow = rules.DefaultReservationWindow
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = rules.MaxSubscriptions
	}
	if c.SubscriptionPending <= 0 {
		c.SubscriptionPending = DefaultSubscriptionPending
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Secret != nil {
		if len(c.Secret) < minSecretLen {
			return c, fmt.Errorf("lobby: secret of %d bytes; at least %d", len(c.Secret), minSecretLen)
		}
		c.Secret = append([]byte(nil), c.Secret...)
	}
	switch {
	case c.HeartbeatInterval < time.Millisecond:
		return c, fmt.Errorf("lobby: heartbeat interval %v is below 1ms", c.HeartbeatInterval)
	case c.HeartbeatMisses < 1:
		return c, fmt.Errorf("lobby: heartbeat misses %d must be at least 1", c.HeartbeatMisses)
	case c.HelloTimeout < 0 || c.WriteTimeout < 0 || c.SendQueue < 0 || c.MaxLineLength < 0 || c.MaxPendingBytes < 0:
		return c, errors.New("lobby: negative limit in server config")
	case c.MaxPendingBytes < 2*tcpconn.DefaultMaxLineLength:
		return c, fmt.Errorf("lobby: MaxPendingBytes %d cannot hold two frames", c.MaxPendingBytes)
	}
	return c, nil
}
