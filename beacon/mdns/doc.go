// Package mdns publishes and finds lanlobby lobbies with multicast DNS
// (RFC 6762) and DNS-SD (RFC 6763), beside the UDP beacon: a Responder
// publishes each lobby as a service instance of _lanlobby._tcp, a Browser
// turns instances into the beacon package's events, so
// beacon.NewMerge(beaconBrowser, mdnsBrowser) shows lobbies found either
// way, merged by lobby id. Lobbies become visible to avahi-browse, macOS
// and python-zeroconf as well, and lobbies published by them with the TXT
// keys below are found.
//
// The Go mDNS libraries measured on our LAN lab failed needs of ours (no
// subtype answers, wrong escaping of names with spaces, apostrophes or
// UTF-8, no probing, every interface's addresses everywhere), so this
// package implements the protocol itself on github.com/miekg/dns for
// message encoding.
//
// # What is published
//
// A lobby is one service instance:
//
//	PTR  _lanlobby._tcp.local.              -> <name>._lanlobby._tcp.local.
//	PTR  _<game>._sub._lanlobby._tcp.local. -> <name>._lanlobby._tcp.local.  (RFC 6763 §7.1)
//	PTR  _services._dns-sd._udp.local.      -> _lanlobby._tcp.local.          (RFC 6763 §9)
//	SRV  <name>._lanlobby._tcp.local.       -> <host>.local. : coordinator TCP port
//	TXT  <name>._lanlobby._tcp.local.       v=1 id=… g=… p=… c=… s=… n=…
//	A / AAAA <host>.local.                  the addresses of the interface the answer goes out on
//
// <name> is the lobby name as is (spaces, apostrophes, dots, any UTF-8; at
// most 63 bytes); after a name conflict it becomes "<name> (2)", "(3)"…
// <host> is a host name of our own, "lanlobby-" and 8 random hex digits,
// never the machine's host name, which avahi-daemon or mDNSResponder
// already own. Every record has TTL 120 s (DefaultTTL).
//
// # TXT record (version 1)
//
// Keys are case-insensitive, only a key's first occurrence counts, and
// unknown keys are ignored (RFC 6763 §6.4), so later versions may add
// keys; an incompatible change raises v.
//
//	v  required  "1"
//	id required  lobby id: 1..32 bytes of printable ASCII without space
//	g  required  game id: 1..32 bytes of a-z 0-9 . _ -, starting with a
//	             letter or digit (upper case is folded), as on the coordinator
//	p  required  players present: 0..c, decimal
//	c  required  capacity: 2..64, decimal
//	s  required  state: open, full, started or closed
//	n  optional  lobby name, 1..63 bytes of text; default: the instance name
//	gv optional  game version, 1..16 bytes of letters, digits, . _ + -
//	ct optional  creation time, milliseconds since 1970 UTC, decimal
//	m.<key>      optional  a filterable metadata pair (key: a-z 0-9 . _ -),
//	             at most 4 of them and 72 bytes of keys and values
//	mp optional  "1": the lobby has metadata the record does not carry
//
// The attributes (gv, ct, m.*, mp) are the beacon's record extension in
// TXT form (beacon.Attrs): read leniently, a pair that breaks the rules is
// left out and the lobby counted as carrying part of its metadata.
//
// A third-party publisher must set v=1, id, g, p, c and s, and should add
// the subtype _<g>._sub._lanlobby._tcp so that browsers of one game find
// it; for example:
//
//	avahi-publish -s "Bob's lobby" --subtype _demo._sub._lanlobby._tcp \
//	    _lanlobby._tcp 7600 v=1 id=bob1 g=demo p=1 c=4 s=open
//
// A service without a valid TXT record of this form is not shown: it has
// no lobby id to merge by and may be some other program's. "Text" is
// what package rules defines, the same on the coordinator and the beacon:
// UTF-8 without control characters, line separators, bidi controls or
// invisible format characters (a zero-width joiner only inside an emoji
// sequence or where a script needs it); a name is also not blank.
//
// # Signed TXT records (LAN key)
//
// With a LAN key (ResponderConfig.Key, beacon.NewKey), the responder
// adds two keys at the end of every TXT record (SignTXT):
//
//	t  the time it signed, unix milliseconds, decimal
//	h  base64url (no padding) of the 16-byte MAC
//	   = key.Sign("lanlobby mdns v1", message)
//	message = len(instance) instance  port  len(s1) s1  len(s2) s2 ...
//
// where every len is 2 bytes big-endian, instance is the raw instance
// label (the one in use: after a rename "Zoë's game (2)"), port the SRV
// port (2 bytes big-endian), and s1, s2... every TXT string but the h one,
// in order, t included. A browser with the key (BrowserConfig.Key) shows
// only lobbies whose TXT verifies (VerifyTXT) with t within ReplayWindow
// of the record's arrival, either way; it ignores and counts the others
// (BrowserStats: Unsigned, BadSignature, BadTimestamp, per record
// arrival). A lobby already shown whose newest TXT fails stays as it was
// last verified, but only a TXT record that verifies on arrival restarts
// its liveness clock (PTR, SRV and address records are not signed), so it
// leaves Expiry after the last valid one unless another comes; unsigned
// records, and signed ones replayed after the window, cannot keep or
// bring back a lobby. A browser without a key ignores t and h (unknown
// keys), so mixed networks work: unkeyed browsers see keyed lobbies,
// keyed browsers ignore unkeyed ones.
//
// A TXT record is handed out as is until it changes, so its timestamp
// ages: the responder signs it again every ResignInterval (60 s; a TXT
// change, announced at once and a second later: two packets per lobby a
// minute), and before answering a query if the process was suspended
// meanwhile. What it hands out is thus at most 60 s old, and the
// browser's ReplayWindow, 90 s, adds the beacon's 30 s for clocks apart.
// The check is made when a record arrives, not while it sits in the cache
// (its 120 s TTL does not matter): the liveness checks fetch a fresh copy
// every few seconds. A captured announcement can be replayed for up to
// 90 s after it was signed.
//
// # Responder behaviour
//
//   - Probing (RFC 6762 §8.1): 3 probes 250 ms apart after 0-250 ms, for
//     our host name and every instance, with the records claimed in the
//     authority section; a response with the name renames the instance
//     ("(2)") or the host ("-2") and probes again; a simultaneous probe
//     is tie-broken by comparing the authority records (§8.2), the loser
//     probing again a second later. More than 15 conflicts in 10 s slow
//     probing to one per 5 s. Probes are QM: a unicast defense could go
//     to another socket sharing port 5353 on our host.
//   - Announcements (§8.3): at once when probing succeeds, then after 1 s
//     and 2 s more; a TXT change is announced at once and repeated after
//     1 s (§8.4). Registration.Established closes with the first one.
//   - Conflicts after announcing (§9): the name goes back to probing; if
//     the other host still claims it, it is renamed. Our own packets
//     coming back (multicast loopback) are recognised and ignored. The
//     records of a name given up get goodbyes with the first
//     announcement of the new one.
//   - After FallbackAfter (3) conflicts in a row, a name of our own:
//     "<name> [<lobby id>]" for a service, "lanlobby-" and 16 hex digits
//     for the host, announced at once and never given up; a conflicting
//     claim on it is answered by announcing our records again (once a
//     second per record at most). A responder claiming every name we
//     probe for cannot keep a lobby off the LAN.
//   - Goodbyes (§10.1): TTL 0 for all records of a removed service, and
//     for everything on Close.
//   - Answers (§6): QU questions by unicast at once; legacy unicast
//     queries (source port not 5353, §6.7) by unicast to the source, with
//     ID and questions copied and TTLs capped at 10 s, from the address
//     the query was sent to; QM questions by multicast, unique records at
//     once, shared ones (PTR) after 20-120 ms (400-500 ms when the TC bit
//     says more known answers follow, §7.2), a record at most once a
//     second per interface (§6.2) except in probe defense; additional
//     records per RFC 6763 §12. Known answers with at least half the TTL
//     are not repeated (§7.1); an identical answer multicast by another
//     responder cancels ours (§7.4).
//   - Per interface: each answer carries only the A/AAAA records of the
//     interface it leaves on; unicast queries from off the link are
//     ignored (§5.5), legacy queries from a source off the link too, and
//     QU questions from there are answered by multicast: no unicast
//     answer ever goes through a router to a forged source; unicast
//     answers come out of a budget per source address and per interface
//     (ResponderConfig.UnicastBytesPerSource...), past which QU questions
//     are answered by multicast and legacy queries not at all; unicast
//     responses from off the link without TTL 255 are ignored (§11);
//     messages with a non-zero opcode or rcode are ignored (§18.3,
//     §18.11). Everything is sent with TTL / hop limit 255.
//   - Answering costs little over many services: each service's records
//     and the forms they are compared by are built once (authcache.go),
//     messages are filled without measuring them whole at every record
//     (fill): about 2 ms of CPU for a query over 512 lobbies
//     (BenchmarkAnswer512).
//
// # Browser behaviour
//
//   - The first query has the QU bit and is sent from a socket bound to
//     the interface's own address on port 5353, so the unicast answers
//     reach this browser even when avahi-daemon or a responder shares the
//     port (Linux gives a unicast datagram to the most specific socket):
//     answers arrive about a millisecond later. Repeats are QM with known
//     answers, 1 s, 2 s, 4 s… apart up to 60 min (§5.2).
//   - Several browsers on one host (watch and list) bind that same
//     address and port, and the kernel gives each unicast answer to one
//     of them only. So the first query, Query's and the follow-ups also
//     go out as legacy unicast queries (§6.7): to the group, from an
//     ephemeral port of the browser's own, with a fresh ID, no QU bit, no
//     known answers and an EDNS0 option offering 1400-byte answers.
//     Responders answer them by unicast to that port, which no other
//     process holds: every browser gets answers to its own first query
//     about a millisecond later, whatever shares port 5353. Ours answer
//     with the PTR records and, as additional records, the SRV, TXT and
//     addresses (RFC 6763 §12); avahi-daemon answers the same in the
//     answer section (the addresses of the family asked over only) and
//     ignores the EDNS0 option (512 bytes; a fuller answer is cut, with
//     TC, and the rest comes through the QU or QM path). The answers'
//     TTLs are capped at 10 s: their records never shorten what the
//     normal path cached and are never offered as known answers, so the
//     repeat a second later (or a liveness check, or a refresh query at
//     8 s) fetches them with their real TTLs before the 10 s run out,
//     without a Removed/Added flap.
//   - A cache with TTLs and refresh queries at 80, 85, 90, 95 % of a
//     record's TTL (§5.2); cache-flush records replace the RRset after a
//     second (§10.2); of an instance's SRV and TXT records the newest
//     that works is used (an SRV whose target has an address, preferring
//     addresses from the SRV's sender; a TXT that is a lobby and, with a
//     key, verifies), so another host's conflicting records do not hide
//     a lobby whose own are cached.
//   - Follow-up QU queries for a missing SRV, TXT or address, up to 3 times.
//   - A goodbye removes the lobby at once instead of after the RFC's 1 s:
//     a closed lobby leaves the list as fast as with the beacon.
//   - Liveness beyond TTLs: a lobby not heard of for LivenessInterval
//     (2 s) is asked for its SRV and TXT (QM, without known answers, so
//     the responder must answer, by multicast, which also refreshes every
//     other browser), then every half interval (at least 1 s); one silent
//     for Expiry (6 s) is removed, as a beacon lobby is, however long its
//     TTLs (§10.5's "passive observation of failures" made active).
//     avahi-daemon and libp2p/zeroconf answer these queries too.
//   - Host is an address of the SRV target: IPv4, then IPv6 global, then
//     link-local (zoned), preferring addresses inside the receiving
//     interface's prefixes; RTT is the time from the first query to the
//     first unicast answer from that address: a legacy answer, matched
//     to its query by ID, or a QU answer within the first query's round
//     (not another browser's, on a shared host).
//   - A lobby id is shown by one instance at a time (the first to claim
//     it); events are coalesced per id while the consumer is slow, so the
//     receive loop never blocks.
//
// # When the network changes
//
// Responder and Browser follow the machine's interfaces while they run
// (netutil.Watcher: netlink on Linux, at once; polling elsewhere, within
// a second): groups are joined on new interfaces and left on those gone.
// The responder announces its records on an interface that appeared or
// changed (a new address, its link back), after goodbyes for the
// addresses it lost there; a host that had no usable interface (started
// before its network, or every link down) probes every name again when
// one comes (RFC 6762 §8.3), so it waits without establishing anything
// meanwhile (Interfaces tells). The browser sends a QU query with its
// legacy copy on an interface that appeared or changed. Measured in the
// lab (netchange_lab_test.go): a new address is seen by another host's
// browser about 0.1 s after the change, a host whose network arrives or
// comes back about 1.0-1.1 s after (probing).
//
// # Known limits
//
// A name is probed again only when the host had no interface at all: an
// interface added beside others, or one whose link came back, gets
// announcements without probes, and a name conflict on that link is
// settled by §9 when the other owner answers. A responder
// that does not answer legacy unicast queries sent to the group (RFC 6762
// says it must; ours and avahi-daemon do) is found by a second browser on
// a host only through the multicast answers to the repeats, about a
// second later. Legacy answers are at most 512 bytes from avahi (1400
// from ours): records cut from one come by follow-up queries (another
// millisecond), and services cut from it through the QU answers (if this
// browser got them) or the repeat a second later. avahi
// answers a query over IPv6 with its IPv6 addresses only, so its lobby
// may show first with an IPv6 address, then (Updated) with its IPv4 one.
package mdns
