package lobby

// restore takes back lobbies a client held on a previous instance of this
// coordinator (it restarted and lost its soft state). Before hello it also
// identifies the client, under its old member id and token when that id is
// free, so peers see the same ids as before. Owners re-create their lobbies
// under the old ids; members re-join them. Nobody is notified: from the
// players' point of view nothing changed. A member whose owner has not
// restored the lobby yet gets unknown_lobby for it and retries.
func (s *Server) restore(sess *session, req *request) {
	if sess.id == "" {
		if !s.greetable(sess, req) {
			return
		}
		if err := ValidatePlayerName(req.Player); err != nil {
			sess.conn.Send(encodeError(req.ID, asError(err)))
			return
		}
		if err := ValidatePlayerKey(req.Key); err != nil {
			sess.conn.Send(encodeError(req.ID, asError(err)))
			return
		}
		id := req.Member
		if !validLobbyID(id) || s.members[id] != nil {
			id = s.freeMemberID() // taken by a live member: never steal an identity
		}
		token := req.Token
		if len(token) != 32 {
			token = newToken()
		}
		s.newMember(sess, id, req.Player, token, req.Key)
	}
	m := s.members[sess.id]
	if len(req.Restore) > s.cfg.MaxLobbiesPerMember {
		s.obs.refuse(LimitLobbiesPerMember)
		sess.conn.Send(encodeError(req.ID, errorf(CodeTooManyLobbies, "%d lobbies to restore, the limit is %d", len(req.Restore), s.cfg.MaxLobbiesPerMember)))
		return
	}
	s.obs.restores.Add(1)
	results := make([]restoreResult, len(req.Restore))
	for i, e := range req.Restore {
		addr, err := GameAddr(sess.ip, e.Port, e.Addr)
		if err == nil {
			you := Member{ID: m.id, Name: m.player, Addr: addr, Key: m.key}
			var l *Lobby
			if e.Owner {
				l, err = s.reg.Restore(you, e.Lobby, CreateSpec{Game: e.Game, Name: e.Name, Capacity: e.Capacity, Meta: e.Meta, Password: e.Password,
					Version: e.Version, Filterable: e.Filterable, AutoStart: e.AutoStart}, e.Started)
			} else if l = s.reg.Get(e.Lobby); l != nil && l.memberIndex(m.id) >= 0 {
				err = nil
			} else {
				l, _, err = s.reg.JoinWithPassword(you, e.Lobby, e.Password) // quietly: nothing changed for the others
			}
			if err == nil {
				s.obs.restored.Add(1)
				results[i] = restoreResult{lobbyState: stateOf(l.Info()), Peers: peersAs(l, m.id, sess.local)}
				continue
			}
		}
		results[i] = restoreResult{lobbyState: lobbyState{Lobby: e.Lobby}, Error: asError(err)}
	}
	sess.conn.Send(s.encodeHello(req, m, nil, results))
	s.log.Info("member restored lobbies", "member", m.id, "lobbies", len(results))
}
