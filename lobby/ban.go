package lobby

import (
	"fmt"
	"slices"
	"time"

	"github.com/lanlobby/lanlobby/rules"
)

// Bans. An owner who kicks a griefer may ban it: from then on the lobby
// refuses it (banned) and quick-join passes the lobby by for it, for a
// while or until the lobby closes. A player is known by the stable player
// key its client sends in hello (Member.Key). On a LAN that is a courtesy,
// not authentication: a client that makes up a new key gets in again, as
// one that lies about its name does. A member without a key is banned by
// its member id, which lasts until it reconnects.

// ban keeps one banned player out of a lobby.
type ban struct {
	key   string    // banKey of the player
	until time.Time // zero: until the lobby closes
}

// banKey is how a ban knows a member: its player key, else its member id,
// marked with '#' so that it is not mistaken for some player's key.
func banKey(m Member) string {
	if m.Key != "" {
		return m.Key
	}
	return "#" + m.ID
}

// bannedUntil reports whether key is banned from l at now, and until when
// (zero: until the lobby closes).
func (l *Lobby) bannedUntil(key string, now time.Time) (time.Time, bool) {
	for _, b := range l.bans {
		if b.key == key && (b.until.IsZero() || now.Before(b.until)) {
			return b.until, true
		}
	}
	return time.Time{}, false
}

// bansAny reports whether l bans m or any of the named party members.
func (l *Lobby) bansAny(m Member, party []string, now time.Time) bool {
	if len(l.bans) == 0 {
		return false
	}
	if _, ok := l.bannedUntil(banKey(m), now); ok {
		return true
	}
	for _, k := range party {
		if _, ok := l.bannedUntil(k, now); ok {
			return true
		}
	}
	return false
}

// notBanned is nil unless l bans m: then the banned error, saying until
// when.
func (r *Registry) notBanned(l *Lobby, m Member) error {
	until, ok := l.bannedUntil(banKey(m), r.now())
	if !ok {
		return nil
	}
	when := "until it closes"
	if !until.IsZero() {
		when = fmt.Sprintf("for %v more", until.Sub(r.now()).Round(time.Second))
	}
	return errorf(CodeBanned, "the owner of lobby %s banned you %s", l.ID, when)
}

// KickBan kicks target from a lobby the owner owns, as Kick does, and bans
// it: for d, or until the lobby closes when d is 0 (at most
// rules.MaxBanDuration). The member_left notice says so (Banned). A lobby
// keeps at most rules.MaxBansPerLobby bans; past it, expired bans go, then
// the one ending first.
func (r *Registry) KickBan(ownerID, lobbyID, targetID string, d time.Duration) ([]Notice, error) {
	if d < 0 || d > rules.MaxBanDuration {
		return nil, errorf(CodeBadRequest, "ban of %v outside 0..%v (0: until the lobby closes)", d, rules.MaxBanDuration)
	}
	l, i, err := r.kickable(ownerID, lobbyID, targetID)
	if err != nil {
		return nil, err
	}
	now := r.now()
	b := ban{key: banKey(l.Members[i])}
	if d > 0 {
		b.until = now.Add(d)
	}
	l.addBan(b, now)
	notices := r.removeMember(l, i, ReasonKicked, []string{targetID})
	for j := range notices {
		if notices[j].Kind == NoticeMemberLeft {
			notices[j].Banned = true
		}
	}
	return notices, nil
}

// addBan records b, replacing an earlier ban of the same player and
// keeping the table within rules.MaxBansPerLobby.
func (l *Lobby) addBan(b ban, now time.Time) {
	l.bans = slices.DeleteFunc(l.bans, func(o ban) bool {
		return o.key == b.key || !o.until.IsZero() && !now.Before(o.until)
	})
	if len(l.bans) >= rules.MaxBansPerLobby {
		// The ban ending first makes room (one until close ends last).
		first := 0
		for j, o := range l.bans {
			if endsBefore(o, l.bans[first]) {
				first = j
			}
		}
		l.bans = slices.Delete(l.bans, first, first+1)
	}
	l.bans = append(l.bans, b)
}

func endsBefore(a, b ban) bool {
	switch {
	case a.until.IsZero():
		return false
	case b.until.IsZero():
		return true
	}
	return a.until.Before(b.until)
}

// Bans is how many bans the lobby holds (expired ones included until
// they make room).
func (l *Lobby) Bans() int { return len(l.bans) }
