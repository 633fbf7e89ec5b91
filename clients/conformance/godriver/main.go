// Command godriver is the Go client's driver for the conformance run
// (clients/conformance/README.md): it reads one command a line on stdin,
// carries it out with the root package lanlobby (Host, QuickJoin) and its
// lobby.Client, and prints each reply and every event as one JSON line on
// stdout. The C# and Python SDKs have the same driver (SdkTests.exe conform,
// python/tests/conform_driver.py), so the three clients follow exactly the
// same steps. It exits when stdin ends. Test-only: nothing imports it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/lobby"
)

// cmd is one command of the conductor; only the fields its op uses are set.
type cmd struct {
	Seq         int               `json:"seq"`
	Do          string            `json:"do"`
	Game        string            `json:"game"`
	Name        string            `json:"name"`
	Capacity    int               `json:"capacity"`
	AutoStart   bool              `json:"auto_start"`
	Meta        map[string]string `json:"meta"`
	Version     string            `json:"version"`
	Filterable  []string          `json:"filterable"`
	Port        int               `json:"port"`
	Addr        string            `json:"addr"`
	Player      string            `json:"player"`
	Lobby       string            `json:"lobby"`
	Member      string            `json:"member"`
	Coordinator string            `json:"coordinator"`
	Interface   string            `json:"interface"`
	BeaconPort  uint16            `json:"beacon_port"`
	WaitMS      int               `json:"wait_ms"`
	// Matchmaking: a filter in its wire form, party seats, a reservation
	// token, a ban, an owner's reservation, a subscription's handle.
	Filter      *wireFilter `json:"filter"`
	Seats       int         `json:"seats"`
	Party       []string    `json:"party"`
	Reservation string      `json:"reservation"`
	Ban         bool        `json:"ban"`
	BanMS       int64       `json:"ban_ms"`
	WindowMS    int64       `json:"window_ms"`
	Sub         int         `json:"sub"`
}

// wireFilter is a filter as PROTOCOL.md writes it; an absent bound is open.
type wireFilter struct {
	Version     string            `json:"version"`
	VersionRule string            `json:"version_rule"`
	Meta        map[string]string `json:"meta"`
	Ranges      []struct {
		Key string   `json:"key"`
		Min *float64 `json:"min"`
		Max *float64 `json:"max"`
	} `json:"ranges"`
	Free int `json:"free"`
}

func (w *wireFilter) filter() lanlobby.Filter {
	if w == nil {
		return lanlobby.Filter{}
	}
	f := lanlobby.Filter{Version: w.Version, VersionRule: lanlobby.VersionRule(w.VersionRule), Meta: w.Meta, Free: w.Free}
	for _, r := range w.Ranges {
		rg := lanlobby.Range{Key: r.Key, Min: math.Inf(-1), Max: math.Inf(1)}
		if r.Min != nil {
			rg.Min = *r.Min
		}
		if r.Max != nil {
			rg.Max = *r.Max
		}
		f.Ranges = append(f.Ranges, rg)
	}
	return f
}

type member struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Addr string `json:"addr"`
}

func memberOf(m lobby.Member) member { return member{ID: m.ID, Name: m.Name, Addr: m.Addr} }

type lobbyState struct {
	Lobby     string            `json:"lobby"`
	Game      string            `json:"game"`
	Name      string            `json:"name"`
	Players   int               `json:"players"`
	Capacity  int               `json:"capacity"`
	State     string            `json:"state"`
	Owner     string            `json:"owner"`
	Successor string            `json:"successor"`
	Meta      map[string]string `json:"meta"`
	AutoStart bool              `json:"auto_start"`
	Version   string            `json:"version"`
	Reserved  int               `json:"reserved"`
	Term      uint32            `json:"term"`
}

type joined struct {
	Lobby       lobbyState   `json:"lobby"`
	You         member       `json:"you"`
	Peers       []member     `json:"peers"`
	Invite      string       `json:"invite"`
	Reservation *reservation `json:"reservation"`
}

type reservation struct {
	ID    string   `json:"id"`
	Token string   `json:"token"`
	Lobby string   `json:"lobby"`
	Seats int      `json:"seats"`
	Party []string `json:"party"`
}

func reservationOf(r *lobby.Reservation) *reservation {
	if r == nil {
		return nil
	}
	party := r.Party
	if party == nil {
		party = []string{}
	}
	return &reservation{ID: r.ID, Token: r.Token, Lobby: r.Lobby, Seats: r.Seats, Party: party}
}

type driver struct {
	out    *json.Encoder
	outMu  sync.Mutex
	client *lobby.Client
	sess   *lanlobby.Session
	events sync.WaitGroup
	// subs are the subscriptions made, by the handle the conductor knows
	// them by (1, 2, ...).
	subs map[int]*lobby.Subscription
}

func main() {
	d := &driver{out: json.NewEncoder(os.Stdout), subs: map[int]*lobby.Subscription{}}
	d.out.SetEscapeHTML(false)
	d.print(map[string]any{"ready": true, "lang": "go", "sdk": lobby.ClientName})
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for in.Scan() {
		var c cmd
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			d.print(map[string]any{"seq": 0, "ok": false, "code": "bad_command", "error": err.Error()})
			continue
		}
		res, err := d.do(c)
		if err != nil {
			d.print(map[string]any{"seq": c.Seq, "ok": false, "code": code(err), "error": err.Error()})
		} else {
			if res == nil {
				res = map[string]any{}
			}
			res["seq"], res["ok"] = c.Seq, true
			d.print(res)
		}
		if c.Do == "quit" {
			break
		}
	}
	for _, s := range d.subs {
		s.Close()
	}
	if d.sess != nil {
		d.sess.Close()
	}
	d.events.Wait()
}

func (d *driver) print(v any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	d.out.Encode(v)
}

// code is the coordinator's error code, or what kind of failure it was.
func code(err error) string {
	var le *lobby.Error
	switch {
	case errors.As(err, &le):
		return string(le.Code)
	case errors.Is(err, lobby.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, lobby.ErrConnectionLost), errors.Is(err, lobby.ErrLinkDown):
		return "lost"
	}
	return "error"
}

func (d *driver) config(c cmd) lanlobby.Config {
	cfg := lanlobby.DefaultConfig()
	cfg.Player = c.Player
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if c.Coordinator != "" {
		cfg.Coordinator = c.Coordinator
		return cfg
	}
	// Zero-config: the beacon alone (as the SDKs), on the lab's interface.
	cfg.Interfaces = []string{c.Interface}
	cfg.BeaconPort = c.BeaconPort
	cfg.NoMDNS = true
	wait := time.Duration(c.WaitMS) * time.Millisecond
	cfg.DaemonWait, cfg.FirstAnswerWait, cfg.MaxWait = wait, wait, wait
	return cfg
}

func (d *driver) do(c cmd) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*lanlobby.DefaultTimeout)
	defer cancel()
	if d.client == nil && c.Do != "host" && c.Do != "quick_join" && c.Do != "quit" {
		return nil, errors.New("no client yet: host or quick_join first")
	}
	opts := lobby.JoinOptions{Port: c.Port, Addr: c.Addr, Filter: c.Filter.filter(), Seats: c.Seats, Party: c.Party,
		Reservation: c.Reservation}
	switch c.Do {
	case "quick_join":
		if d.client == nil {
			break
		}
		// A client that has its link quick-joins at its coordinator.
		j, err := d.client.QuickJoin(ctx, c.Game, opts)
		if err != nil {
			return nil, err
		}
		return map[string]any{"joined": joinedOf(j), "coordinator": d.sess.Coordinator()}, nil
	}
	switch c.Do {
	case "host", "quick_join":
		if d.client != nil {
			return nil, errors.New("already connected")
		}
		var s *lanlobby.Session
		var err error
		if c.Do == "host" {
			s, err = lanlobby.Host(ctx, d.config(c), lanlobby.HostOptions{Game: c.Game, Name: c.Name, Players: c.Capacity,
				Meta: c.Meta, Version: c.Version, Filterable: c.Filterable, Port: c.Port, Addr: c.Addr, AutoStart: c.AutoStart})
		} else {
			s, err = lanlobby.QuickJoin(ctx, d.config(c), c.Game, opts)
		}
		if err != nil {
			return nil, err
		}
		d.sess, d.client = s, s.Client()
		d.events.Add(1)
		go d.pump()
		// (Peers is the join reply's list: nobody else acts meanwhile.)
		return map[string]any{"joined": joinedOf(&lobby.Joined{Lobby: s.Lobby(), You: s.You(), Peers: s.Peers(), Invite: s.Invite(),
			Reservation: s.Reservation()}), "coordinator": s.Coordinator()}, nil
	case "create":
		j, err := d.client.Create(ctx, lobby.CreateOptions{Game: c.Game, Name: c.Name, Capacity: c.Capacity, Meta: c.Meta,
			AutoStart: c.AutoStart, Version: c.Version, Filterable: c.Filterable, JoinOptions: opts})
		if err != nil {
			return nil, err
		}
		return map[string]any{"joined": joinedOf(j)}, nil
	case "join":
		j, err := d.client.Join(ctx, c.Lobby, opts)
		if err != nil {
			return nil, err
		}
		return map[string]any{"joined": joinedOf(j)}, nil
	case "leave":
		return nil, d.client.Leave(ctx, c.Lobby)
	case "kick":
		if c.Ban {
			return nil, d.client.KickBan(ctx, c.Lobby, c.Member, time.Duration(c.BanMS)*time.Millisecond)
		}
		return nil, d.client.Kick(ctx, c.Lobby, c.Member)
	case "reserve":
		r, err := d.client.Reserve(ctx, c.Lobby, c.Seats, c.Party, time.Duration(c.WindowMS)*time.Millisecond)
		if err != nil {
			return nil, err
		}
		return map[string]any{"reservation": reservationOf(r)}, nil
	case "subscribe":
		s, err := d.client.Subscribe(ctx, c.Game, c.Filter.filter())
		if err != nil {
			return nil, err
		}
		h := len(d.subs) + 1
		d.subs[h] = s
		d.events.Add(1)
		go d.pumpSub(h, s)
		return map[string]any{"sub": h}, nil
	case "unsubscribe":
		s := d.subs[c.Sub]
		if s == nil {
			return nil, fmt.Errorf("no subscription %d", c.Sub)
		}
		return nil, s.Close()
	case "start":
		return nil, d.client.Start(ctx, c.Lobby)
	case "close":
		return nil, d.client.CloseLobby(ctx, c.Lobby)
	case "set_meta":
		return nil, d.client.SetMeta(ctx, c.Lobby, c.Meta)
	case "list":
		list := d.client.List
		if c.Filter != nil {
			f := c.Filter.filter()
			list = func(ctx context.Context, game string) ([]lobby.Info, error) {
				return d.client.ListFiltered(ctx, game, f)
			}
		}
		ls, err := list(ctx, c.Game)
		if err != nil {
			return nil, err
		}
		out := []lobbyState{}
		for _, l := range ls {
			out = append(out, stateOf(l))
		}
		return map[string]any{"lobbies": out}, nil
	case "ping":
		_, err := d.client.Ping(ctx)
		return nil, err
	case "peers":
		return map[string]any{"peers": membersOf(d.client.Peers(c.Lobby))}, nil
	case "whoami":
		return map[string]any{"member": d.client.ID()}, nil
	case "where":
		return map[string]any{"coordinator": d.client.Addr()}, nil
	case "register":
		return nil, d.client.Register(ctx, c.Name, c.Addr)
	case "deregister":
		return nil, d.client.Deregister(ctx, c.Name)
	case "lookup":
		a, err := d.client.Lookup(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"addr": a}, nil
	case "quit":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown command %q", c.Do)
}

// pump prints every event of the client until its stream ends.
func (d *driver) pump() {
	defer d.events.Done()
	for ev := range d.client.Events() {
		e := map[string]any{"event": string(ev.Kind), "lobby": stateOf(ev.Lobby)}
		switch ev.Kind {
		case lobby.EventCoordinatorLost:
			e["next"] = ev.Next
		case lobby.EventReconnecting:
			e["attempt"] = ev.Attempt
		case lobby.NoticeCoordinatorMoved:
			e["addr"] = ev.Addr
		}
		if ev.Member.ID != "" {
			e["member"] = memberOf(ev.Member)
		}
		if ev.Reason != "" {
			e["reason"] = string(ev.Reason)
		}
		if ev.Kind == lobby.NoticeStarted || ev.Kind == lobby.EventCoordinatorRestarted || ev.Kind == lobby.NoticeTakenOver {
			e["peers"] = membersOf(ev.Peers)
		}
		if ev.Err != nil {
			e["error"] = ev.Err.Error()
		}
		if ev.Banned {
			e["banned"] = true
		}
		if ev.Kind == lobby.NoticeReservationExpired {
			e["reservation"], e["released"] = ev.Reservation, ev.Released
		}
		d.print(e)
	}
}

// pumpSub prints every change of subscription h until it ends.
func (d *driver) pumpSub(h int, s *lobby.Subscription) {
	defer d.events.Done()
	for ch := range s.Changes() {
		d.print(map[string]any{"event": string(ch.Kind), "sub": h, "lobby": stateOf(ch.Lobby)})
	}
}

func stateOf(l lobby.Info) lobbyState {
	meta := l.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return lobbyState{Lobby: l.ID, Game: l.Game, Name: l.Name, Players: l.Players, Capacity: l.Capacity,
		State: string(l.State), Owner: l.Owner, Successor: l.Successor, Meta: meta, AutoStart: l.AutoStart,
		Version: l.Version, Reserved: l.Reserved, Term: l.Term}
}

func membersOf(ms []lobby.Member) []member {
	out := []member{}
	for _, m := range ms {
		out = append(out, memberOf(m))
	}
	return out
}

func joinedOf(j *lobby.Joined) joined {
	return joined{Lobby: stateOf(j.Lobby), You: memberOf(j.You), Peers: membersOf(j.Peers), Invite: j.Invite,
		Reservation: reservationOf(j.Reservation)}
}
