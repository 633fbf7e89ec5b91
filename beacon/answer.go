package beacon

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanlobby/lanlobby/netutil"
)

// Answers to queries (PROTOCOL.md, "Answers"). A query's source address is
// whatever the sender wrote there, so every answer is bounded as if it
// went to a third party: in bytes against the query's own size, per
// source address, and per interface in all.
const (
	// MaxAmplification bounds an answer's datagrams, IP and UDP headers
	// included, to this many times the query's datagram: a forged query
	// makes a victim receive at most three times what the forger sent
	// (the QUIC rule, RFC 9000 §8.1). Browsers pad their queries to
	// MaxPacketSize to earn a full answer.
	MaxAmplification = 3
	// MaxAnswerPackets bounds the datagrams of one answer. A host with
	// more lobbies than fit sets FlagMore on the last one, and the querier
	// asks for the rest with follow-up queries (Packet.After); periodic
	// announcements carry every lobby anyway.
	MaxAnswerPackets = 3
	// DefaultAnswerBytesPerSource is AdvertiserConfig.AnswerBytesPerSource:
	// a full answer of a daemon holding MaxAdvertisedLobbies lobbies with
	// its follow-ups fits the 64 KiB burst.
	DefaultAnswerBytesPerSource = 32 << 10
	// DefaultAnswerBytesPerInterface and DefaultAnswersPerInterface are
	// AdvertiserConfig's per-interface budget: within what the kernel
	// holds for a socket (about 200 KB of queued datagrams) and for
	// neighbours being resolved, for the three seconds a resolution of
	// a forged source that nobody holds takes to fail.
	DefaultAnswerBytesPerInterface = 64 << 10
	DefaultAnswersPerInterface     = 128
	// MulticastAnswerInterval is the least time between two answers
	// multicast (to the group, with no reply flag) for queries that the
	// per-interface budget refused, or whose answers a full send buffer
	// dropped: a browser asking while forged queries use the budget up
	// hears the lobbies within this time. Such answers are bounded as the
	// unicast ones are: MaxAmplification times the refused queries, and
	// MaxAnswerPackets per game asked.
	MulticastAnswerInterval = 50 * time.Millisecond

	ipv4Overhead = 20 + 8 // IPv4 and UDP headers
	ipv6Overhead = 40 + 8
	// maxMulticastGames bounds the games a multicast answer is pending
	// for; queries for more are not answered.
	maxMulticastGames = 16
	// multicastCredit caps what refused queries for one game earn for
	// its multicast answer: one full answer on both families.
	multicastCredit = MaxAnswerPackets * 2 * (MaxPacketSize + ipv6Overhead)
	// multicastPackets bounds the datagrams of the multicast answers sent
	// at once (every MulticastAnswerInterval at most): about 70 KB/s on
	// the LAN while a flood lasts.
	multicastPackets = MaxAnswerPackets
	// answerLobbies is the most lobbies an answer can hold.
	answerLobbies = MaxAnswerPackets * MaxLobbiesPerPacket
)

// ipOverhead is what IP and UDP add to a datagram from or to a.
func ipOverhead(a netip.Addr) int {
	if a.Unmap().Is4() {
		return ipv4Overhead
	}
	return ipv6Overhead
}

// multicastAnswers is the state of the answers multicast for queries the
// unicast budget refused. Run and the read loops (divert) share it.
type multicastAnswers struct {
	mu sync.Mutex // guards games and last
	// games are the games asked for ("" is every game) and the IP bytes
	// their refused queries earned.
	games map[string]int
	last  time.Time // when the last ones were sent
	// spentUntil (unix nanoseconds) is until when the interface budget
	// is taken as spent: Run sets it on each query the budget refuses.
	spentUntil atomic.Int64
	// kick wakes Run when a read loop added to games.
	kick chan struct{}
}

// add records a refused query for game that earned bytes, and returns
// when the multicast answer is due, from now; false when games are full.
func (m *multicastAnswers) add(now time.Time, game string, earned int) (due time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.games == nil {
		m.games = make(map[string]int)
	}
	if _, ok := m.games[game]; !ok && len(m.games) >= maxMulticastGames {
		return 0, false // the pending ones go first
	}
	m.games[game] = min(m.games[game]+earned, multicastCredit)
	return max(m.last.Add(MulticastAnswerInterval).Sub(now), 0), true
}

// divert is the read loops' shortcut during a flood: while the
// interface budget is spent and Run is behind (its queue over an eighth
// full), a query goes straight to the pending multicast answer instead of
// the queue, where it would wait behind the flood or be dropped with it. A
// browser asking meanwhile is answered within MulticastAnswerInterval.
// It reports whether q was taken.
func (a *Advertiser) divert(q received, backlog, capacity int) bool {
	m := &a.mcast
	now := a.cfg.now()
	if backlog <= capacity/8 || now.UnixNano() >= m.spentUntil.Load() || q.pkt.After != "" {
		return false
	}
	a.stats.overBudget.Add(1)
	m.add(now, q.pkt.Game, MaxAmplification*(q.size+ipOverhead(q.src.Addr())))
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return true
}

// answer handles a query: by unicast to its source within the answer
// bounds, or, when the interface's budget is spent, by a multicast answer
// queued for later; then it returns when that is due.
func (r *advRun) answer(q received) (due time.Duration, pending bool) {
	a := r.a
	src := q.src.Addr()
	if !r.onLink(src, q.ifIndex) {
		a.stats.offLink.Add(1)
		return 0, false
	}
	now := a.cfg.now()
	earned := MaxAmplification * (q.size + ipOverhead(src))
	sent, why := r.unicast(now, q, earned)
	if sent {
		return 0, false
	}
	switch why {
	case 0:
		return 0, false // nothing to say, or the query earned too little
	case netutil.BySource:
		if n := a.stats.rateLimited.Add(1); n&(n-1) == 0 {
			a.log.Info("beacon: query not answered: its source used its answer budget", "src", src, "count", n)
		}
		return 0, false
	}
	if n := a.stats.overBudget.Add(1); n&(n-1) == 0 {
		a.log.Warn("beacon: answer budget of the interface spent (a query flood?); answering by multicast",
			"src", q.src, "count", n)
	}
	a.mcast.spentUntil.Store(now.Add(MulticastAnswerInterval).UnixNano())
	if q.pkt.After != "" {
		return 0, false // a follow-up: the querier has the first page
	}
	due, _ = a.mcast.add(now, q.pkt.Game, earned) // when full, the pending ones are due anyway
	return due, true
}

// unicast answers q by unicast within what it earned and the budgets.
// It reports whether anything went out, else which budget refused it
// (0: none did, there was nothing to send or too little earned).
func (r *advRun) unicast(now time.Time, q received, earned int) (sent bool, why netutil.Binding) {
	a := r.a
	src := q.src.Addr()
	bytes, packets, why := r.limiter.Allowance(now, src, q.ifIndex)
	if packets == 0 {
		return false, why
	}
	pkts, spent, more := r.page(&q.pkt, FlagReply, min(earned, bytes), min(packets, MaxAnswerPackets), ipOverhead(src), 1)
	switch {
	case len(pkts) == 0 && !more:
		return false, 0 // nothing of the game asked for
	case len(pkts) == 0 && earned <= bytes:
		a.stats.tooSmall.Add(1)
		return false, 0
	case len(pkts) == 0:
		return false, why
	}
	r.limiter.Spend(src, q.ifIndex, spent, len(pkts))
	dropped := 0
	for _, b := range pkts {
		err := r.answers.SendTo(b, q.src)
		if errors.Is(err, netutil.ErrSendBufferFull) {
			dropped++
			a.stats.sendDrops.Add(1)
		}
		r.count(err, KindAnnounce, q.src)
	}
	if dropped == len(pkts) {
		return false, netutil.ByInterface // nothing went out: answer by multicast
	}
	a.stats.answers.Add(1)
	if more {
		a.stats.truncated.Add(1)
	}
	return true, 0
}

// multicastAnswers sends the pending multicast answers when their time
// has come, as much as their credit allows; otherwise it returns when.
func (r *advRun) multicastAnswers() (due time.Duration, pending bool) {
	m := &r.a.mcast
	m.mu.Lock()
	if len(m.games) == 0 {
		m.mu.Unlock()
		return 0, false
	}
	now := r.a.cfg.now()
	if d := m.last.Add(MulticastAnswerInterval).Sub(now); d > 0 {
		m.mu.Unlock()
		return d, true
	}
	games := make([]string, 0, len(m.games))
	credit := make(map[string]int, len(m.games))
	for g, c := range m.games {
		games = append(games, g)
		credit[g] = c
	}
	clear(m.games)
	m.last = now
	m.mu.Unlock()
	// One game's lobbies first, every game's last: a query for all games
	// would otherwise crowd out a game whose ids sort late.
	slices.SortFunc(games, func(a, b string) int {
		switch {
		case a == "" || b == "":
			return len(b) - len(a) // "" last
		}
		return cmp.Compare(a, b)
	})
	left := multicastPackets
	for _, g := range games {
		// Every host of the LAN receives it, on each family: charged
		// twice at the IPv6 size.
		pkts, _, _ := r.page(&Packet{Kind: KindQuery, Game: g}, 0, credit[g], min(left, MaxAnswerPackets), ipv6Overhead, 2)
		for _, b := range pkts {
			r.count(r.conn.SendMulticast(b), KindAnnounce, netip.AddrPort{})
		}
		if len(pkts) > 0 {
			r.a.stats.multicastAnswers.Add(1)
		}
		if left -= len(pkts); left == 0 {
			break
		}
	}
	return 0, false
}

// page builds an answer to query q, flagged flags: the coordinator packet
// when q asks from the start, then the lobbies of q's game after q.After,
// by id, in at most maxPackets datagrams whose cost, copies × (length +
// overhead) each, totals at most budget. It returns the packets, their
// cost, and whether lobbies were left out (then FlagMore is set on the
// last lobby packet).
func (r *advRun) page(q *Packet, flags Flags, budget, maxPackets, overhead, copies int) (pkts [][]byte, spent int, more bool) {
	a := r.a
	sig := 0
	if !a.sig.key.IsZero() {
		sig = SignedOverhead
	}
	r.seq++
	seq := r.seq
	if c := a.cfg.Coordinator; c != nil && q.After == "" && maxPackets > 0 {
		b, err := a.sig.encode(&Packet{Kind: KindCoordinator, Flags: flags, Seq: seq, TTLSeconds: a.ttl, Coordinator: c})
		if cost := copies * (len(b) + overhead); err == nil && cost <= budget {
			pkts, spent = append(pkts, b), cost
		}
	}
	lobbies, beyond := a.lobbiesAfter(q.Game, q.After, answerLobbies)
	var groups [][]Lobby
	for len(lobbies) > 0 && len(pkts)+len(groups) < maxPackets {
		room := min(MaxPacketSize, (budget-spent)/copies-overhead) - sig
		size, n := headerLen, 0
		for n < len(lobbies) && n < MaxLobbiesPerPacket && size+lobbyRecordLen(&lobbies[n]) <= room {
			size += lobbyRecordLen(&lobbies[n])
			n++
		}
		if n == 0 {
			break
		}
		groups = append(groups, lobbies[:n])
		spent += copies * (size + sig + overhead)
		lobbies = lobbies[n:]
	}
	more = beyond || len(lobbies) > 0
	for i, g := range groups {
		f := flags
		if more && i == len(groups)-1 {
			f |= FlagMore
		}
		b, err := a.sig.encode(&Packet{Kind: KindAnnounce, Flags: f, Seq: seq, TTLSeconds: a.ttl, Lobbies: g})
		if err != nil {
			a.log.Error("beacon: cannot encode answer", "err", err) // a bug: lobbies are validated
			return nil, 0, more
		}
		pkts = append(pkts, b)
	}
	return pkts, spent, more
}

// lobbiesAfter returns up to n lobbies of game ("" for all) whose ids
// sort after after, by id, and whether more follow them.
func (a *Advertiser) lobbiesAfter(game, after string, n int) ([]Lobby, bool) {
	a.lobbiesMu.Lock()
	defer a.lobbiesMu.Unlock()
	if a.sorted == nil {
		a.sorted = sortedLobbies(a.lobbies, "")
	}
	i, found := slices.BinarySearchFunc(a.sorted, after, func(l Lobby, id string) int { return cmp.Compare(l.ID, id) })
	if found {
		i++
	}
	var out []Lobby
	for _, l := range a.sorted[i:] {
		if game != "" && l.Game != game {
			continue
		}
		if len(out) == n {
			return out, true
		}
		out = append(out, l)
	}
	return out, false
}
