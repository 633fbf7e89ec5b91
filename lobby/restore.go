package lobby

// restore takes back lobbies a client held on a previous instance of this
// coordinator (it restarted and lost its soft state), or on this one after
// its resume grace passed. Before hello it also identifies the client:
// under its old member id when its resume token proves that id (and the id
// is free), else under a new one. Each lobby needs the seat credential of
// that member id (credentials.go):
//   - a seat the member still has, or that its owner's restore held for it,
//     is taken back quietly: the others' view did not change;
//   - a lobby that exists without the member (its grace passed, or it was
//     never seated there) takes it as a new member: the others get
//     member_joined;
//   - a lobby that does not exist is re-created by its owner, under the
//     same id, with the owner credential; the members the owner lists keep
//     their seats for the restore window. A member whose owner is not back
//     yet gets unknown_lobby and retries;
//   - an entry that adopts a lobby from another coordinator (takeover.go)
//     makes it here with the secret, term and roster it brings.
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
		proven := validLobbyID(id) && equal(s.creds.token(id), req.Token)
		if !proven {
			// A lobby adopted here (takeover.go) proves its members with
			// the seat credentials of its own secret.
			proven = s.adoptedIdentity(id, req.Restore)
		}
		if !proven && id != "" && req.Token != "" {
			if s.awaitsAdoption(id, req.Restore) {
				sess.conn.Send(encodeError(req.ID, errorf(CodeUnknownLobby, "a lobby of this restore is not here yet (not taken over yet): retry")))
				return
			}
			s.noteGuess("token", sess, id, "")
		}
		if !proven || s.members[id] != nil {
			id = s.freeMemberID() // never steal an identity
		}
		s.newMember(sess, id, req.Player, req.Key)
	}
	m := s.members[sess.id]
	if len(req.Restore) > s.cfg.MaxLobbiesPerMember {
		s.obs.refuse(LimitLobbiesPerMember)
		sess.conn.Send(encodeError(req.ID, errorf(CodeTooManyLobbies, "%d lobbies to restore, the limit is %d", len(req.Restore), s.cfg.MaxLobbiesPerMember)))
		return
	}
	s.obs.restores.Add(1)
	results := make([]restoreResult, len(req.Restore))
	var notices []Notice
	var pushes [][]byte // taken_over, after the reply
	for i, e := range req.Restore {
		tell := s.tellsTakeover(&e, m.id)
		l, ns, err := s.restoreOne(sess, m, e)
		if err != nil {
			results[i] = restoreResult{lobbyState: lobbyState{Lobby: e.Lobby}, Error: asError(err)}
			continue
		}
		notices = append(notices, ns...)
		s.obs.restored.Add(1)
		results[i] = restoreResult{lobbyState: stateAs(l.Info(), sess.local), Peers: peersAs(l, m.id, sess.local),
			seatCredentials: s.forSeat(l, m.id)}
		if f := s.takenOverFrame(l, m.id, sess.local); tell && f != nil {
			pushes = append(pushes, f)
		}
	}
	s.noteSeated(sess)
	sess.conn.Send(s.encodeHello(req, m, nil, results))
	for _, f := range pushes {
		sess.conn.Send(f)
	}
	s.deliver(notices)
	s.log.Info("member restored lobbies", "member", m.id, "lobbies", len(results), "remote", sess.ip)
}

// restoreOne takes back one lobby for member m, returning the notices the
// others must get.
func (s *Server) restoreOne(sess *session, m *member, e restoreLobby) (*Lobby, []Notice, error) {
	addr, err := GameAddr(sess.ip, e.Port, e.Addr)
	if err != nil {
		return nil, nil, err
	}
	if !validLobbyID(e.Lobby) {
		return nil, nil, errorf(CodeBadRequest, "lobby id %q is not restorable", e.Lobby)
	}
	l := s.reg.Get(e.Lobby)
	if secret := s.entrySecret(l, &e); secret == nil || !CheckSeatCredential(secret, m.id, e.Credential) {
		s.noteGuess("credential", sess, m.id, e.Lobby)
		return nil, nil, errorf(CodeBadCredential, "no valid credential for a seat of member %s in lobby %s", m.id, e.Lobby)
	}
	you := Member{ID: m.id, Name: m.player, Addr: addr, Key: m.key}
	switch {
	case l != nil && l.memberIndex(m.id) >= 0:
		return l, s.reclaim(l, you), nil
	case l != nil:
		l, notices, err := s.reg.JoinWithPassword(you, e.Lobby, e.Password)
		return l, notices, err
	case !e.Owner:
		return nil, nil, errorf(CodeUnknownLobby, "lobby %s is not back yet: its owner restores it", e.Lobby)
	case !equal(s.creds.owner(e.Lobby, m.id), e.OwnerCredential):
		if e.Adopt {
			l, err := s.adopt(you, &e)
			return l, nil, err
		}
		s.noteGuess("owner_credential", sess, m.id, e.Lobby)
		return nil, nil, errorf(CodeBadCredential, "no valid owner credential of member %s for lobby %s", m.id, e.Lobby)
	}
	// Recorded once whole (started, its term): never told as it was
	// first made.
	s.reg.quietly(func() {
		l, err = s.reg.Restore(you, e.Lobby, CreateSpec{Game: e.Game, Name: e.Name, Capacity: e.Capacity, Meta: e.Meta, Password: e.Password,
			AutoStart: e.AutoStart, Version: e.Version, Filterable: e.Filterable}, e.Started)
	})
	if err != nil {
		return nil, nil, err
	}
	recreated(l, &e)
	s.reg.noteChange(l)
	s.hold(l, e.Members)
	return l, nil, nil
}
