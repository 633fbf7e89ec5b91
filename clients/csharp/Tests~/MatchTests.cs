// Tests of matchmaking (issue 14) and of the coordinator's hardening as the
// SDK sees it (issue 9): filters and versions, list paging, parties and
// reservations, bans and the player key, live subscriptions, restore with the
// owner's roster and credentials, the same coordinator taking a member back
// past its grace; the LAN side of filters (beacon attributes, mDNS TXT keys,
// undecided lobbies last).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using LanLobby;

namespace LanLobby.Tests
{
    static partial class SdkTests
    {
        // ---- pure ------------------------------------------------------------

        static Task FilterRules()
        {
            // PROTOCOL.md, "Filters": the compatible rule's examples.
            foreach (var v in new[] { "1.4", "1.4.0", "1.4.7", "1.04.2-rc1", "1.4+linux" })
                T.True(Matchmaking.VersionMatches("1.4", v, VersionRule.Compatible), v + " is compatible with 1.4");
            foreach (var v in new[] { "1.5", "2.4", "", "1" })
                T.True(!Matchmaking.VersionMatches("1.4", v, VersionRule.Compatible), v + " is not compatible with 1.4");
            T.True(Matchmaking.VersionMatches("1", "1.0.3", VersionRule.Compatible), "a missing component counts as 0");
            T.True(!Matchmaking.VersionMatches("1.4", "1.4.0", VersionRule.Exact) && Matchmaking.VersionMatches("1.4", "1.4", ""), "exact");
            Func<string, bool> num = s => { double d; return Matchmaking.ParseNumber(s, out d); };
            foreach (var s in new[] { "12", " 12 ", "-1.5", "1e3", ".5", "+7" }) T.True(num(s), s + " is a number");
            foreach (var s in new[] { "", "abc", "1,5", "inf", "NaN", "1e400", "0x10", "1e" }) T.True(!num(s), s + " is not a number");

            var c = new Candidate { Id = "l", Game = "demo", Version = "1.4.2", Open = true, Free = 2, CreatedMs = 5,
                Meta = new Dictionary<string, string> { { "map", "dunes" }, { "level", " 12 " } } };
            Func<Filter, Verdict> m = f => f.Match(c);
            T.Eq(Verdict.Matches, m(new Filter()), "the empty filter");
            T.Eq(Verdict.Matches, m(new Filter { Version = "1.4", VersionRule = VersionRule.Compatible, Meta = { { "map", "dunes" } },
                Ranges = { Range.Between("level", 10, 20) }, Free = 2 }), "every part");
            T.Eq(Verdict.NoMatch, m(new Filter { Version = "1.4" }), "exact version");
            T.Eq(Verdict.NoMatch, m(new Filter { Meta = { { "map", "Dunes" } } }), "values are case-sensitive");
            T.Eq(Verdict.NoMatch, m(new Filter { Ranges = { Range.AtLeast("level", 13) } }), "below the range");
            T.Eq(Verdict.NoMatch, m(new Filter { Ranges = { Range.AtMost("map", 1) } }), "not a number");
            T.Eq(Verdict.NoMatch, m(new Filter { Free = 3 }), "free seats");
            T.Eq(Verdict.NoMatch, m(new Filter { Meta = { { "mode", "ctf" } } }), "a key the lobby lacks");
            c.Partial = true;
            T.Eq(Verdict.MaybeMatch, m(new Filter { Meta = { { "mode", "ctf" } } }), "a key a partial announcement lacks");
            T.Eq(Verdict.MaybeMatch, m(new Filter { Ranges = { Range.AtLeast("ping", 1) } }), "a range on a key it lacks");
            T.Eq(Verdict.NoMatch, m(new Filter { Meta = { { "mode", "ctf" }, { "map", "forest" } } }), "a known key fails all the same");
            c.Open = false;
            T.Eq(Verdict.NoMatch, m(new Filter { Free = 1 }), "free asks for an open lobby");
            T.Eq(Verdict.Matches, m(new Filter { Version = "1.4.2" }), "without free a full lobby passes");

            var order = new List<Candidate> {
                new Candidate { Id = "c", Free = 1 }, new Candidate { Id = "b", Free = 1, CreatedMs = 20 },
                new Candidate { Id = "a", Free = 2, CreatedMs = 1 }, new Candidate { Id = "d", Free = 1, CreatedMs = 10 } };
            order.Sort(Matchmaking.CompareCandidates);
            T.Seq(new List<string> { "d", "b", "c", "a" }, order.ConvertAll(x => x.Id), "quick-join order");

            foreach (var bad in new[] {
                         new Filter { VersionRule = "newest" }, new Filter { Version = "1.4 beta" },
                         new Filter { Ranges = { Range.Between("level", 2, 1) } }, new Filter { Free = 65 },
                         new Filter { Meta = { { "", "x" } } }, new Filter { Ranges = { new Range { Key = "level", Min = double.NaN } } } })
                T.Eq(ErrorCode.InvalidFilter, T.ThrowsSync<CoordinatorException>(() => bad.Validate(), "invalid filter").Code, "code");
            var many = new Filter();
            for (int i = 0; i < 9; i++) many.Meta["k" + i] = "v";
            T.ThrowsSync<CoordinatorException>(() => many.Validate(), "nine terms");
            var w = Json.Serialize(new Filter { Version = "1.4", VersionRule = VersionRule.Compatible, Meta = { { "map", "dunes" } },
                Ranges = { Range.AtLeast("level", 10), Range.Between("ping", 0, 80.5) }, Free = 2 }.ToWire());
            T.Eq("{\"version\":\"1.4\",\"version_rule\":\"compatible\",\"meta\":{\"map\":\"dunes\"},\"ranges\":[{\"key\":\"level\",\"min\":10},{\"key\":\"ping\",\"min\":0,\"max\":80.5}],\"free\":2}",
                w, "the wire form");
            T.True(new Filter().ToWire() == null, "no filter on the wire for the empty one");
            var back = Filter.FromWire(Json.ParseObject(w));
            T.Eq("1.4 compatible dunes 10  0 80.5 2", back.Version + " " + back.VersionRule + " " + back.Meta["map"] + " " + back.Ranges[0].Min + " " +
                back.Ranges[0].Max + " " + back.Ranges[1].Min + " " + back.Ranges[1].Max + " " + back.Free, "from the wire");
            return Task.FromResult(0);
        }

        // PROTOCOL.md, "Lobby attributes": the example's 40 bytes after the port.
        const string AttrsExample = "01 08 000001972b5cee00 02 05 312e342e32 03 09 03 6d6170 64756e6573 03 08 04 6d6f6465 637466 04 00";

        /// <summary>The protocol's example announcement with tail as its record's extension area.</summary>
        static byte[] WithTail(string tail)
        {
            var b = new List<byte>(Example);
            var t = Hex(tail);
            b[14] = (byte)(b[14] + t.Length);
            b.AddRange(t);
            return b.ToArray();
        }

        static Task BeaconAttributes()
        {
            int tail;
            var pkt = WithTail(AttrsExample);
            var p = Beacon.Decode(pkt, pkt.Length, out tail);
            var l = p.Lobbies[0];
            T.Eq("1.4.2 1748779200000 map=dunes mode=ctf partial", l.Version + " " + l.CreatedMs + " " + Pairs(l) + (l.Partial ? " partial" : ""), "attributes");
            T.Eq(ToHex(pkt), ToHex(Beacon.Encode(p)), "encoded back byte for byte");
            // The browser's view carries them, and matchmaking reads them.
            var t = new BeaconTable("", 4096, 0);
            var info = t.Observe(0, p, System.Net.IPAddress.Parse("198.18.0.1"), "")[0].Lobby;
            T.Eq("1.4.2 1748779200000 dunes True", info.Version + " " + info.CreatedMs + " " + info.Meta["map"] + " " + info.MetaPartial, "LAN view");
            T.Eq(Verdict.MaybeMatch, new Filter { Version = "1.4", VersionRule = VersionRule.Compatible, Meta = { { "lang", "en" } } }.Match(info.Candidate()), "undecided");
            // Lenient: unknown types skipped, a second version ignored, a bad
            // pair left out (partial), a known entry after a higher one ends it.
            var lenient = new Dictionary<string, string>
            {
                { "09 02 abcd 02 03 312e34 02 03 322e30", "1.4  " },
                { "03 05 03 4d6170 78", "   partial" },                                   // key "Map": not of the form
                { "03 04 03 6d6170 02 03 312e34", "  map=" },                           // a version after a pair: ends the reading
                { "02 03 312e34 03 09 03 6d6170", "1.4  " },                            // a truncated entry ends the reading
                { "01 07 00000000000001 02 03 312e34", "1.4  " },                       // a 7-byte creation time is left out
                { "02 03 312e", "  " },                                                 // truncated: nothing
            };
            foreach (var kv in lenient)
            {
                var b = WithTail(kv.Key);
                var lb = Beacon.Decode(b, b.Length, out tail).Lobbies[0];
                T.Eq(kv.Value, lb.Version + " " + (lb.CreatedMs > 0 ? "" + lb.CreatedMs : "") + " " + Pairs(lb) + (lb.Partial ? " partial" : ""), "lenient " + kv.Key);
            }
            // A sender keeps to the LAN's room.
            var big = new BeaconLobby { Id = "x", Game = "g", Name = "n", Capacity = 2, Port = 1 };
            for (int i = 0; i < 5; i++) big.Meta.Add(new KeyValuePair<string, string>("k" + i, "v"));
            T.ThrowsSync<BeaconException>(() => Beacon.Encode(new BeaconPacket { Kind = Beacon.KindAnnounce, Ttl = 6, Lobbies = { big } }), "five pairs");
            return Task.FromResult(0);
        }

        static string Pairs(BeaconLobby l)
        {
            var s = new List<string>();
            foreach (var kv in l.Meta) s.Add(kv.Key + "=" + kv.Value);
            return string.Join(" ", s.ToArray());
        }

        static Task MdnsTxtAttributes()
        {
            Func<string[], LanLobbyInfo> txt = ss => MdnsQuery.LobbyFromTxt(new List<string>(ss).ConvertAll(x => Encoding.UTF8.GetBytes(x)), "inst");
            var l = txt(new[] { "v=1", "id=a1", "g=demo", "p=1", "c=4", "s=open", "n=Zoë", "gv=1.4.2", "ct=1748779200000", "m.map=dunes", "M.Mode=ctf", "mp=1" });
            T.Eq("1.4.2 1748779200000 dunes ctf True", l.Version + " " + l.CreatedMs + " " + l.Meta["map"] + " " + l.Meta["mode"] + " " + l.MetaPartial, "TXT attributes");
            l = txt(new[] { "v=1", "id=a1", "g=demo", "p=1", "c=4", "s=open", "gv=1.4 beta", "gv=1.5", "ct=-5", "m.Bad Key=x", "m.map=dunes" });
            T.Eq(" 0 dunes True", l.Version + " " + l.CreatedMs + " " + l.Meta["map"] + " " + l.MetaPartial, "TXT leniency: first gv counts, a bad pair makes it partial");
            l = txt(new[] { "v=1", "id=a1", "g=demo", "p=1", "c=4", "s=open" });
            T.Eq("0 0 False", l.Meta.Count + " " + l.CreatedMs + " " + l.MetaPartial, "a publisher without attributes");
            return Task.FromResult(0);
        }

        static Task PlayerKeys()
        {
            var a = PlayerKey.New();
            T.True(a.Length == 32 && PlayerKey.Valid(a) && a != PlayerKey.New(), "a new key: 32 hex digits, random");
            T.Eq(PlayerKey.Process, PlayerKey.Process, "one key per process");
            T.Eq(PlayerKey.Process, new ClientOptions().Key, "the default of ClientOptions");
            T.Eq("", new ClientOptions { PlayerKey = "" }.Key, "none");
            foreach (var bad in new[] { "", "with space", new string('k', 65), "é" }) T.True(!PlayerKey.Valid(bad), "invalid key " + bad);
            var dir = Path.Combine(Path.GetTempPath(), "lanlobby-key-" + Process.GetCurrentProcess().Id);
            try
            {
                var path = Path.Combine(dir, "player-key");
                var k = PlayerKey.Stored(path);
                T.True(PlayerKey.Valid(k) && k != PlayerKey.Process, "a stored key");
                T.Eq(k, PlayerKey.Stored(path), "kept");
                var stat = Process.Start(new ProcessStartInfo("stat", "-c %a " + path) { UseShellExecute = false, RedirectStandardOutput = true });
                T.Eq("600", stat.StandardOutput.ReadToEnd().Trim(), "key file mode");
                File.WriteAllText(path, "not a key\n");
                T.True(PlayerKey.Stored(path) != "not a key", "a spoiled file is replaced");
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch (Exception) { }
            }
            return Task.FromResult(0);
        }

        // ---- against a coordinator ----------------------------------------------

        static async Task FiltersVersionsAndPaging()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var dan = await Connect(coord.Addr, "Dan"))
            using (var bob = await Connect(coord.Addr, "Bob"))
            {
                var l1 = await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "one", Capacity = 4, Port = 4000, Version = "1.4.2",
                    Meta = new Dictionary<string, string> { { "map", "dunes" }, { "level", "10" } }, Filterable = new List<string> { "map", "level" } });
                T.Eq("1.4.2 map,level", l1.Lobby.Version + " " + string.Join(",", l1.Lobby.Filterable.ToArray()), "the state block's version and filterable keys");
                T.True(l1.Lobby.CreatedMs > 1700000000000, "created_ms " + l1.Lobby.CreatedMs);
                // A decoy first in the quick-join order (one free seat) that fails the filter.
                var l0 = await dan.CreateAsync(new CreateOptions { Game = "demo", Name = "decoy", Capacity = 2, Port = 4001, Version = "1.3",
                    Meta = new Dictionary<string, string> { { "map", "dunes" }, { "level", "3" } } });
                var f = new Filter { Version = "1.4", VersionRule = VersionRule.Compatible, Meta = { { "map", "dunes" } }, Ranges = { Range.AtLeast("level", 5) } };
                var listed = await bob.ListAsync("demo", f);
                T.Seq(new List<string> { l1.Lobby.Id }, listed.ConvertAll(l => l.Id), "a filtered list");
                T.Eq(2, (await bob.ListAsync("demo")).Count, "the plain list");
                var j = await bob.QuickJoinAsync("demo", new JoinOptions { Port = 5000, Filter = f });
                T.Eq(l1.Lobby.Id, j.Lobby.Id, "the filter picks the lobby that passes, not the one closest to starting");
                T.Eq(ErrorCode.FilterMismatch, await Code(() => bob.JoinAsync(l0.Lobby.Id, new JoinOptions { Port = 5000, Filter = new Filter { Version = "1.4" } }),
                    "a version mismatch"), "code");
                T.Eq(ErrorCode.NoOpenLobby, await Code(() => bob.QuickJoinAsync("demo", new JoinOptions { Port = 5000, Filter = new Filter { Version = "2.0" } }),
                    "no lobby of that version"), "code");
                T.Eq(ErrorCode.InvalidFilter, await Code(() => bob.ListAsync("demo", new Filter { VersionRule = "newest" }), "a bad rule"), "code");
                T.Eq(ErrorCode.InvalidVersion, await Code(() => bob.CreateAsync(new CreateOptions { Game = "demo", Name = "v", Capacity = 2, Port = 1, Version = "1.4 beta" }),
                    "a bad version"), "code");
                T.Eq(ErrorCode.InvalidMeta, await Code(() => bob.CreateAsync(new CreateOptions { Game = "demo", Name = "v", Capacity = 2, Port = 1,
                    Filterable = new List<string> { "Bad Key" } }), "a bad filterable key"), "code");

                // Paging: pages of two, then every lobby however many pages.
                var ids = new List<string> { l1.Lobby.Id, l0.Lobby.Id };
                for (int i = 0; i < 3; i++)
                    ids.Add((await dan.CreateAsync(new CreateOptions { Game = "paged", Name = "p" + i, Capacity = 2, Port = 4002 })).Lobby.Id);
                var page = await bob.ListPageAsync("", null, "", 2);
                T.Eq(2, page.Lobbies.Count, "a page of two");
                T.True(page.Next != "", "a next cursor");
                var page2 = await bob.ListPageAsync("", null, page.Next, 2);
                T.Eq(ids[2], page2.Lobbies[0].Id, "the second page starts after the first");
                var all = await bob.ListAsync("");
                T.Seq(ids, all.ConvertAll(l => l.Id), "every page, oldest first");
                page = await bob.ListPageAsync("", null, "", 0);
                T.Eq(ids.Count + " ", page.Lobbies.Count + " " + page.Next, "one page holds them all");
            }
        }

        static async Task Parties()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(coord.Addr, "Bob"))
            using (var carol = await Connect(coord.Addr, "Carol"))
            using (var dave = await Connect(coord.Addr, "Dave"))
            using (var erin = await Connect(coord.Addr, "Erin"))
            {
                var lid = (await alice.CreateAsync(new CreateOptions { Game = "party", Name = "four", Capacity = 4, Port = 4000 })).Lobby.Id;
                // Bob quick-joins for three: his seat, one named for Carol, one for a token holder.
                var j = await bob.QuickJoinAsync("party", new JoinOptions { Port = 5000, Seats = 3, Party = new List<string> { carol.PlayerKey } });
                T.Eq(lid + " 2 2 full", j.Lobby.Id + " " + j.Lobby.Players + " " + j.Lobby.Reserved + " " + j.Lobby.State, "the party's seats");
                var res = j.Reservation;
                T.True(res != null && res.Token.Length > 0 && res.Seats == 2 && res.Party.Count == 1 && res.ExpiresInMs > 0, "the reservation");
                var ev = await T.Event(alice, e => e.Kind == EventKind.MemberJoined);
                T.Eq("Bob 2 2", ev.Member.Name + " " + ev.Lobby.Players + " " + ev.Lobby.Reserved, "member_joined with the reserved seats");
                T.Eq(ErrorCode.LobbyFull, await Code(() => erin.JoinAsync(lid, new JoinOptions { Port = 6000 }), "others find it full"), "code");
                T.Eq(ErrorCode.UnknownReservation, await Code(() => erin.JoinAsync(lid, new JoinOptions { Port = 6000, Reservation = "bogus" }), "a wrong token"), "code");
                j = await dave.JoinAsync(lid, new JoinOptions { Port = 6001, Reservation = res.Token });
                T.Eq("3 1", j.Lobby.Players + " " + j.Lobby.Reserved, "a token holder claims the unnamed seat");
                T.Eq(ErrorCode.LobbyFull, await Code(() => erin.JoinAsync(lid, new JoinOptions { Port = 6000, Reservation = res.Token }),
                    "the seat left is Carol's"), "code");
                j = await carol.JoinAsync(lid, new JoinOptions { Port = 6002 });
                T.Eq("4 0 full", j.Lobby.Players + " " + j.Lobby.Reserved + " " + j.Lobby.State, "Carol, named by her key, needs no token");

                // The owner holds a seat for a guest; unclaimed, it is released.
                var lid2 = (await alice.CreateAsync(new CreateOptions { Game = "party", Name = "two", Capacity = 3, Port = 4000 })).Lobby.Id;
                await erin.JoinAsync(lid2, new JoinOptions { Port = 6000 });
                T.Eq(ErrorCode.NotOwner, await Code(() => erin.ReserveAsync(lid2, 1, null, TimeSpan.Zero), "a member reserves"), "code");
                var r2 = await alice.ReserveAsync(lid2, 1, null, TimeSpan.FromMilliseconds(300));
                T.True(r2.Token != "" && r2.Seats == 1 && r2.Lobby == lid2, "the owner's reservation");
                foreach (var c in new[] { alice, erin })
                {
                    ev = await T.Event(c, e => e.Kind == EventKind.LobbyUpdated && e.Lobby.Id == lid2);
                    T.Eq("1 full", ev.Lobby.Reserved + " " + ev.Lobby.State, "lobby_updated: reserved");
                    ev = await T.Event(c, e => e.Kind == EventKind.ReservationExpired);
                    T.Eq(lid2 + " " + r2.Id + " 1 0 open", ev.Lobby.Id + " " + ev.ReservationId + " " + ev.Released + " " + ev.Lobby.Reserved + " " + ev.Lobby.State,
                        "reservation_expired");
                }
                T.Eq(ErrorCode.UnknownReservation, await Code(() => dave.JoinAsync(lid2, new JoinOptions { Port = 6001, Reservation = r2.Token }), "released"), "code");
            }
        }

        static async Task Bans()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var carol = await Connect(coord.Addr, "Carol"))
            {
                string griefKey = PlayerKey.New();
                var lid = (await alice.CreateAsync(new CreateOptions { Game = "bans", Name = "no griefers", Capacity = 4, Port = 4000 })).Lobby.Id;
                var grief = await Connect(coord.Addr, "Grief", key: griefKey);
                try
                {
                    await grief.JoinAsync(lid, new JoinOptions { Port = 5000 });
                    await T.Event(alice, e => e.Kind == EventKind.MemberJoined);
                    await alice.KickBanAsync(lid, grief.MemberId, TimeSpan.FromMinutes(10));
                    var ev = await T.Event(grief, e => e.Kind == EventKind.MemberLeft);
                    T.Eq(grief.MemberId + " kicked True", ev.Member.Id + " " + ev.Reason + " " + ev.Banned, "the kicked member is told it is banned");
                    ev = await T.Event(alice, e => e.Kind == EventKind.MemberLeft);
                    T.True(ev.Banned, "member_left carries banned");
                    T.Eq(ErrorCode.Banned, await Code(() => grief.JoinAsync(lid, new JoinOptions { Port = 5000 }), "the banned player's join"), "code");
                }
                finally { grief.Dispose(); }
                // It comes back as a new client with the same key: still banned,
                // and its quick-join passes the lobby by.
                using (var again = await Connect(coord.Addr, "Grief", key: griefKey))
                {
                    T.Eq(ErrorCode.Banned, await Code(() => again.JoinAsync(lid, new JoinOptions { Port = 5000 }), "the same key after a reconnect"), "code");
                    T.Eq(ErrorCode.NoOpenLobby, await Code(() => again.QuickJoinAsync("bans", new JoinOptions { Port = 5000 }), "quick-join skips it"), "code");
                }
                // Another player (another key) is welcome; a party naming the
                // banned key is not seated there.
                T.Eq(ErrorCode.NoOpenLobby, await Code(() => carol.QuickJoinAsync("bans", new JoinOptions { Port = 6000, Seats = 2,
                    Party = new List<string> { griefKey } }), "a party with the banned player"), "code");
                T.Eq(lid, (await carol.QuickJoinAsync("bans", new JoinOptions { Port = 6000 })).Lobby.Id, "another player");
                // A ban until the lobby closes (no duration) bans by key as well.
                using (var dan = await Connect(coord.Addr, "Dan"))
                {
                    await dan.JoinAsync(lid, new JoinOptions { Port = 7000 });
                    await alice.KickBanAsync(lid, dan.MemberId, TimeSpan.Zero);
                    T.Eq(ErrorCode.Banned, await Code(() => dan.JoinAsync(lid, new JoinOptions { Port = 7000 }), "until the lobby closes"), "code");
                }
            }
        }

        static async Task Subscriptions()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var carol = await Connect(coord.Addr, "Carol"))
            {
                var before = (await alice.CreateAsync(new CreateOptions { Game = "subs", Name = "before", Capacity = 4, Port = 4000, Version = "1.4" })).Lobby.Id;
                await alice.CreateAsync(new CreateOptions { Game = "subs", Name = "other version", Capacity = 4, Port = 4000, Version = "2.0" });
                var sub = await carol.SubscribeAsync("subs", new Filter { Version = "1.4", VersionRule = VersionRule.Compatible });
                T.True(sub.Id > 0 && sub.IsActive, "subscribed");
                T.Seq(new List<string> { before }, sub.Lobbies.ConvertAll(l => l.Id), "the snapshot is in when the call returns");
                var kinds = new List<string>();
                carol.DrainEvents(e => kinds.Add(e.Kind + (e.Subscription == sub ? "" : "?") + (e.Lobby != null && e.Lobby.Id != "" ? " " + e.Lobby.Id : "")));
                T.Seq(new List<string> { "lobby_added " + before, "synced" }, kinds, "the snapshot's events");
                var lid = (await alice.CreateAsync(new CreateOptions { Game = "subs", Name = "live", Capacity = 4, Port = 4000, Version = "1.4.1" })).Lobby.Id;
                var ev = await T.Event(carol, e => e.Subscription == sub);
                T.Eq(EventKind.LobbyAdded + " " + lid + " 1", ev.Kind + " " + ev.Lobby.Id + " " + ev.Lobby.Players, "added");
                await alice.SetMetaAsync(lid, new Dictionary<string, string> { { "map", "isle" } });
                ev = await T.Event(carol, e => e.Subscription == sub);
                T.Eq(EventKind.LobbyUpdated + " " + lid + " isle", ev.Kind + " " + ev.Lobby.Id + " " + ev.Lobby.Meta["map"], "updated");
                await alice.CloseLobbyAsync(lid);
                ev = await T.Event(carol, e => e.Subscription == sub);
                T.Eq(EventKind.LobbyRemoved + " " + lid + " closed", ev.Kind + " " + ev.Lobby.Id + " " + ev.Lobby.State, "removed");
                T.Seq(new List<string> { before }, sub.Lobbies.ConvertAll(l => l.Id), "the view");
                // Nothing about lobbies the filter refuses, nor after the end.
                await alice.CreateAsync(new CreateOptions { Game = "subs", Name = "refused", Capacity = 4, Port = 4000, Version = "2.1" });
                await sub.CloseAsync();
                T.True(!sub.IsActive, "closed");
                await alice.CreateAsync(new CreateOptions { Game = "subs", Name = "after", Capacity = 4, Port = 4000, Version = "1.4" });
                await carol.ListAsync("subs"); // the coordinator's pushes before this reply are in
                int more = 0;
                carol.DrainEvents(e => more++);
                T.Eq(0, more, "events after a refused lobby and the unsubscribe");
                // Eight at most per connection.
                var many = new List<Subscription>();
                for (int i = 0; i < 8; i++) many.Add(await carol.SubscribeAsync("g" + i));
                T.Eq(ErrorCode.TooManySubscriptions, await Code(() => carol.SubscribeAsync("g9"), "a ninth"), "code");
                foreach (var s in many) s.Dispose();
            }
        }

        static async Task RestoreRoster()
        {
            var coord = await Coordinator();
            try
            {
                using (var proxy = new Proxy(coord.Port))
                using (var alice = await Connect(coord.Addr, "Alice"))
                using (var bob = await Connect(proxy.Addr, "Bob"))
                using (var dave = await Connect(coord.Addr, "Dave"))
                {
                    var created = await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "roster", Capacity = 3, Port = 4000, Version = "1.4",
                        Meta = new Dictionary<string, string> { { "map", "dunes" } }, Filterable = new List<string> { "map" } });
                    var lid = created.Lobby.Id;
                    await bob.JoinAsync(lid, new JoinOptions { Port = 5000 });
                    await dave.JoinAsync(lid, new JoinOptions { Port = 6000 });
                    // The owner's roster is what its notices told: wait for them.
                    await T.Event(alice, e => e.Kind == EventKind.MemberJoined && e.Member.Name == "Dave");
                    await T.Event(bob, e => e.Kind == EventKind.MemberJoined && e.Member.Name == "Dave");
                    var a = alice.Credentials(lid);
                    var b = bob.Credentials(lid);
                    T.True(a[0].Length == 32 && a[1].Length == 32 && a[2].Length == 64, "the owner keeps its credentials: " + string.Join(",", a));
                    T.True(b[0].Length == 32 && b[1] == "" && b[2] == a[2] && b[0] != a[0], "a member keeps its own credential and the lobby's secret");
                    dave.SpoilCredential(lid);
                    // The coordinator restarts; Bob's way back hangs for a while.
                    proxy.Hold();
                    int port = coord.Port;
                    coord.Kill();
                    coord = await Coordinator(port);
                    var ev = await T.Event(alice, e => e.Kind == EventKind.CoordinatorRestarted, 10);
                    T.Eq(lid + " 1.4 map", ev.Lobby.Id + " " + ev.Lobby.Version + " " + string.Join(",", ev.Lobby.Filterable.ToArray()), "the owner re-created it with its version and keys");
                    ev = await T.Event(dave, e => e.Kind == EventKind.Closed, 10);
                    T.Eq(EventKind.ReasonCoordinatorLost + " " + ErrorCode.BadCredential, ev.Reason + " " + ((CoordinatorException)ev.Error).Code,
                        "a seat without its valid credential is refused");
                    // Bob's seat is held for him: the lobby counts it.
                    using (var carol = await Connect(coord.Addr, "Carol"))
                    {
                        var ls = await carol.ListAsync("demo");
                        T.Eq(lid + " 3 3", ls[0].Id + " " + ls[0].Players + " " + ls[0].Capacity, "restored lobby, the held seats taken");
                        T.Eq(ErrorCode.LobbyFull, await Code(() => carol.JoinAsync(lid, new JoinOptions { Port = 7000 }), "Bob's held seat counts as taken"), "code");
                    }
                    proxy.Release();
                    ev = await T.Event(bob, e => e.Kind == EventKind.CoordinatorRestarted, 10);
                    T.Seq(new List<string> { "Alice", "Dave" }, ev.Peers.ConvertAll(p => p.Name), "Bob took his held seat back (Dave's is held till the window ends)");
                    T.True(alice.Instance != "" && alice.Instance == bob.Instance, "the new instance");
                }
            }
            finally { coord.Kill(); }
        }

        static async Task Rejoined()
        {
            using (var coord = await Coordinator(0, "500ms"))
            using (var proxy = new Proxy(coord.Port))
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(proxy.Addr, "Bob", 1500)) // notices the silence after the coordinator does
            {
                var lid = (await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "grace", Capacity = 3, Port = 4000 })).Lobby.Id;
                await bob.JoinAsync(lid, new JoinOptions { Port = 5000 });
                string me = bob.MemberId, inst = bob.Instance;
                await T.Event(alice, e => e.Kind == EventKind.MemberJoined);
                proxy.Hold();
                proxy.Freeze();
                var left = await T.Event(alice, e => e.Kind == EventKind.MemberLeft, 10);
                T.Eq(me + " timeout", left.Member.Id + " " + left.Reason, "past the grace, Bob is gone");
                T.Eq(0, alice.Peers(lid).Count, "no ghost in the peer list");
                proxy.Release();
                var ev = await T.Event(bob, e => e.Kind == EventKind.Rejoined || e.Kind == EventKind.CoordinatorRestarted || e.Kind == EventKind.Error, 10);
                T.Eq(EventKind.Rejoined + " " + lid, ev.Kind + " " + (ev.Lobby != null ? ev.Lobby.Id : ""), "the same coordinator took Bob back: rejoined, not restarted");
                T.Seq(new List<string> { "Alice" }, ev.Peers.ConvertAll(p => p.Name), "rejoined with the peers");
                T.Eq(me + " " + inst, bob.MemberId + " " + bob.Instance, "the same member id and instance");
                ev = await T.Event(alice, e => e.Kind == EventKind.MemberJoined, 10);
                T.Eq(me, ev.Member.Id, "the others are told member_joined");
                T.Seq(new List<string> { "Bob" }, alice.Peers(lid).ConvertAll(p => p.Name), "the owner's peers");
            }
        }

        // ---- on the LAN (LANLOBBY_INTERFACE: a lab's lan0 under the Go tests) ----

        static async Task LanMatch()
        {
            string iface = Environment.GetEnvironmentVariable("LANLOBBY_INTERFACE") ?? "lo";
            var lo = new LanOptions { Interfaces = new List<string> { iface }, BeaconPort = new Random().Next(20000, 60000), Mdns = false,
                ListTimeout = TimeSpan.FromSeconds(3), Quiet = TimeSpan.FromMilliseconds(400), Client = new ClientOptions { Player = "Alice", PlayerKey = PlayerKey.New() } };
            var meta = new Dictionary<string, string> { { "map", "dunes" }, { "level", "10" } };
            var h = await Lan.HostAsync(new CreateOptions { Game = "match", Name = "right", Capacity = 4, Port = 4000, Version = "1.4.2", Meta = meta,
                Filterable = new List<string> { "map", "level" } }, new HostOptions { DaemonWait = TimeSpan.Zero, Binary = Bin, Lan = lo });
            using (h)
            using (var dan = await Connect(h.Coordinator, "Dan"))
            using (var erin = await Connect(h.Coordinator, "Erin"))
            {
                var decoy = (await dan.CreateAsync(new CreateOptions { Game = "match", Name = "decoy", Capacity = 2, Port = 4001, Version = "1.3",
                    Meta = new Dictionary<string, string> { { "map", "dunes" }, { "level", "3" } }, Filterable = new List<string> { "map", "level" } })).Lobby.Id;
                var hidden = (await erin.CreateAsync(new CreateOptions { Game = "match", Name = "hidden", Capacity = 3, Port = 4002, Version = "1.4.0",
                    Meta = new Dictionary<string, string> { { "map", "dunes" }, { "secret", "x" } } })).Lobby.Id;
                var f = new Filter { Version = "1.4", VersionRule = VersionRule.Compatible, Meta = { { "map", "dunes" } }, Ranges = { Range.AtLeast("level", 5) } };
                var all = await Lan.ListAsync("match", lo);
                T.Eq(3, all.Count, "every lobby on the LAN");
                var right = all.Find(l => l.Id == h.LobbyId);
                T.Eq("1.4.2 dunes 10 False", right.Version + " " + right.Meta["map"] + " " + right.Meta["level"] + " " + right.MetaPartial, "the beacon's attributes");
                T.True(right.CreatedMs > 1700000000000, "creation time on the LAN");
                T.True(all.Find(l => l.Id == hidden).MetaPartial, "metadata not marked filterable: partial");
                T.Seq(new List<string> { h.LobbyId }, (await Lan.ListAsync("match", f, lo)).ConvertAll(l => l.Id), "a LAN listing shows the lobbies known to pass");
                // Quick-join for two with the filter: the lobby that passes, not
                // the decoy closest to starting nor the undecided one.
                lo.Client = new ClientOptions { Player = "Bob", PlayerKey = PlayerKey.New() };
                var bob = await Lan.QuickJoinAsync("match", new JoinOptions { Port = 5000, Filter = f, Seats = 2 }, lo);
                using (bob.Client)
                {
                    T.Eq(h.LobbyId + " 1", bob.Joined.Lobby.Id + " " + bob.Joined.Lobby.Reserved, "the party quick-join");
                    T.True(bob.Joined.Reservation != null && bob.Joined.Reservation.Token != "", "the party's token");
                    using (var carol = await Connect(h.Coordinator, "Carol"))
                    {
                        var j = await carol.JoinAsync(h.LobbyId, new JoinOptions { Port = 6000, Reservation = bob.Joined.Reservation.Token });
                        T.Eq("3 0", j.Lobby.Players + " " + j.Lobby.Reserved, "the party member claims its seat");
                    }
                    // Undecided lobbies are tried when none is known to pass, and
                    // their coordinator decides.
                    lo.Client = new ClientOptions { Player = "Fay", PlayerKey = PlayerKey.New() };
                    var fay = await Lan.QuickJoinAsync("match", new JoinOptions { Port = 7000, Filter = new Filter { Meta = { { "secret", "x" } } } }, lo);
                    using (fay.Client) T.Eq(hidden, fay.Joined.Lobby.Id, "the undecided lobby, which passes");
                    lo.Client = new ClientOptions { Player = "Gil", PlayerKey = PlayerKey.New() };
                    T.Eq(ErrorCode.FilterMismatch, (await T.Throws<CoordinatorException>(() => Lan.QuickJoinAsync("match",
                        new JoinOptions { Port = 7001, Filter = new Filter { Meta = { { "secret", "y" } } } }, lo), "the undecided lobby refuses")).Code, "code");
                    T.Eq(ErrorCode.NoOpenLobby, (await T.Throws<NotFoundException>(() => Lan.QuickJoinAsync("match",
                        new JoinOptions { Port = 7001, Filter = new Filter { Version = "9" } }, lo), "no version 9")).Code, "code");
                    T.Eq(ErrorCode.FilterMismatch, await Code(() => dan.JoinAsync(h.LobbyId, new JoinOptions { Port = 4001, Filter = new Filter { Version = "1.3" } }),
                        "the decoy's owner asks for its own version"), "code");
                    T.True(all.Exists(l => l.Id == decoy && l.Version == "1.3"), "the decoy's version on the LAN");
                }
            }
        }
    }
}
