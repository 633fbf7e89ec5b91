package lobby

import "encoding/json"

// missingField names a field that request must carry and does not, or "".
// greeted says whether the link already sent hello (or resume, restore):
// a restore on such a link only adds lobbies and needs no version.
// A request without it is answered bad_request and not carried out, rather
// than failing later with a code that points the client elsewhere
// (unknown_lobby for a leave without a lobby, unsupported_version for a
// hello without v). Fields with a validity rule of their own (names, game
// ids, capacity, addresses) are checked by that rule instead.
func missingField(req *request, line []byte, greeted bool) string {
	switch req.Op {
	case OpHello, OpResume, OpRestore:
		if req.V == 0 && !(req.Op == OpRestore && greeted) && !hasVersion(line) {
			return "v"
		}
		if req.Op == OpResume && (req.Member == "" || req.Token == "") {
			return "member and token"
		}
	case OpJoin, OpLeave, OpStart, OpClose, OpSetMeta:
		if req.Lobby == "" {
			return "lobby"
		}
	case OpKick:
		if req.Lobby == "" || req.Member == "" {
			return "lobby and member"
		}
	case OpDeregister, OpLookup:
		if req.Name == "" {
			return "name"
		}
	}
	return ""
}

// hasVersion reports whether a request line carries a "v" field at all (a
// "v":0 is a version, unsupported, not a missing field). Only greetings
// get here with V zero, so the second decode is rare.
func hasVersion(line []byte) bool {
	var probe struct {
		V *json.RawMessage `json:"v"`
	}
	return json.Unmarshal(line, &probe) == nil && probe.V != nil
}
