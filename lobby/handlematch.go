package lobby

import (
	"encoding/json"
	"net/netip"
	"time"
)

// The coordinator's side of parties and reservations: the join reply that
// hands a party's leader its reservation, the owner's reserve op, and the
// timers that release what was not claimed in time.

// encodeJoinedParty is encodeJoined plus the reservation made for the
// joiner's party (nil when it joined alone), whose window it starts.
func (s *Server) encodeJoinedParty(id json.RawMessage, l *Lobby, you Member, local netip.Addr, res *Reservation) []byte {
	if res == nil {
		return s.encodeJoined(id, l, you, local, "")
	}
	s.armReservation(res)
	r := joinReply{ID: replyID(id), OK: true, lobbyState: stateAs(l.Info(), local), You: you,
		Peers: peersAs(l, you.ID, local), Resume: s.tokenOf(you.ID), seatCredentials: s.forSeat(l, you.ID)}
	r.Reservation = reservationWire(res, s.cfg.Now())
	return marshal(r)
}

// reserve is the owner's reserve op: seats held for invited players.
func (s *Server) reserve(sess *session, req *request) ([]byte, []Notice, error) {
	window := time.Duration(req.WindowMS) * time.Millisecond
	res, notices, err := s.reg.Reserve(sess.id, req.Lobby, req.Seats, req.Party, window)
	if err != nil {
		return nil, nil, err
	}
	s.armReservation(res)
	var r struct {
		okReply
		matchReply
	}
	r.ID, r.OK = replyID(req.ID), true
	r.Reservation = reservationWire(res, s.cfg.Now())
	return marshal(r), notices, nil
}

// armReservation releases what is left of res when its window passes.
func (s *Server) armReservation(res *Reservation) {
	if s.resvs == nil {
		s.resvs = make(map[string]*time.Timer)
	}
	s.resvs[res.ID] = time.AfterFunc(res.Expires.Sub(s.cfg.Now()), func() {
		s.submit(op{kind: opReservationExpired, resv: res})
	})
}

func (s *Server) reservationExpired(res *Reservation) {
	delete(s.resvs, res.ID)
	notices := s.reg.ReleaseReservation(res.Lobby, res.ID)
	if len(notices) > 0 {
		s.log.Info("reserved seats released", "lobby", res.Lobby, "reservation", res.ID, "seats", notices[0].Released)
	}
	s.deliver(notices)
}

// stopMatchTimers stops the reservation and subscription timers at
// shutdown.
func (s *Server) stopMatchTimers() {
	for id, t := range s.resvs {
		t.Stop()
		delete(s.resvs, id)
	}
	s.subs.stop()
}
