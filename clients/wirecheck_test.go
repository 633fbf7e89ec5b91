package clients

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// wireProxy sits between every client of a conformance run and the
// coordinator, forwards each line both ways and checks it against the rules
// of PROTOCOL.md: the client's framing, ids, op fields, hello first, a pong
// for every ping within the bound, resume tokens; and the coordinator's
// replies (id echo) and pushes. A broken rule is a violation naming the
// rule, the link and the member. It can also make a link go silent and
// break it, one end at a time, to stage a blip.
type wireProxy struct {
	dial  func() (net.Conn, error) // a new connection to the coordinator
	bound time.Duration            // a ping must be answered within this
	who   func(member string) string
	lns   []net.Listener
	wg    sync.WaitGroup
	done  chan struct{}

	mu         sync.Mutex // guards everything below and every wireLink's fields
	links      []*wireLink
	gate       chan struct{}     // while non-nil, new links wait for it to close (a blip is staged)
	tokens     map[string]string // member id -> resume token, from hello and resume replies
	killed     map[string]bool   // members whose process the test killed
	violations []string
}

// wireLink is one client connection through the proxy.
type wireLink struct {
	n        int
	client   net.Conn
	up       net.Conn
	frozen   bool // nothing is forwarded either way (a silent link)
	frozenAt time.Time
	member   string            // from the hello, resume or restore reply
	started  bool              // its first request (a pong is none) was seen
	inflight map[string]string // raw request id -> op, until the reply
	pings    map[int64]time.Time
	answered int       // pings answered with their pong
	ended    time.Time // when either end closed
}

// Rule names: the client's (PROTOCOL.md sections in brackets).
const (
	ruleLineLength = "framing.line-length [Transport and framing: at most 65,536 bytes]"
	ruleNewline    = "framing.newline [Transport and framing: every message ends with \\n]"
	ruleUTF8       = "framing.utf8 [Transport and framing: lines are UTF-8]"
	ruleObject     = "framing.json [Transport and framing: one JSON object a line]"
	ruleOp         = "request.op [Message kinds: a request has a known op]"
	ruleID         = "request.id [Message kinds: an id, an integer up to 2^53-1 or a string of at most 64 bytes]"
	ruleIDUnique   = "request.id-unique [Message kinds: replies are matched by id]"
	ruleFields     = "op.fields [Requests: the op's fields, of their types]"
	ruleHelloFirst = "hello.first [Connection life cycle 1: hello (or resume, restore) first]"
	rulePongID     = "pong.no-id [ping and pong: a pong carries no id]"
	rulePongSeq    = "pong.seq [ping and pong: a pong echoes the seq of a ping it got]"
	rulePong       = "heartbeat.pong [Connection life cycle 2: every ping answered]"
	ruleResume     = "resume.token [resume: the member id and token the coordinator gave]"
	ruleAccepted   = "request.accepted [Error codes: no request refused as malformed]"
	// The coordinator's.
	ruleServerFrame = "server.framing [the coordinator sends JSON objects]"
	ruleServerKind  = "server.kind [Message kinds: a reply has ok, a push has event]"
	ruleServerID    = "server.reply-id [Message kinds: a reply echoes an id in flight]"
	ruleServerPush  = "server.push-id [Message kinds: a push never has an id]"
)

// maxWireLine is the protocol's line limit (PROTOCOL.md), the \n aside.
const maxWireLine = 65536

// maxViolations bounds what a broken client can pile up.
const maxViolations = 200

// protocolErrors are the codes a coordinator answers malformed requests
// with: a conforming client never gets one.
var protocolErrors = map[string]bool{"bad_request": true, "unknown_op": true, "hello_required": true, "invalid_utf8": true,
	"line_too_long": true, "unsupported_version": true, "already_hello": true, "rate_limited": true}

// fieldKind is a request field's JSON type; required fields are marked.
// An object or array of objects with fields of its own names them in
// fields: a client sends nothing the protocol does not define, nested
// objects included.
type fieldKind struct {
	typ      string // str, int, num (any JSON number), bool, obj (string -> string), arr, strs (array of strings), object, objects
	required bool
	fields   map[string]fieldKind // of an object, or of each element of objects
}

var (
	str, reqStr = fieldKind{typ: "str"}, fieldKind{typ: "str", required: true}
	num, reqNum = fieldKind{typ: "int"}, fieldKind{typ: "int", required: true}
	number      = fieldKind{typ: "num"}
	obj         = fieldKind{typ: "obj"}
	strList     = fieldKind{typ: "strs"}
	boolean     = fieldKind{typ: "bool"}

	// filterKind is a filter (PROTOCOL.md, "Filters").
	filterKind = fieldKind{typ: "object", fields: map[string]fieldKind{
		"version": str, "version_rule": str, "meta": obj, "free": num,
		"ranges": {typ: "objects", fields: map[string]fieldKind{"key": reqStr, "min": number, "max": number}},
	}}
	// restoreKind is restore's lobbies: each one's entry (PROTOCOL.md,
	// "restore"), an owner's with the members it knew.
	restoreKind = fieldKind{typ: "objects", required: true, fields: map[string]fieldKind{
		"lobby": reqStr, "owner": boolean, "game": str, "name": str, "capacity": num, "meta": obj, "started": boolean,
		"port": num, "addr": str, "password": str, "auto_start": boolean, "version": str, "filterable": strList,
		"credential": str, "owner_credential": str,
		"members": {typ: "objects", fields: map[string]fieldKind{"id": reqStr, "name": str, "addr": str}},
		// Issue 11: an owner's lobby secret, term and creation time, and
		// the adoption of a lobby from another coordinator.
		"lobby_secret": str, "term": num, "created_ms": num, "adopt": boolean,
		"departed": {typ: "object", fields: map[string]fieldKind{
			"member": {typ: "object", fields: map[string]fieldKind{"id": reqStr, "name": str, "addr": str}}, "reason": str}},
	}}
)

// opFields is every op a client may send and its fields (besides op and
// id), from PROTOCOL.md "Requests", with the fields of issues 9 (list
// paging, restore's credentials and roster) and 14 (versions, filters,
// parties, bans, subscriptions, the player key) the SDKs send.
var opFields = map[string]map[string]fieldKind{
	"hello":       {"v": reqNum, "player": str, "client": str, "key": str},
	"create":      {"game": reqStr, "name": reqStr, "capacity": reqNum, "port": num, "addr": str, "meta": obj, "password": str, "private": boolean, "auto_start": boolean, "version": str, "filterable": strList},
	"join":        {"lobby": reqStr, "port": num, "addr": str, "password": str, "filter": filterKind, "seats": num, "party": strList, "reservation": str},
	"quick_join":  {"game": reqStr, "port": num, "addr": str, "filter": filterKind, "seats": num, "party": strList},
	"leave":       {"lobby": reqStr},
	"start":       {"lobby": reqStr},
	"close":       {"lobby": reqStr},
	"kick":        {"lobby": reqStr, "member": reqStr, "ban": boolean, "ban_ms": num},
	"set_meta":    {"lobby": reqStr, "meta": {typ: "obj", required: true}},
	"list":        {"game": str, "filter": filterKind, "after": str, "limit": num},
	"resume":      {"v": reqNum, "member": reqStr, "token": reqStr},
	"restore":     {"v": num, "player": str, "client": str, "member": str, "token": str, "key": str, "lobbies": restoreKind},
	"ping":        {},
	"pong":        {"seq": reqNum},
	"register":    {"name": reqStr, "addr": reqStr},
	"deregister":  {"name": reqStr},
	"lookup":      {"name": reqStr},
	"reserve":     {"lobby": reqStr, "seats": reqNum, "party": strList, "window_ms": num},
	"subscribe":   {"game": str, "filter": filterKind},
	"unsubscribe": {"sub": reqNum},
	"standby":     {"lobby": reqStr, "port": num, "addr": str},
	"prove":       {"lobby": reqStr, "nonce": reqStr},
}

// needsEndpoint: ops that take the game's port or full address.
var needsEndpoint = map[string]bool{"create": true, "join": true, "quick_join": true}

var intToken = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// newWireProxy serves lns (already listening) until the test ends.
func newWireProxy(t *testing.T, lns []net.Listener, dial func() (net.Conn, error), bound time.Duration, who func(string) string) *wireProxy {
	p := &wireProxy{dial: dial, bound: bound, who: who, lns: lns, done: make(chan struct{}),
		tokens: map[string]string{}, killed: map[string]bool{}}
	for _, ln := range lns {
		p.wg.Add(1)
		go p.accept(ln)
	}
	t.Cleanup(p.close)
	return p
}

func (p *wireProxy) close() {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return
	default:
	}
	close(p.done)
	for _, l := range p.links {
		l.client.Close()
		l.up.Close()
	}
	p.mu.Unlock()
	for _, ln := range p.lns {
		ln.Close()
	}
	p.wg.Wait()
}

func (p *wireProxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *wireProxy) serve(c net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil { // a blip is being staged: the new link waits
		select {
		case <-gate:
		case <-p.done:
		}
	}
	up, err := p.dial()
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	default:
	}
	l := &wireLink{n: len(p.links) + 1, client: c, up: up, inflight: map[string]string{}, pings: map[int64]time.Time{}}
	p.links = append(p.links, l)
	p.mu.Unlock()
	var both sync.WaitGroup
	both.Add(1)
	go func() {
		defer both.Done()
		p.pump(l, c, up, true)
	}()
	p.pump(l, up, c, false)
	both.Wait()
}

// pump forwards src to dst line by line, checking each line first. A frozen
// link forwards nothing and keeps both ends open until the test breaks them.
func (p *wireProxy) pump(l *wireLink, src, dst net.Conn, fromClient bool) {
	r := bufio.NewReaderSize(src, maxWireLine+2)
	overlong := false
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if fromClient && !overlong {
				p.mu.Lock()
				p.violate(l, ruleLineLength, "a line longer than %d bytes", maxWireLine)
				p.mu.Unlock()
			}
			overlong = true
			p.forward(l, dst, line)
			continue
		}
		now := time.Now()
		if err == nil {
			if !overlong {
				p.mu.Lock()
				if fromClient {
					p.checkClient(l, line, now)
				} else {
					p.checkServer(l, line, now)
				}
				p.mu.Unlock()
			}
			overlong = false
			p.forward(l, dst, line)
			continue
		}
		p.mu.Lock()
		if fromClient && len(line) > 0 && !l.frozen && !p.killed[l.member] {
			p.violate(l, ruleNewline, "the link ended inside a line: %q", truncate(line))
		}
		if l.ended.IsZero() {
			l.ended = now
		}
		frozen := l.frozen
		p.mu.Unlock()
		if !frozen {
			dst.Close()
			src.Close()
		}
		return
	}
}

func (p *wireProxy) forward(l *wireLink, dst net.Conn, b []byte) {
	p.mu.Lock()
	frozen := l.frozen
	p.mu.Unlock()
	if !frozen {
		dst.Write(b) // a failed write ends the other pump
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// violate records a broken rule; p.mu is held.
func (p *wireProxy) violate(l *wireLink, rule, format string, args ...any) {
	if len(p.violations) >= maxViolations {
		return
	}
	who := "before hello"
	if l.member != "" {
		who = p.who(l.member)
	}
	p.violations = append(p.violations, fmt.Sprintf("rule %s: link %d (%s): %s", rule, l.n, who, fmt.Sprintf(format, args...)))
}

// trimLine drops the \n and a \r before it.
func trimLine(b []byte) []byte {
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// checkClient checks one line a client sent; p.mu is held.
func (p *wireProxy) checkClient(l *wireLink, raw []byte, now time.Time) {
	line := trimLine(raw)
	if len(line) == 0 {
		return // a keep-alive
	}
	if !utf8.Valid(line) {
		p.violate(l, ruleUTF8, "%q", truncate(line))
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil || m == nil {
		p.violate(l, ruleObject, "not a JSON object: %q", truncate(line))
		return
	}
	var op string
	if err := json.Unmarshal(m["op"], &op); err != nil || op == "" {
		p.violate(l, ruleOp, "no op (a string): %s", truncate(line))
		return
	}
	// A pong is not a request: it answers a ping, which the coordinator
	// sends from the moment it accepts the link, before hello.
	if first := !l.started; op != "pong" {
		l.started = true
		if first && op != "hello" && op != "resume" && op != "restore" {
			p.violate(l, ruleHelloFirst, "the first request is %q", op)
		}
	}
	fields, known := opFields[op]
	if op == "pong" {
		if _, has := m["id"]; has {
			p.violate(l, rulePongID, "%s", truncate(line))
		}
		seq, err := strconv.ParseInt(string(m["seq"]), 10, 64)
		if t, pinged := l.pings[seq]; err == nil && pinged {
			if d := now.Sub(t); d > p.bound {
				p.violate(l, rulePong, "ping seq %d answered after %v (bound %v)", seq, d.Round(time.Millisecond), p.bound)
			}
			delete(l.pings, seq)
			l.answered++
		} else {
			p.violate(l, rulePongSeq, "pong for seq %s, which was not pinged on this link or was answered already", m["seq"])
		}
	} else if id, has := m["id"]; !has {
		p.violate(l, ruleID, "%s without an id", op)
	} else {
		if err := checkID(id); err != nil {
			p.violate(l, ruleID, "%s: %v", op, err)
		}
		key := string(id)
		if prev, dup := l.inflight[key]; dup {
			p.violate(l, ruleIDUnique, "%s with id %s while %s with that id awaits its reply", op, key, prev)
		}
		l.inflight[key] = op
	}
	if !known {
		p.violate(l, ruleOp, "unknown op %q", op)
		return
	}
	delete(m, "op")
	delete(m, "id")
	for _, v := range checkFields(op, m, fields) {
		p.violate(l, ruleFields, "%s", v)
	}
	if _, port := m["port"]; needsEndpoint[op] && !port {
		if _, addr := m["addr"]; !addr {
			p.violate(l, ruleFields, "%s without port or addr", op)
		}
	}
	if op == "resume" {
		var member, token string
		json.Unmarshal(m["member"], &member)
		json.Unmarshal(m["token"], &token)
		if want, ok := p.tokens[member]; !ok || want != token {
			p.violate(l, ruleResume, "resume as member %q with a token the coordinator did not give it", member)
		}
	}
}

func checkID(raw json.RawMessage) error {
	s := string(raw)
	if strings.HasPrefix(s, `"`) {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return err
		}
		if len(id) > 64 {
			return fmt.Errorf("a string id of %d bytes", len(id))
		}
		return nil
	}
	if !intToken.MatchString(s) {
		return fmt.Errorf("id %s is neither an integer nor a string", s)
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(s, "-"), 10, 64); err != nil || n > 1<<53-1 {
		return fmt.Errorf("id %s is beyond 2^53-1", s)
	}
	return nil
}

// checkFields checks an object's fields against their table: no field it
// does not define, each of its type (nested objects by their own tables),
// the required ones there. It returns what is wrong, each prefixed with
// path.
func checkFields(path string, m map[string]json.RawMessage, fields map[string]fieldKind) []string {
	var out []string
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := fields[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s has a field %q it does not take", path, k))
			continue
		}
		out = append(out, checkField(path+"."+k, m[k], f)...)
	}
	var missing []string
	for k, f := range fields {
		if _, has := m[k]; f.required && !has {
			missing = append(missing, fmt.Sprintf("%s without %s", path, k))
		}
	}
	sort.Strings(missing)
	return append(out, missing...)
}

// checkField checks one field's value against its kind.
func checkField(path string, raw json.RawMessage, f fieldKind) []string {
	switch f.typ {
	case "object":
		var o map[string]json.RawMessage
		if err := json.Unmarshal(raw, &o); err != nil || o == nil {
			return []string{fmt.Sprintf("%s: not an object: %s", path, truncate(raw))}
		}
		return checkFields(path, o, f.fields)
	case "objects":
		var a []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &a); err != nil || a == nil {
			return []string{fmt.Sprintf("%s: not an array of objects: %s", path, truncate(raw))}
		}
		var out []string
		for i, o := range a {
			if o == nil {
				out = append(out, fmt.Sprintf("%s[%d]: null, not an object", path, i))
				continue
			}
			out = append(out, checkFields(fmt.Sprintf("%s[%d]", path, i), o, f.fields)...)
		}
		return out
	}
	if err := checkType(raw, f.typ); err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	return nil
}

func checkType(raw json.RawMessage, typ string) error {
	var err error
	switch typ {
	case "num":
		var n float64
		err = json.Unmarshal(raw, &n)
	case "strs":
		var a []string
		err = json.Unmarshal(raw, &a)
		if err == nil && a == nil {
			err = errors.New("null, not an array")
		}
	case "str":
		var s string
		err = json.Unmarshal(raw, &s)
	case "int":
		if !intToken.MatchString(string(raw)) {
			err = fmt.Errorf("%s is not an integer", raw)
		}
	case "bool":
		var b bool
		err = json.Unmarshal(raw, &b)
	case "obj":
		var o map[string]string
		err = json.Unmarshal(raw, &o)
		if err == nil && o == nil {
			err = errors.New("null, not an object")
		}
	case "arr":
		var a []json.RawMessage
		err = json.Unmarshal(raw, &a)
		if err == nil && a == nil {
			err = errors.New("null, not an array")
		}
	}
	if err != nil {
		return fmt.Errorf("not of type %s: %v", typ, err)
	}
	return nil
}

// checkServer checks one line the coordinator sent; p.mu is held.
func (p *wireProxy) checkServer(l *wireLink, raw []byte, now time.Time) {
	line := trimLine(raw)
	if len(line) == 0 {
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil || m == nil {
		p.violate(l, ruleServerFrame, "not a JSON object: %q", truncate(line))
		return
	}
	_, isPush := m["event"]
	_, isReply := m["ok"]
	switch {
	case isPush && isReply:
		p.violate(l, ruleServerKind, "both ok and event: %s", truncate(line))
	case isPush:
		if _, has := m["id"]; has {
			p.violate(l, ruleServerPush, "%s", truncate(line))
		}
		var ev string
		json.Unmarshal(m["event"], &ev)
		if ev == "ping" && !l.frozen { // delivered: it must be answered
			if seq, err := strconv.ParseInt(string(m["seq"]), 10, 64); err == nil {
				l.pings[seq] = now
			} else {
				p.violate(l, ruleServerKind, "a ping without an integer seq: %s", truncate(line))
			}
		}
	case isReply:
		id, has := m["id"]
		key := string(id)
		op, inflight := l.inflight[key]
		switch {
		case !has:
			p.violate(l, ruleServerKind, "a reply without id: %s", truncate(line))
			return
		case key == "null":
			p.violate(l, ruleAccepted, "the coordinator could not read a request (a reply with id null): %s", truncate(line))
			return
		case !inflight:
			p.violate(l, ruleServerID, "a reply to id %s, which is not in flight: %s", key, truncate(line))
			return
		}
		delete(l.inflight, key)
		var r struct {
			OK    bool `json:"ok"`
			Error struct{ Code, Message string }
			You   struct {
				ID string `json:"id"`
			} `json:"you"`
			Resume string `json:"resume"`
		}
		json.Unmarshal(line, &r)
		if !r.OK && protocolErrors[r.Error.Code] {
			p.violate(l, ruleAccepted, "%s refused as %s: %s", op, r.Error.Code, r.Error.Message)
		}
		if r.OK && (op == "hello" || op == "resume" || op == "restore") && r.You.ID != "" {
			l.member = r.You.ID
			if r.Resume != "" {
				p.tokens[r.You.ID] = r.Resume
			}
		}
	default:
		p.violate(l, ruleServerKind, "neither ok nor event: %s", truncate(line))
	}
}

// check reports every violation so far, after counting the pings left
// unanswered past the bound (those of a link that ended or went silent
// within the bound are not the client's fault).
func (p *wireProxy) check() []string {
	if p == nil {
		return nil // a run without a proxy (the takeover run)
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		for seq, t := range l.pings {
			if now.Sub(t) <= p.bound {
				continue
			}
			if !l.frozen && (l.ended.IsZero() || l.ended.Sub(t) > p.bound) {
				p.violate(l, rulePong, "ping seq %d got no pong within %v", seq, p.bound)
			}
			delete(l.pings, seq)
		}
	}
	return append([]string(nil), p.violations...)
}

// link is the live link of member (nil when it has none).
func (p *wireProxy) linkOf(member string) *wireLink {
	var found *wireLink
	for _, l := range p.links {
		if l.member == member && l.ended.IsZero() {
			found = l
		}
	}
	return found
}

// answered is how many pings member's live link has answered.
func (p *wireProxy) answered(member string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.linkOf(member); l != nil {
		return l.answered
	}
	return -1
}

// freeze makes member's link silent both ways, as a Wi-Fi blip does, and
// holds new links until cutClient: the coordinator must notice the silence
// before the client comes back.
func (p *wireProxy) freeze(member string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.linkOf(member)
	if l == nil {
		return fmt.Errorf("member %s has no live link", member)
	}
	l.frozen, l.frozenAt = true, time.Now()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
	return nil
}

// cutUpstream closes the coordinator's end of member's frozen link once it
// has been silent for at least silence: the coordinator sees a link that
// closed after a silence.
func (p *wireProxy) cutUpstream(member string, silence time.Duration) error {
	p.mu.Lock()
	var l *wireLink
	for _, x := range p.links {
		if x.member == member && x.frozen {
			l = x
		}
	}
	p.mu.Unlock()
	if l == nil {
		return fmt.Errorf("member %s has no frozen link", member)
	}
	time.Sleep(time.Until(l.frozenAt.Add(silence)))
	return l.up.Close()
}

// cutClient closes the client's end of member's frozen link and lets new
// links through: the client reconnects.
func (p *wireProxy) cutClient(member string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
	for _, l := range p.links {
		if l.member == member && l.frozen {
			return l.client.Close()
		}
	}
	return fmt.Errorf("member %s has no frozen link", member)
}

// markKilled: the test killed member's process; its link may end anywhere.
func (p *wireProxy) markKilled(member string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.killed[member] = true
	p.mu.Unlock()
}
