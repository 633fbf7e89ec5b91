package lobby

import "slices"

// candidate is l as matchmaking reads it (filter.go).
func (l *Lobby) candidate() Candidate {
	return Candidate{ID: l.ID, Game: l.Game, Version: l.Version, Open: l.State == StateOpen, Free: l.Free(),
		Created: l.Created, Seq: l.created, Meta: l.Meta}
}

// compareLobbies is the quick-join order of two lobbies of one game.
func compareLobbies(a, b *Lobby) int {
	return CompareCandidates(
		Candidate{ID: a.ID, Free: a.Free(), Created: a.Created, Seq: a.created},
		Candidate{ID: b.ID, Free: b.Free(), Created: b.Created, Seq: b.created})
}

// Candidate is the lobby as matchmaking reads it: what a coordinator's
// filters and quick-join order see, with all of its metadata.
func (i Info) Candidate() Candidate {
	return Candidate{ID: i.ID, Game: i.Game, Version: i.Version, Open: i.State == StateOpen,
		Free: i.Capacity - i.Players - i.Reserved, Created: i.Created, Meta: i.Meta}
}

// ListMatching is List (the public lobbies of game, "" for all, oldest
// first) with only the lobbies that pass f.
func (r *Registry) ListMatching(game string, f Filter) []Info {
	infos := r.List(game)
	if f.IsZero() {
		return infos
	}
	return slices.DeleteFunc(infos, func(in Info) bool { return f.Match(in.Candidate()) != Matches })
}
