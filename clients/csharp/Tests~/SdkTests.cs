// The C# SDK's tests: codec and key vectors from PROTOCOL.md, and the SDK
// against a real coordinator ($LANLOBBY_BIN) on loopback. Run by clients/
// Go tests (mcs + mono). `SdkTests.exe unit [filter]` runs them;
// `SdkTests.exe lab-quickjoin GAME PORT [LANKEY]` is the lab agent.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Tasks;
using LanLobby;

namespace LanLobby.Tests
{
    static partial class SdkTests
    {
        // Short heartbeats so tests see many intervals in little time;
        // ten misses (1 s) so a loaded machine's pauses drop nobody.
        const int HeartbeatMs = 100, Misses = 10;
        static string Bin { get { return Environment.GetEnvironmentVariable("LANLOBBY_BIN") ?? ""; } }

        static int Main(string[] args)
        {
            string mode = args.Length > 0 ? args[0] : "unit";
            if (mode == "lab-quickjoin") return LabQuickJoin(args).GetAwaiter().GetResult();
            if (mode == "lab-host") return LabHost(args).GetAwaiter().GetResult();
            if (mode == "conform") return Conformance.Run(args).GetAwaiter().GetResult();
            if (mode == "kdf") return Kdf();
            if (mode == "lab-list") return LabList(args);
            var r = new Runner();
            r.Add("JsonRoundTripAndStrictness", JsonTests);
            r.Add("BeaconProtocolExample", CodecExample);
            r.Add("BeaconRejects", CodecRejects);
            r.Add("LanKeyVectors", KeyVectors);
            r.Add("LanKeyCache", KeyCache);
            r.Add("BeaconTable", TableTests);
            r.Add("QuickJoinOrder", OrderTest);
            r.Add("FilterRules", FilterRules);
            r.Add("BeaconAttributes", BeaconAttributes);
            r.Add("MdnsTxtAttributes", MdnsTxtAttributes);
            r.Add("PlayerKeys", PlayerKeys);
            r.Add("MdnsRecords", MdnsRecords);
            r.Add("MdnsFindsGoResponder", MdnsLive);
            r.Add("EveryCallAndNotice", EveryCall);
            r.Add("PrivateLobbyInvite", PrivateInvite);
            r.Add("AutoStart", AutoStart);
            r.Add("FiltersVersionsAndPaging", FiltersVersionsAndPaging);
            r.Add("PartiesAndReservations", Parties);
            r.Add("Bans", Bans);
            r.Add("Subscriptions", Subscriptions);
            r.Add("RestoreWithRosterAndCredentials", RestoreRoster);
            r.Add("RejoinedAfterTheGrace", Rejoined);
            r.Add("ReplacedByAResumeElsewhere", Replaced);
            r.Add("Registry", Registry);
            r.Add("RegisteredNameSurvivesBlipAndRestart", RegistryBlipRestart);
            r.Add("HeartbeatsOverManyIntervals", Heartbeats);
            r.Add("BlipResumesSeat", Blip);
            r.Add("RestoreAfterCoordinatorRestart", Restore);
            r.Add("LostForGoodWithoutLobbies", LostForGood);
            r.Add("CoordinatorLostAtOnceThenProgress", LostThenProgress);
            r.Add("Timeouts", Timeouts);
            r.Add("HostModeArgs", HostArgs);
            r.Add("HostAtChildProcess", HostChild);
            r.Add("HostAtDaemonAndLanJoin", HostDaemon);
            r.Add("LanFilteredQuickJoinAndParty", LanMatch);
            r.Add("Sample", SampleRuns);
            return r.Run(args.Length > 1 ? args[1] : "", TimeSpan.FromSeconds(40));
        }

        /// <summary>A test coordinator on loopback; Dispose kills it.</summary>
        sealed class Coord : IDisposable
        {
            public CoordinatorProcess P;
            public string Addr { get { return P.Addr; } }
            public int Port { get { return P.Port; } }
            public void Kill() { P.Kill(); }
            public void Dispose() { P.Kill(); }
        }

        static async Task<Coord> Coordinator(int port = 0, string grace = "5s")
        {
            T.True(Bin != "" && File.Exists(Bin), "LANLOBBY_BIN must name a built lanlobby binary");
            return new Coord { P = await CoordinatorProcess.StartAsync(Bin, new List<string> {
                "coordinator", "--listen", "127.0.0.1:" + port, "--announce=false", "--json",
                "--heartbeat", HeartbeatMs + "ms", "--misses", "" + Misses, "--resume-grace", grace }) };
        }

        // Every test client is its own player (its own player key): clients
        // of one process would otherwise share PlayerKey.Process, and a ban of
        // one would ban them all.
        static Task<LobbyClient> Connect(string addr, string player, int slackMs = LobbyClient.DeadLinkSlackMs, string key = null)
        {
            return LobbyClient.ConnectAsync(addr, new ClientOptions { Player = player, DeadLinkSlack = TimeSpan.FromMilliseconds(slackMs),
                PlayerKey = key ?? PlayerKey.New() });
        }

        static byte[] Hex(string h)
        {
            h = h.Replace(" ", "");
            var b = new byte[h.Length / 2];
            for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(h.Substring(2 * i, 2), 16);
            return b;
        }

        static string ToHex(byte[] b) { return BitConverter.ToString(b).Replace("-", "").ToLowerInvariant(); }

        // ---- pure ------------------------------------------------------------

        static Task JsonTests()
        {
            var d = Json.ParseObject("{\"a\":[1,-2.5,\"x\\u00e9\\n\\\"\",true,false,null,{}],\"n\":12345678901234567890,\"e\":1e3,\"z\":\"Zoë ☕\"}");
            var a = (List<object>)d["a"];
            T.Eq(1L, (long)a[0], "integer");
            T.Eq(-2.5, (double)a[1], "fraction");
            T.Eq("xé\n\"", (string)a[2], "escapes");
            T.Eq(true, (bool)a[3], "true");
            T.True(a[5] == null, "null");
            T.True(d["n"] is double, "an integer past 2^63 reads as a double, not an error");
            T.Eq(1000.0, (double)d["e"], "exponent");
            T.Eq("Zoë ☕", (string)d["z"], "UTF-16 text");
            var s = Json.Serialize(new Dictionary<string, object> { { "op", "hello" }, { "id", 7L }, { "s", "a\"b\\c\u0001\u2028" },
                { "m", new Dictionary<string, string> { { "k", "v" } } }, { "l", new List<object> { 1, true } } });
            T.Eq("{\"op\":\"hello\",\"id\":7,\"s\":\"a\\\"b\\\\c\\u0001\\u2028\",\"m\":{\"k\":\"v\"},\"l\":[1,true]}", s, "serialize");
            T.Eq("a\"b\\c\u0001\u2028", J.Str(Json.ParseObject(s), "s"), "round trip");
            foreach (var bad in new[] { "{\"a\":1,}", "{'a':1}", "{\"a\":\"\u0001\"}", "{\"a\":\"\\x\"}", "{\"a\":01}", "{\"a\":1} x",
                         "{\"a\":-}", "{\"a\":1.}", "[1,2", "{\"a\" 1}", "tru", new string('[', 70) + new string(']', 70) })
                T.ThrowsSync<JsonException>(() => Json.Parse(bad), "reject " + bad);
            return Task.FromResult(0);
        }

        static readonly byte[] Example = Hex("4c4c4f42 01 01 00 01 01020304 0006 0f 02 6162 01 71 04 5a6fc3ab 01 04 03 1db0");

        static Task CodecExample()
        {
            int tail;
            var p = Beacon.Decode(Example, Example.Length, out tail);
            T.Eq(Example.Length, tail, "tail");
            T.Eq(Beacon.KindAnnounce, p.Kind, "kind");
            T.Eq(0x01020304u, p.Seq, "seq");
            T.Eq(6, p.Ttl, "ttl");
            var l = p.Lobbies[0];
            T.Eq("ab|q|Zoë|1|4|started|7600", l.Id + "|" + l.Game + "|" + l.Name + "|" + l.Players + "|" + l.Capacity + "|" + l.State + "|" + l.Port, "lobby");
            T.Eq(ToHex(Example), ToHex(Beacon.Encode(p)), "encode");
            // Extension areas: a record tail and a packet-tail TLV are skipped.
            var ext = new List<byte>(Example);
            ext[14]++;
            ext.Insert(29, 0xee);
            ext.AddRange(new byte[] { 9, 2, (byte)'x', (byte)'y' });
            var eb = ext.ToArray();
            p = Beacon.Decode(eb, eb.Length, out tail);
            T.Eq("Zoë", p.Lobbies[0].Name, "name after a record tail");
            T.Eq(eb.Length - 4, tail, "tail with a TLV");
            foreach (var q in new[] {
                         new BeaconPacket { Kind = Beacon.KindQuery, Seq = 7, Game = "q" },
                         new BeaconPacket { Kind = Beacon.KindCoordinator, Seq = 9, Ttl = 6, Coordinator = new BeaconCoordinator { Id = "c1", Name = "d", Port = 7600 } } })
            {
                var b = Beacon.Encode(q);
                var back = Beacon.Decode(b, b.Length, out tail);
                T.Eq(ToHex(b), ToHex(Beacon.Encode(back)), "round trip of kind " + q.Kind);
            }
            return Task.FromResult(0);
        }

        static Task CodecRejects()
        {
            int tail;
            Func<byte[], byte[]> copy = b => (byte[])b.Clone();
            var notBeacon = copy(Example);
            notBeacon[0] = (byte)'X';
            T.ThrowsSync<NotBeaconException>(() => Beacon.Decode(notBeacon, notBeacon.Length, out tail), "magic");
            var v2 = copy(Example);
            v2[4] = 2;
            T.ThrowsSync<NotBeaconException>(() => Beacon.Decode(v2, v2.Length, out tail), "version");
            var cases = new Dictionary<string, Func<byte[]>>
            {
                { "truncated", () => copy(Example) },
                { "state 9", () => { var b = copy(Example); b[27] = 9; return b; } },
                { "players over capacity", () => { var b = copy(Example); b[25] = 5; return b; } },
                { "goodbye with ttl", () => { var b = copy(Example); b[5] = 2; return b; } },
                { "space in id", () => { var b = copy(Example); b[16] = (byte)' '; return b; } },
                { "escape in name", () => { var b = copy(Example); b[21] = 0x1b; return b; } },
            };
            foreach (var kv in cases)
            {
                var b = kv.Value();
                int n = kv.Key == "truncated" ? b.Length - 1 : b.Length;
                T.ThrowsSync<BeaconException>(() => Beacon.Decode(b, n, out tail), kv.Key);
            }
            var tlv = new List<byte>(Example);
            tlv.AddRange(new byte[] { 1, 5, 1, 2 });
            var tb = tlv.ToArray();
            T.ThrowsSync<BeaconException>(() => Beacon.Decode(tb, tb.Length, out tail), "TLV past the end");
            return Task.FromResult(0);
        }

        const string Pass = "correct horse battery staple";

        static Task KeyVectors()
        {
            LanKey.ClearCache();
            var sw = Stopwatch.StartNew();
            var k = LanKey.Derive(Pass);
            var cold = sw.Elapsed;
            T.Eq("b16fb80a73a27c3aab012896555958a4875668b79477a99d0dcf66abb5bd21eb", ToHex(k.Master), "master key vector");
            Console.WriteLine("    KDF (600,000 PBKDF2-HMAC-SHA256 iterations): " + cold.TotalMilliseconds.ToString("F0") + " ms");
            var q = Beacon.Encode(new BeaconPacket { Kind = Beacon.KindQuery, Seq = 7, Game = "q" });
            var signed = Beacon.Sign(k, q, 1748779200000);
            T.Eq("4c4c4f420103000000000007000001710108000001972b5cee000210ac58f4d505578e28280f7a28bd2101b4", ToHex(signed), "signed query vector");
            int tail;
            Beacon.Decode(signed, signed.Length, out tail);
            Beacon.Verify(k, signed, signed.Length, tail, 1748779200000 + 30000, Beacon.DefaultReplayWindow); // the edge is accepted
            T.Eq("bad_timestamp", T.ThrowsSync<SignatureException>(() => Beacon.Verify(k, signed, signed.Length, tail, 1748779200000 + 30001, Beacon.DefaultReplayWindow), "late").Kind, "late");
            T.Eq("unsigned", T.ThrowsSync<SignatureException>(() => Beacon.Verify(k, q, q.Length, q.Length, 1748779200000, Beacon.DefaultReplayWindow), "unsigned").Kind, "unsigned");
            var other = LanKey.FromMaster(new byte[32]);
            T.Eq("bad_signature", T.ThrowsSync<SignatureException>(() => Beacon.Verify(other, signed, signed.Length, tail, 1748779200000, Beacon.DefaultReplayWindow), "other key").Kind, "other key");
            var txt = new List<byte[]>();
            foreach (var s in new[] { "v=1", "id=zoe1", "g=demo", "p=1", "c=4", "s=open", "n=Zoë's game", "t=1748779200000", "h=j0qY4Qc0hzls4Ygpx-RuiA" })
                txt.Add(Encoding.UTF8.GetBytes(s));
            Beacon.VerifyTxt(k, "Zoë's game", 7600, txt, 1748779200000, TimeSpan.FromSeconds(90));
            T.ThrowsSync<SignatureException>(() => Beacon.VerifyTxt(k, "Zoë's game (2)", 7600, txt, 1748779200000, TimeSpan.FromSeconds(90)), "TXT under another instance");
            return Task.FromResult(0);
        }

        static Task KeyCache()
        {
            var dir = Path.Combine(Path.GetTempPath(), "lanlobby-keycache-" + Process.GetCurrentProcess().Id);
            var old = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", dir);
            try
            {
                LanKey.ClearCache();
                var k = LanKey.Derive(Pass, diskCache: true);
                var sw = Stopwatch.StartNew();
                var again = LanKey.Derive(Pass, diskCache: true);
                T.True(sw.ElapsedMilliseconds < 50, "in-memory cache hit took " + sw.ElapsedMilliseconds + " ms");
                T.Eq(ToHex(k.Master), ToHex(again.Master), "cached key");
                var files = Directory.GetFiles(Path.Combine(Path.Combine(dir, "lanlobby"), "lan-keys"));
                T.Eq(1, files.Length, "cache files");
                var stat = Process.Start(new ProcessStartInfo("stat", "-c %a " + files[0]) { UseShellExecute = false, RedirectStandardOutput = true });
                T.Eq("600", stat.StandardOutput.ReadToEnd().Trim(), "cache file mode");
                LanKey.ClearCache();
                sw.Restart();
                T.Eq(ToHex(k.Master), ToHex(LanKey.Derive(Pass, diskCache: true).Master), "key from disk");
                Console.WriteLine("    KDF from the disk cache: " + sw.Elapsed.TotalMilliseconds.ToString("F1") + " ms");
                T.True(sw.ElapsedMilliseconds < 200, "disk cache hit took " + sw.ElapsedMilliseconds + " ms");
            }
            finally
            {
                Environment.SetEnvironmentVariable("XDG_CACHE_HOME", old);
                try { Directory.Delete(dir, true); } catch (Exception) { }
            }
            return Task.FromResult(0);
        }

        static BeaconPacket Ann(uint seq, string id = "l1", int players = 1, int kind = Beacon.KindAnnounce, int flags = 0, uint term = 0)
        {
            return new BeaconPacket
            {
                Kind = kind, Flags = flags, Seq = seq, Ttl = kind == Beacon.KindAnnounce ? 6 : 0,
                Lobbies = new List<BeaconLobby> { new BeaconLobby { Id = id, Game = "demo", Name = "L", Players = players, Capacity = 4, State = "open", Port = 7600, Term = term } },
            };
        }

        static Task TableTests()
        {
            var t = new BeaconTable("", 4096, 0);
            var ll = IPAddress.Parse("fe80::1%2");
            var v4 = IPAddress.Parse("198.18.0.1");
            var evs = t.Observe(0, Ann(10), ll, "2");
            T.Eq("added [fe80::1%2]:7600", evs[0].Type + " " + evs[0].Lobby.Addr, "first heard over IPv6 link-local");
            evs = t.Observe(0.001, Ann(10), v4, "");
            T.Eq("updated 198.18.0.1:7600", evs[0].Type + " " + evs[0].Lobby.Addr, "moved to IPv4");
            T.Eq(0, t.Observe(0.002, Ann(10), v4, "").Count, "duplicate");
            T.Eq(0, t.Observe(0.003, Ann(9, players: 3), v4, "").Count, "stale");
            evs = t.Observe(1, Ann(11, players: 2), v4, "");
            T.Eq("updated 2", evs[0].Type + " " + evs[0].Lobby.Players, "newer");
            T.Eq(0, t.Expire(6.9).Count, "alive within ttl");
            T.Eq("removed", t.Expire(7.0)[0].Type, "expired");
            t.Observe(8, Ann(20, "l2"), v4, "");
            T.Eq("removed", t.Observe(8.1, Ann(21, "l2", kind: Beacon.KindGoodbye), v4, "")[0].Type, "goodbye");
            T.Eq(0, t.Observe(8.2, Ann(20, "l2"), IPAddress.Parse("198.18.0.3"), "").Count, "late copy after goodbye");
            t.Queried(10);
            evs = t.Observe(10.002, Ann(1, "l3", flags: Beacon.FlagReply), v4, "");
            T.True(Math.Abs(evs[0].Lobby.Rtt.TotalMilliseconds - 2) < 0.01, "rtt " + evs[0].Lobby.Rtt.TotalMilliseconds);
            t.Observe(10.003, new BeaconPacket { Kind = Beacon.KindCoordinator, Seq = 5, Ttl = 6, Coordinator = new BeaconCoordinator { Id = "c1", Name = "d", Port = 7600 } },
                IPAddress.Parse("198.18.0.9"), "");
            T.Eq("198.18.0.9:7600", t.Coordinators()[0].Addr, "coordinator");
            t.Observe(10.004, new BeaconPacket { Kind = Beacon.KindCoordinator, Seq = 6, Ttl = 0, Coordinator = new BeaconCoordinator { Id = "c1", Name = "d", Port = 7600 } },
                IPAddress.Parse("198.18.0.9"), "");
            T.Eq(0, t.Coordinators().Count, "coordinator withdrawn");

            // Terms: the higher term is the lobby. Its first packet moves the
            // lobby to its sender whatever the seq; the old host's announcements
            // and goodbye, of a lower term, change nothing.
            int tail;
            var enc = Beacon.Encode(Ann(1, term: 7));
            T.Eq(7u, Beacon.Decode(enc, enc.Length, out tail).Lobbies[0].Term, "the term attribute");
            var old = IPAddress.Parse("198.18.0.1");
            var succ = IPAddress.Parse("198.18.0.2");
            t.Observe(20, Ann(100, "l4", players: 4), old, "");
            evs = t.Observe(20.1, Ann(1, "l4", players: 3, term: 1), succ, "");
            T.Eq("updated 198.18.0.2:7600 1 3", evs[0].Type + " " + evs[0].Lobby.Addr + " " + evs[0].Lobby.Term + " " + evs[0].Lobby.Players, "a higher term moves the lobby");
            T.Eq(0, t.Observe(20.2, Ann(101, "l4", players: 4), old, "").Count, "the cut-off host's lower term");
            T.Eq(0, t.Observe(20.3, Ann(102, "l4", kind: Beacon.KindGoodbye), old, "").Count, "the cut-off host's goodbye");
            evs = t.Observe(20.4, Ann(2, "l4", players: 2, term: 1), succ, "");
            T.Eq("updated 2", evs[0].Type + " " + evs[0].Lobby.Players, "the successor's next packet");
            T.Eq("removed", t.Observe(20.5, Ann(3, "l4", kind: Beacon.KindGoodbye, term: 1), succ, "")[0].Type, "the successor's goodbye");
            return Task.FromResult(0);
        }

        static Task OrderTest()
        {
            Func<string, int, int, double, string, string, LanLobbyInfo> lb = (id, p, c, rtt, st, g) => new LanLobbyInfo
            { Id = id, Game = g, Name = id, Players = p, Capacity = c, State = st, Host = IPAddress.Loopback, Port = 1, Rtt = TimeSpan.FromMilliseconds(rtt) };
            var ls = new[] { lb("a", 1, 4, 0, "open", "demo"), lb("b", 3, 4, 2, "open", "demo"), lb("c", 3, 4, 1, "open", "demo"),
                lb("d", 4, 4, 0, "full", "demo"), lb("e", 1, 2, 0, "started", "demo"), lb("f", 1, 2, 0, "open", "other") };
            // Fewest free seats, then the oldest (unknown last), then by id: the
            // same for every player (a host's round trip does not count).
            T.Seq(new List<string> { "b", "c", "a" }, Lan.QuickJoinOrder(ls, "demo").ConvertAll(x => x.Id), "order by id");
            ls[2].CreatedMs = 1000;
            T.Seq(new List<string> { "c", "b", "a" }, Lan.QuickJoinOrder(ls, "demo").ConvertAll(x => x.Id), "a known creation time first");
            ls[1].CreatedMs = 999;
            T.Seq(new List<string> { "b", "c", "a" }, Lan.QuickJoinOrder(ls, "demo").ConvertAll(x => x.Id), "the oldest first");
            T.Seq(new List<string> { "a" }, Lan.QuickJoinOrder(ls, "demo", 2).ConvertAll(x => x.Id), "two seats");
            // Filters: those known to pass, then the undecided (a partial
            // announcement without the key), each in the quick-join order.
            ls[0].Meta["map"] = "dunes";
            ls[1].Meta["map"] = "forest";
            ls[2].MetaPartial = true;
            var f = new Filter { Meta = { { "map", "dunes" } } };
            T.Seq(new List<string> { "a", "c" }, Lan.QuickJoinOrder(ls, "demo", 1, f).ConvertAll(x => x.Id), "matches, then the undecided");
            f.Free = 3;
            T.Seq(new List<string> { "a" }, Lan.QuickJoinOrder(ls, "demo", 1, f).ConvertAll(x => x.Id), "the filter's free seats");
            return Task.FromResult(0);
        }

        // ---- mDNS ----------------------------------------------------------------

        static byte[] Labels(params string[] ls)
        {
            var o = new List<byte>();
            foreach (var l in ls)
            {
                var b = Encoding.UTF8.GetBytes(l);
                o.Add((byte)b.Length);
                o.AddRange(b);
            }
            o.Add(0);
            return o.ToArray();
        }

        static byte[] Rr(byte[] owner, int type, byte[] rdata)
        {
            var o = new List<byte>(owner);
            o.AddRange(new byte[] { 0, (byte)type, 0, 1, 0, 0, 0, 120, (byte)(rdata.Length >> 8), (byte)rdata.Length });
            o.AddRange(rdata);
            return o.ToArray();
        }

        /// <summary>An answer as our responder gives it: the PTR, then SRV, TXT
        /// and A as additional records; later names compressed against the first.</summary>
        static byte[] MdnsAnswer(string instance, int port, IList<string> txt, string game = "")
        {
            var m = new List<byte> { 0, 7, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 3 };
            var owner = new List<byte>();
            if (game != "") owner.AddRange(Labels("_" + game, "_sub"));
            if (owner.Count > 0) owner.RemoveAt(owner.Count - 1);
            int svcOff = 12 + owner.Count;
            owner.AddRange(Labels("_lanlobby", "_tcp", "local"));
            var ib = Encoding.UTF8.GetBytes(instance);
            var inst = new List<byte> { (byte)ib.Length };
            inst.AddRange(ib);
            inst.AddRange(new byte[] { (byte)(0xC0 | svcOff >> 8), (byte)svcOff });
            m.AddRange(Rr(owner.ToArray(), MdnsQuery.TPtr, inst.ToArray()));
            int instOff = m.Count - inst.Count;
            var ptr = new byte[] { (byte)(0xC0 | instOff >> 8), (byte)instOff };
            var host = Labels("lanlobby-0a1b2c3d", "local");
            var srv = new List<byte> { 0, 0, 0, 0, (byte)(port >> 8), (byte)port };
            srv.AddRange(host);
            m.AddRange(Rr(ptr, MdnsQuery.TSrv, srv.ToArray()));
            var t = new List<byte>();
            foreach (var x in txt)
            {
                var b = Encoding.UTF8.GetBytes(x);
                t.Add((byte)b.Length);
                t.AddRange(b);
            }
            m.AddRange(Rr(ptr, MdnsQuery.TTxt, t.ToArray()));
            m.AddRange(Rr(host, MdnsQuery.TA, new byte[] { 198, 18, 1, 1 }));
            return m.ToArray();
        }

        static readonly string[] TxtVector = { "v=1", "id=zoe1", "g=demo", "p=1", "c=4", "s=open", "n=Zoë's game", "t=1748779200000", "h=j0qY4Qc0hzls4Ygpx-RuiA" };

        static Task MdnsRecords()
        {
            var k = LanKey.Derive(Pass);
            const long at = 1748779200000;
            Func<byte[], List<MdnsQuery.Answer>> one = b => new List<MdnsQuery.Answer> { new MdnsQuery.Answer { Data = b, From = IPAddress.Parse("198.18.1.9"), At = 1 } };
            var c = new Dictionary<string, long>();
            var got = MdnsQuery.Assemble(one(MdnsAnswer("Zoë's game", 7600, TxtVector)), "", k, at, c);
            T.Eq(1, got.Count, "signed vector");
            T.Eq("zoe1 Zoë's game demo 1/4 open 198.18.1.1:7600 mdns", got[0].Id + " " + got[0].Name + " " + got[0].Game + " " + got[0].Players + "/" +
                got[0].Capacity + " " + got[0].State + " " + got[0].Addr + " " + got[0].Source, "lobby");
            T.Eq(1, MdnsQuery.Assemble(one(MdnsAnswer("Zoë's game", 7600, TxtVector)), "", null, at, c).Count, "without a key");
            var cases = new[] {
                Tuple.Create(MdnsAnswer("Zoë's game (2)", 7600, TxtVector), k, at, "bad_signature"),
                Tuple.Create(MdnsAnswer("Zoë's game", 7601, TxtVector), k, at, "bad_signature"),
                Tuple.Create(MdnsAnswer("Zoë's game", 7600, TxtVector), k, at + 90001, "bad_timestamp"),
                Tuple.Create(MdnsAnswer("Zoë's game", 7600, TxtVector), LanKey.FromMaster(new byte[32]), at, "bad_signature"),
                Tuple.Create(MdnsAnswer("plain", 7600, new List<string>(TxtVector).GetRange(0, 7)), k, at, "unsigned") };
            foreach (var tc in cases)
            {
                c = new Dictionary<string, long>();
                T.Eq(0, MdnsQuery.Assemble(one(tc.Item1), "", tc.Item2, tc.Item3, c).Count, "refused: " + tc.Item4);
                T.True(c.ContainsKey(tc.Item4) && c.Count == 1, "counted as " + tc.Item4 + ": " + string.Join(",", new List<string>(c.Keys).ToArray()));
            }
            var sub = MdnsAnswer("sub", 7600, new List<string>(TxtVector).GetRange(0, 7), "demo");
            T.Eq(1, MdnsQuery.Assemble(one(sub), "demo", null, at, c).Count, "the game's subtype");
            T.Eq(0, MdnsQuery.Assemble(one(sub), "other", null, at, c).Count, "another game");
            Func<string[], LanLobbyInfo> txt = ss => MdnsQuery.LobbyFromTxt(new List<string>(ss).ConvertAll(x => Encoding.UTF8.GetBytes(x)), "inst");
            var l = txt(new[] { "v=1", "id=a1", "G=Demo", "p=2", "c=4", "s=full", "x=ignored", "id=second" });
            T.Eq("a1 demo inst 2/4 full", l.Id + " " + l.Game + " " + l.Name + " " + l.Players + "/" + l.Capacity + " " + l.State, "TXT keys without case, first counts");
            T.Eq(0u, l.Term, "no tm: term 0");
            T.Eq(3u, txt(new[] { "v=1", "id=a1", "g=demo", "p=2", "c=4", "s=open", "tm=3", "tm=4" }).Term, "a taken-over lobby's term (tm)");
            foreach (var bad in new[] {
                         new[] { "v=2", "id=a", "g=d", "p=1", "c=4", "s=open" }, new[] { "v=1", "g=d", "p=1", "c=4", "s=open" },
                         new[] { "v=1", "id=a b", "g=d", "p=1", "c=4", "s=open" }, new[] { "v=1", "id=a", "g=-d", "p=1", "c=4", "s=open" },
                         new[] { "v=1", "id=a", "g=d", "p=5", "c=4", "s=open" }, new[] { "v=1", "id=a", "g=d", "p=1", "c=65", "s=open" },
                         new[] { "v=1", "id=a", "g=d", "p=1", "c=4", "s=gone" }, new[] { "v=1", "id=a", "g=d", "p=1", "c=4", "s=open", "n=a\u202eb" } })
                T.True(txt(bad) == null, "invalid TXT accepted: " + string.Join(" ", bad));
            // Truncated and mangled answers never throw.
            var rnd = new Random(1);
            var good = MdnsAnswer("Zoë's game", 7600, TxtVector);
            c = new Dictionary<string, long>();
            for (int i = 0; i < 2000; i++)
            {
                var b = new byte[rnd.Next(good.Length + 1)];
                Buffer.BlockCopy(good, 0, b, 0, b.Length);
                for (int j = 0; j < 3 && b.Length > 0; j++) b[rnd.Next(b.Length)] = (byte)rnd.Next(256);
                MdnsQuery.Assemble(one(b), "", null, at, c);
            }
            T.Eq(0, MdnsQuery.Assemble(one(new byte[] { 0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12 }), "", null, at, c).Count, "a pointer to itself");
            T.True(c["malformed"] > 0, "malformed counted");
            return Task.FromResult(0);
        }

        // mDNS against the Go responder (`lanlobby host --no-beacon`) on
        // LANLOBBY_INTERFACE, with a game of this run's own (other lanlobby
        // processes on lo answer too when run by hand).
        static async Task MdnsLive()
        {
            string iface = Environment.GetEnvironmentVariable("LANLOBBY_INTERFACE") ?? "lo";
            string game = "mdns-" + new Random().Next(1 << 30).ToString("x");
            foreach (var keyed in new[] { false, true })
            {
                var args = "host --game " + game + " --name \"Zoë's mDNS ☕\" --players 3 --port 7777 --no-beacon --interface " + iface + " --json" +
                           (keyed ? " --lan-key \"lab passphrase\"" : "");
                var p = Process.Start(new ProcessStartInfo(Bin, args) { UseShellExecute = false, RedirectStandardOutput = true });
                try
                {
                    var lid = J.Str(Json.ParseObject(p.StandardOutput.ReadLine()), "lobby");
                    var key = keyed ? LanKey.Derive("lab passphrase") : null;
                    List<LanLobbyInfo> got = null;
                    var sw = Stopwatch.StartNew();
                    while (sw.Elapsed.TotalSeconds < 5 && (got == null || !got.Exists(x => x.Id == lid)))
                        using (var q = new MdnsQuery(game, key).Start(new List<string> { iface }))
                        {
                            await Task.Delay(300);
                            got = q.Lobbies();
                        }
                    T.Eq(1, got.Count, "lobbies answered by mDNS (keyed " + keyed + ")");
                    T.Eq(lid + " Zoë's mDNS ☕ 1/3 mdns", got[0].Id + " " + got[0].Name + " " + got[0].Players + "/" + got[0].Capacity + " " + got[0].Source, "lobby");
                    T.True(got[0].Port > 0 && got[0].Rtt > TimeSpan.Zero, "port and round trip");
                    if (keyed)
                    {
                        using (var q = new MdnsQuery(game, LanKey.FromMaster(new byte[32])).Start(new List<string> { iface }))
                        {
                            await T.WaitFor(() => q.Counters.ContainsKey("bad_signature") || q.Lobbies().Count > 0, 5, "an answer signed with another key");
                            T.Eq(0, q.Lobbies().Count, "lobbies with another key");
                        }
                        continue;
                    }
                    using (var q = new MdnsQuery(game + "-other").Start(new List<string> { iface }))
                    {
                        await Task.Delay(300);
                        T.Eq(0, q.Lobbies().Count, "another game's subtype");
                    }
                    // A listing merges it in (no beacon on this port), and a player joins it.
                    var lo = new LanOptions { Interfaces = new List<string> { iface }, BeaconPort = new Random().Next(20000, 60000),
                        ListTimeout = TimeSpan.FromSeconds(1), Quiet = TimeSpan.FromMilliseconds(300) };
                    var found = await Lan.ListAsync(game, lo);
                    T.Eq(lid + " mdns", found.Count == 1 ? found[0].Id + " " + found[0].Source : "" + found.Count, "listed by mDNS");
                    lo.Mdns = false;
                    T.Eq(0, (await Lan.ListAsync(game, lo)).Count, "the beacon alone");
                    lo.Mdns = true;
                    lo.Client.Player = "Bob";
                    var j = await Lan.QuickJoinAsync(game, new JoinOptions { Port = 5000 }, lo);
                    using (j.Client) T.Eq(lid + " mdns", j.Joined.Lobby.Id + " " + j.Lobby.Source, "quick-join by mDNS");
                }
                finally
                {
                    try { p.Kill(); } catch (Exception) { }
                    p.WaitForExit(5000);
                }
            }
        }

        // ---- against a coordinator ----------------------------------------------

        static async Task EveryCall()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(coord.Addr, "Bob"))
            using (var carol = await Connect(coord.Addr, "Carol"))
            {
                T.Eq(TimeSpan.FromMilliseconds(HeartbeatMs), alice.Heartbeat, "heartbeat from hello");
                var created = await alice.CreateAsync(new CreateOptions { Game = "Demo", Name = "Zoë's ☕ game", Capacity = 3, Port = 4000, Meta = new Dictionary<string, string> { { "map", "dunes" } } });
                string lid = created.Lobby.Id;
                T.Eq("demo 1 " + alice.MemberId + " 0 127.0.0.1:4000 dunes", created.Lobby.Game + " " + created.Lobby.Players + " " + created.Lobby.Owner + " " +
                    created.Peers.Count + " " + created.You.Addr + " " + created.Lobby.Meta["map"], "create reply");
                var j = await bob.QuickJoinAsync("demo", new JoinOptions { Port = 5000 });
                T.Eq(lid, j.Lobby.Id, "quick-join lobby");
                T.Seq(new List<string> { "Alice@127.0.0.1:4000" }, j.Peers.ConvertAll(p => p.Name + "@" + p.Addr), "peers");
                var ev = await T.Event(alice, e => e.Kind == EventKind.MemberJoined);
                T.Eq("Bob 127.0.0.1:5000 2", ev.Member.Name + " " + ev.Member.Addr + " " + ev.Lobby.Players, "member_joined");
                j = await carol.JoinAsync(lid, new JoinOptions { Addr = "127.0.0.1:6000" });
                T.Seq(new List<string> { "Alice", "Bob" }, j.Peers.ConvertAll(p => p.Name), "peers of the third");
                foreach (var c in new[] { alice, bob })
                {
                    ev = await T.Event(c, e => e.Kind == EventKind.MemberJoined && e.Member.Name == "Carol");
                    T.Eq("full", ev.Lobby.State, "full after the third");
                }
                // Every client keeps its peer list current from the notices.
                T.Seq(new List<string> { "Bob", "Carol" }, alice.Peers(lid).ConvertAll(p => p.Name), "alice's peers");
                T.Seq(new List<string> { "Alice", "Carol" }, bob.Peers(lid).ConvertAll(p => p.Name), "bob's peers");
                T.Seq(new List<string> { "Alice", "Bob" }, carol.Peers(lid).ConvertAll(p => p.Name), "carol's peers");
                await alice.SetMetaAsync(lid, new Dictionary<string, string> { { "map", "forest" } });
                foreach (var c in new[] { alice, bob, carol })
                    T.Eq("forest", (await T.Event(c, e => e.Kind == EventKind.LobbyUpdated)).Lobby.Meta["map"], "lobby_updated");
                var ls = await bob.ListAsync("demo");
                T.Eq(lid + " 3", ls[0].Id + " " + ls[0].Players, "list");
                T.Eq("not_owner", (await T.Throws<CoordinatorException>(() => bob.StartAsync(lid), "start by a member")).Code, "code");
                T.Eq("unknown_lobby", (await T.Throws<CoordinatorException>(() => bob.JoinAsync("nosuchlobby", new JoinOptions { Port = 1 }), "join unknown")).Code, "code");
                T.Eq("no_open_lobby", (await T.Throws<CoordinatorException>(() => bob.QuickJoinAsync("nogame", new JoinOptions { Port = 1 }), "quick-join none")).Code, "code");
                await alice.KickAsync(lid, carol.MemberId);
                ev = await T.Event(carol, e => e.Kind == EventKind.MemberLeft);
                T.Eq(carol.MemberId + " kicked", ev.Member.Id + " " + ev.Reason, "kicked member told");
                T.Eq(0, carol.Lobbies.Count, "kicked member's lobbies");
                ev = await T.Event(bob, e => e.Kind == EventKind.MemberLeft);
                T.Eq("Carol kicked 2", ev.Member.Name + " " + ev.Reason + " " + ev.Lobby.Players, "others told");
                T.Seq(new List<string> { "Alice" }, bob.Peers(lid).ConvertAll(p => p.Name), "peers after the kick");
                T.Eq(0, carol.Peers(lid).Count, "the kicked member's peers");
                await alice.StartAsync(lid);
                foreach (var c in new[] { alice, bob })
                {
                    ev = await T.Event(c, e => e.Kind == EventKind.Started);
                    T.Seq(new List<string> { "Alice", "Bob" }, ev.Peers.ConvertAll(p => p.Name), "started peers");
                }
                T.Eq("", bob.Credentials(lid)[1], "a member holds no owner credential");
                await alice.LeaveAsync(lid);
                T.Eq(0, alice.Lobbies.Count, "left");
                ev = await T.Event(bob, e => e.Kind == EventKind.MemberLeft);
                T.Eq("Alice left", ev.Member.Name + " " + ev.Reason, "member_left");
                ev = await T.Event(bob, e => e.Kind == EventKind.OwnerChanged);
                T.Eq(bob.MemberId, ev.Lobby.Owner, "owner_changed");
                T.Eq(32, bob.Credentials(lid)[1].Length, "the new owner keeps the owner credential of its owner_changed");
                await bob.CloseLobbyAsync(lid);
                T.Eq("owner_closed", (await T.Event(bob, e => e.Kind == EventKind.Closed)).Reason, "closed");
                T.Eq(0, bob.Lobbies.Count, "closed lobby forgotten");
                T.True(await bob.PingAsync() > TimeSpan.Zero, "ping");
                // DrainEvents hands events over on the caller's thread, in order.
                var lid2 = (await bob.CreateAsync(new CreateOptions { Game = "demo", Name = "again", Capacity = 2, Port = 5000 })).Lobby.Id;
                await alice.JoinAsync(lid2, new JoinOptions { Port = 4000 });
                await T.WaitFor(() => bob.Events.Count > 0, 5, "bob's member_joined queued");
                int tid = System.Threading.Thread.CurrentThread.ManagedThreadId, other = 0;
                var kinds = new List<string>();
                bob.DrainEvents(e => { kinds.Add(e.Kind); if (System.Threading.Thread.CurrentThread.ManagedThreadId != tid) other++; });
                T.Seq(new List<string> { EventKind.MemberJoined }, kinds, "drained");
                T.Eq(0, other, "events handed over on another thread");
            }
        }

        static async Task PrivateInvite()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(coord.Addr, "Bob"))
            {
                var created = await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "secret", Capacity = 2, Port = 4000, Private = true });
                T.True(created.Invite != "", "invite code");
                T.Eq("bad_password", (await T.Throws<CoordinatorException>(() => bob.JoinAsync(created.Lobby.Id, new JoinOptions { Port = 5000 }), "no password")).Code, "code");
                var j = await bob.JoinAsync(created.Lobby.Id, new JoinOptions { Port = 5000, Password = created.Invite });
                T.True(j.Lobby.Private, "private");
            }
        }

        static async Task<string> Code(Func<Task> f, string what)
        {
            return (await T.Throws<CoordinatorException>(f, what)).Code;
        }

        static async Task AutoStart()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(coord.Addr, "Bob"))
            {
                var created = await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "auto", Capacity = 2, Port = 4000, AutoStart = true });
                T.True(created.Lobby.AutoStart, "auto_start in the state block");
                var j = await bob.JoinAsync(created.Lobby.Id, new JoinOptions { Port = 5000 });
                T.Eq("started 2", j.Lobby.State + " " + j.Lobby.Players, "the last seat starts it");
                foreach (var c in new[] { alice, bob })
                    T.Seq(new List<string> { "Alice", "Bob" }, (await T.Event(c, e => e.Kind == EventKind.Started)).Peers.ConvertAll(p => p.Name), "started");
            }
        }

        static async Task Replaced()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var other = new TcpClient())
            {
                var lid = (await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "taken", Capacity = 3, Port = 4000 })).Lobby.Id;
                // Another connection resumes Alice's member with her token while
                // her link is open: she is replaced and must not resume in turn.
                other.Connect(IPAddress.Loopback, coord.Port);
                var s = other.GetStream();
                var b = Encoding.UTF8.GetBytes(Json.Serialize(new Dictionary<string, object> {
                    { "op", "resume" }, { "id", 1L }, { "v", 1L }, { "member", alice.MemberId }, { "token", alice.ResumeToken } }) + "\n");
                s.Write(b, 0, b.Length);
                var rd = new StreamReader(s);
                Dictionary<string, object> reply;
                do reply = Json.ParseObject(rd.ReadLine()); while (!reply.ContainsKey("ok"));
                T.True(J.Bool(reply, "ok"), "resume elsewhere: " + Json.Serialize(reply));
                var ev = await T.Event(alice, e => e.Kind == EventKind.Error);
                T.True(ev.Error is ReplacedException, "error event: " + ev.Error);
                await T.Throws<ReplacedException>(() => alice.ListAsync(), "a call after");
                // The connection that resumed keeps the seat: nothing takes it back.
                // (It answers no ping: it is dropped after Misses intervals, so
                // it is watched for half a second.)
                s.ReadTimeout = 500;
                var watch = Stopwatch.StartNew();
                try
                {
                    while (watch.ElapsedMilliseconds < 500)
                    {
                        var line = rd.ReadLine();
                        T.True(line != null, "the connection that resumed was closed");
                        T.True(J.Str(Json.ParseObject(line), "event") != "replaced", "Alice resumed in turn");
                    }
                }
                catch (IOException) { } // quiet but for pings
                using (var bob = await Connect(coord.Addr, "Bob"))
                {
                    var ls = await bob.ListAsync("demo");
                    T.Eq(lid + " 1", ls[0].Id + " " + ls[0].Players, "the other connection holds the seat");
                }
            }
        }

        static async Task Registry()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(coord.Addr, "Bob"))
            using (var carol = await Connect(coord.Addr, "Carol"))
            {
                await alice.RegisterAsync("hall", "room://10.0.0.5:7000");
                T.Eq("room://10.0.0.5:7000", alice.Names["hall"], "held names");
                T.Eq("room://10.0.0.5:7000", await bob.LookupAsync("hall"), "lookup");
                T.Eq(ErrorCode.NameTaken, await Code(() => bob.RegisterAsync("hall", "room://10.0.0.6:7000"), "name taken"), "code");
                T.Eq(ErrorCode.AddrTaken, await Code(() => bob.RegisterAsync("lobby", "room://10.0.0.5:7000"), "address taken"), "code");
                T.Eq(ErrorCode.UnknownName, await Code(() => bob.LookupAsync("nobody"), "unknown name"), "code");
                T.Eq(ErrorCode.NotOwner, await Code(() => bob.DeregisterAsync("hall"), "someone else's name"), "code");
                T.Eq(ErrorCode.InvalidName, await Code(() => bob.RegisterAsync(" hall", "room://10.0.0.7:7000"), "padded name"), "code");
                T.Eq(ErrorCode.InvalidAddress, await Code(() => bob.RegisterAsync("web", "http://10.0.0.7:80"), "not room://"), "code");
                T.Eq(0, bob.Names.Count, "refused names are not held");
                await alice.RegisterAsync("hall", "room://10.0.0.8:7000");
                T.Eq("room://10.0.0.8:7000", await bob.LookupAsync("hall"), "moved");
                await alice.DeregisterAsync("hall");
                T.Eq(0, alice.Names.Count, "deregistered");
                T.Eq(ErrorCode.UnknownName, await Code(() => bob.LookupAsync("hall"), "after deregister"), "code");
                for (int i = 0; i < 64; i++) await bob.RegisterAsync("room-" + i, "room://10.1.0." + i + ":7000");
                T.Eq(ErrorCode.TooManyNames, await Code(() => bob.RegisterAsync("room-64", "room://10.1.1.1:7000"), "65th name"), "code");
                bob.Dispose();
                await T.WaitFor(() => carol.LookupAsync("room-0").ContinueWith(t => t.IsFaulted).Result, 5, "names gone with their member");
            }
        }

        /// <summary>Looks name up until it is registered (unknown_name meanwhile), for 10 s.</summary>
        static async Task<string> LookupSoon(LobbyClient c, string name)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                try { return await c.LookupAsync(name); }
                catch (CoordinatorException e)
                {
                    if (e.Code != ErrorCode.UnknownName || sw.Elapsed.TotalSeconds > 10) throw;
                }
                await Task.Delay(20);
            }
        }

        static async Task RegistryBlipRestart()
        {
            var coord = await Coordinator();
            try
            {
                using (var proxy = new Proxy(coord.Port))
                using (var room = await Connect(proxy.Addr, "room"))
                using (var player = await Connect(coord.Addr, "player"))
                {
                    // A room server: a name and no lobby. It resumes after a blip...
                    await room.RegisterAsync("hall", "room://10.0.0.5:7000");
                    string me = room.MemberId;
                    // (The coordinator keeps no seat for a member in no lobby,
                    // so its names go with the link: the client takes them back
                    // by restore and register.)
                    proxy.Freeze();
                    await T.WaitFor(() => proxy.Links == 2, 10, "the room server reconnected");
                    T.Eq("room://10.0.0.5:7000", await LookupSoon(player, "hall"), "the name is back after the blip");
                    T.Eq(me, room.MemberId, "the same member id");
                    T.True(room.Error == null, "no error: " + room.Error);
                    // ... and registers again on a restarted coordinator.
                    int port = coord.Port;
                    coord.Kill();
                    coord = await Coordinator(port);
                    using (var looker = await Connect(coord.Addr, "looker"))
                        T.Eq("room://10.0.0.5:7000", await LookupSoon(looker, "hall"), "the name is back after the restart");
                    T.True(room.Error == null, "no error: " + room.Error);
                    T.Eq("room://10.0.0.5:7000", room.Names["hall"], "still held");
                }
            }
            finally { coord.Kill(); }
        }

        static async Task Heartbeats()
        {
            using (var coord = await Coordinator())
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(coord.Addr, "Bob"))
            {
                var lid = (await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "hb", Capacity = 2, Port = 4000 })).Lobby.Id;
                await bob.JoinAsync(lid, new JoinOptions { Port = 5000 });
                await Task.Delay((Misses + 5) * HeartbeatMs); // more intervals than Misses: unanswered pings would drop a member
                T.Eq(2, (await alice.ListAsync("demo"))[0].Players, "both still there");
                int left = 0;
                alice.DrainEvents(e => { if (e.Kind == EventKind.MemberLeft) left++; });
                T.Eq(0, left, "member_left notices");
            }
        }

        static async Task Blip()
        {
            using (var coord = await Coordinator())
            using (var proxy = new Proxy(coord.Port))
            using (var alice = await Connect(coord.Addr, "Alice"))
            using (var bob = await Connect(proxy.Addr, "Bob", 1000)) // notices a silent coordinator after the coordinator notices him
            {
                var lid = (await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "blip", Capacity = 3, Port = 4000 })).Lobby.Id;
                await bob.JoinAsync(lid, new JoinOptions { Port = 5000 });
                string me = bob.MemberId;
                await T.Event(alice, e => e.Kind == EventKind.MemberJoined);
                var sub = await bob.SubscribeAsync("demo");
                var first = new List<string>();
                bob.DrainEvents(e => first.Add(e.Kind));
                T.Seq(new List<string> { EventKind.LobbyAdded, EventKind.Synced }, first, "the snapshot");
                proxy.Freeze();
                var away = await T.Event(alice, e => e.Kind == EventKind.MemberAway, 10);
                T.Eq(me + " timeout", away.Member.Id + " " + away.Reason, "member_away");
                T.Eq(me, (await T.Event(alice, e => e.Kind == EventKind.MemberBack, 10)).Member.Id, "member_back");
                T.Eq(lid, (await T.Event(bob, e => e.Kind == EventKind.Resumed, 10)).Lobby.Id, "resumed");
                T.Eq(me, bob.MemberId, "same member id");
                // The subscription follows the new link: subscribed again, and
                // nothing reported that did not change (the lobby was there).
                var seen = new List<string>();
                var synced = await T.Event(bob, e => { if (e.Subscription != null) seen.Add(e.Kind); return e.Kind == EventKind.Synced; }, 10);
                T.True(synced.Subscription == sub && sub.Id > 0 && sub.IsActive, "subscribed again");
                T.Seq(new List<string> { EventKind.Synced }, seen, "nothing that did not change");
                await alice.SetMetaAsync(lid, new Dictionary<string, string> { { "k", "v" } });
                T.Eq("v", (await T.Event(bob, e => e.Kind == EventKind.LobbyUpdated && e.Subscription == null)).Lobby.Meta["k"], "notice after resume");
                T.Eq("v", (await T.Event(bob, e => e.Kind == EventKind.LobbyUpdated && e.Subscription == sub)).Lobby.Meta["k"], "subscription event after resume");
                T.Eq(2, (await bob.ListAsync("demo"))[0].Players, "call after resume");
            }
        }

        static async Task Restore()
        {
            var coord = await Coordinator();
            try
            {
                using (var alice = await Connect(coord.Addr, "Alice"))
                using (var bob = await Connect(coord.Addr, "Bob"))
                {
                    var created = await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "restart", Capacity = 3, Port = 4000, Meta = new Dictionary<string, string> { { "m", "1" } } });
                    var lid = created.Lobby.Id;
                    await bob.JoinAsync(lid, new JoinOptions { Port = 5000 });
                    int port = coord.Port;
                    coord.Kill();
                    coord = await Coordinator(port);
                    foreach (var c in new[] { alice, bob })
                        T.Eq(lid, (await T.Event(c, e => e.Kind == EventKind.CoordinatorRestarted, 10)).Lobby.Id, "coordinator_restarted");
                    T.Eq(created.You.Id, alice.MemberId, "same member id");
                    var ls = await bob.ListAsync("demo");
                    T.Eq(lid + " 2 " + alice.MemberId + " 1", ls[0].Id + " " + ls[0].Players + " " + ls[0].Owner + " " + ls[0].Meta["m"], "restored lobby");
                }
            }
            finally { coord.Kill(); }
        }

        /// <summary>The link drops: CoordinatorLost at once (next: resuming, on a
        /// daemon), Reconnecting about once a second while it is down, then the
        /// lobby back.</summary>
        static async Task LostThenProgress()
        {
            var coord = await Coordinator();
            try
            {
                using (var alice = await Connect(coord.Addr, "Alice"))
                {
                    var lid = (await alice.CreateAsync(new CreateOptions { Game = "demo", Name = "lost", Capacity = 3, Port = 4000 })).Lobby.Id;
                    T.True(!alice.Takeover, "a daemon keeps its lobbies: no takeover");
                    int port = coord.Port;
                    coord.Kill();
                    var killed = Stopwatch.StartNew();
                    var ev = await T.Event(alice, e => true);
                    T.True(killed.Elapsed.TotalSeconds < 1, "coordinator_lost within 1 s: " + killed.Elapsed);
                    T.Eq(EventKind.CoordinatorLost + " " + NextKind.Resuming + " disconnected " + lid, ev.Kind + " " + ev.Next + " " + ev.Reason + " " + ev.Lobby.Id, "told at once");
                    ev = await T.Event(alice, e => true);
                    T.Eq(EventKind.Reconnecting, ev.Kind, "then progress");
                    T.True(ev.Elapsed.TotalSeconds >= 1 && ev.Attempt >= 1, "progress after a second: " + ev.Elapsed + ", attempt " + ev.Attempt);
                    T.Eq(alice.Addr + " " + lid, ev.Addr + " " + ev.Lobby.Id, "progress names the coordinator tried");
                    coord = await Coordinator(port);
                    ev = await T.Event(alice, e => e.Kind != EventKind.Reconnecting, 10);
                    T.Eq(EventKind.CoordinatorRestarted + " " + lid, ev.Kind + " " + ev.Lobby.Id, "the lobby back");
                }
            }
            finally { coord.Kill(); }
        }

        static async Task LostForGood()
        {
            var coord = await Coordinator();
            using (var alice = await Connect(coord.Addr, "Alice"))
            {
                coord.Kill();
                var ev = await T.Event(alice, e => true);
                T.Eq(EventKind.CoordinatorLost + " " + NextKind.GivingUp + " " + (ev.Lobby == null), ev.Kind + " " + ev.Next + " True", "told at once, giving up");
                ev = await T.Event(alice, e => true);
                T.Eq(EventKind.Error, ev.Kind, "then the error");
                T.True(ev.Error is ConnectionLostException, "error event: " + ev.Error);
                await T.Throws<ConnectionLostException>(() => alice.ListAsync(), "call after the loss");
            }
        }

        static async Task Timeouts()
        {
            T.Eq(5.0, LobbyClient.DefaultTimeout.TotalSeconds, "default timeout");
            var mute = new TcpListener(IPAddress.Loopback, 0);
            mute.Start();
            var held = new List<TcpClient>();
            var acceptLoop = Task.Run(() => { while (true) { try { held.Add(mute.AcceptTcpClient()); } catch (Exception) { return; } } });
            try
            {
                var addr = "127.0.0.1:" + ((IPEndPoint)mute.LocalEndpoint).Port;
                var sw = Stopwatch.StartNew();
                await T.Throws<CallTimeoutException>(() => LobbyClient.ConnectAsync(addr, new ClientOptions { Timeout = TimeSpan.FromMilliseconds(300) }), "silent server");
                T.True(sw.Elapsed.TotalSeconds < 3, "gave up after " + sw.Elapsed);
            }
            finally
            {
                mute.Stop();
                acceptLoop.Wait(1000);
                foreach (var c in held) c.Close();
            }
            // A server that answers hello and nothing else.
            var half = new TcpListener(IPAddress.Loopback, 0);
            half.Start();
            var server = Task.Run(() =>
            {
                var c = half.AcceptTcpClient();
                var s = c.GetStream();
                var r = new StreamReader(s);
                r.ReadLine();
                var b = Encoding.UTF8.GetBytes("{\"id\":1,\"ok\":true,\"v\":1,\"you\":{\"id\":\"m1\"},\"heartbeat_ms\":0,\"misses\":0}\n");
                s.Write(b, 0, b.Length);
                return c;
            });
            try
            {
                // (The slack keeps the silent link itself up meanwhile, however
                // slowly a loaded machine runs the test.)
                using (var c = await LobbyClient.ConnectAsync("127.0.0.1:" + ((IPEndPoint)half.LocalEndpoint).Port,
                           new ClientOptions { Timeout = TimeSpan.FromMilliseconds(300), DeadLinkSlack = TimeSpan.FromSeconds(5) }))
                {
                    var sw = Stopwatch.StartNew();
                    await T.Throws<CallTimeoutException>(() => c.CreateAsync(new CreateOptions { Game = "demo", Name = "n", Capacity = 2, Port = 1 }), "unanswered call");
                    T.True(sw.Elapsed.TotalSeconds < 3, "gave up after " + sw.Elapsed);
                }
            }
            finally
            {
                half.Stop();
                if (server.IsCompleted && !server.IsFaulted) server.Result.Close();
            }
        }

        static Task HostArgs()
        {
            T.Seq(new List<string> { "coordinator", "--host-mode", "--json" }, CoordinatorProcess.HostModeArgs(), "defaults");
            T.Seq(new List<string> { "coordinator", "--host-mode", "--json", "--beacon-port", "9", "--interface", "lan0", "--lan-key", "k" },
                CoordinatorProcess.HostModeArgs(new List<string> { "lan0" }, "k", null, 9), "with LAN settings");
            return Task.FromResult(0);
        }

        static bool Accepting(int port)
        {
            try
            {
                using (var c = new TcpClient())
                {
                    c.Connect(IPAddress.Loopback, port);
                    return true;
                }
            }
            catch (SocketException) { return false; }
        }

        // The real host mode: the lanlobby binary as a child, announcing the
        // lobby on LANLOBBY_INTERFACE and a beacon port of the test's own.
        static async Task HostChild()
        {
            string iface = Environment.GetEnvironmentVariable("LANLOBBY_INTERFACE") ?? "lo";
            var lo = new LanOptions { Interfaces = new List<string> { iface }, BeaconPort = new Random().Next(20000, 60000),
                ListTimeout = TimeSpan.FromSeconds(3), Quiet = TimeSpan.FromMilliseconds(500), Client = new ClientOptions { Player = "Alice" } };
            var h = await Lan.HostAsync(new CreateOptions { Game = "demo", Name = "hosted ☕", Capacity = 2, Port = 4000 },
                new HostOptions { DaemonWait = TimeSpan.Zero, Binary = Bin, Lan = lo });
            T.True(h.Process != null && h.Process.Running, "coordinator child running");
            T.True(h.Process.ListenAddr.EndsWith(":" + h.Process.Port), "listening line " + h.Process.ListenAddr);
            var found = await Lan.ListAsync("demo", lo);
            T.Eq(1, found.Count, "lobbies announced by the child");
            T.Eq(h.LobbyId + " hosted ☕ 1 " + h.Process.Port, found[0].Id + " " + found[0].Name + " " + found[0].Players + " " + found[0].Port, "announced lobby");
            T.True(await Lan.FindCoordinatorAsync(TimeSpan.FromMilliseconds(300), lo) == null, "host mode does not announce itself");
            using (var bob = await Connect(h.Coordinator, "Bob"))
            {
                var j = await bob.QuickJoinAsync("demo", new JoinOptions { Port = 5000 });
                T.Eq(h.LobbyId + " Alice", j.Lobby.Id + " " + j.Peers[0].Name, "joined the hosted lobby");
                await h.CloseAsync();
                T.Eq("owner_closed", (await T.Event(bob, e => e.Kind == EventKind.Closed)).Reason, "closed");
                T.True(!h.Process.Running, "child stopped");
                T.Eq(0, h.Process.ExitCode, "host mode exits cleanly when its stdin closes");
                T.True(!Accepting(h.Process.Port), "child port closed");
            }
        }

        // Discovery runs on LANLOBBY_INTERFACE: the Go tests run this program
        // inside a lab namespace (lan0), where nothing leaves the lab.
        static async Task HostDaemon()
        {
            string iface = Environment.GetEnvironmentVariable("LANLOBBY_INTERFACE") ?? "lo";
            int bport = new Random().Next(20000, 60000);
            using (var daemon = new Coord { P = await CoordinatorProcess.StartAsync(Bin, new List<string> {
                       "coordinator", "--listen", iface == "lo" ? "127.0.0.1:0" : "0.0.0.0:0", "--interface", iface, "--no-mdns",
                       "--beacon-port", "" + bport, "--json" }) })
            {
                var lo = new LanOptions { Interfaces = new List<string> { iface }, BeaconPort = bport, ListTimeout = TimeSpan.FromSeconds(3), Quiet = TimeSpan.FromSeconds(1) };
                var mine = NetInterfaces.Select(lo.Interfaces)[0].IPv4.ConvertAll(a => a.ToString());
                lo.Client.Player = "Alice";
                var h = await Lan.HostAsync(new CreateOptions { Game = "demo", Name = "Zoë's ☕ game", Capacity = 3, Port = 4000 },
                    new HostOptions { DaemonWait = TimeSpan.FromSeconds(2), Binary = "/nonexistent", Lan = lo });
                using (h)
                {
                    T.True(h.Process == null, "no child when a daemon answers");
                    T.True(h.Coordinator.EndsWith(":" + daemon.Port) && mine.Exists(a => h.Coordinator == a + ":" + daemon.Port),
                        "lobby at the daemon: " + h.Coordinator + ", daemon port " + daemon.Port + " on " + string.Join(",", mine.ToArray()));
                    var found = await Lan.ListAsync("demo", lo);
                    T.Eq(1, found.Count, "lobbies found by beacon on " + iface);
                    T.Eq(h.LobbyId + " Zoë's ☕ game 1 " + h.Coordinator, found[0].Id + " " + found[0].Name + " " + found[0].Players + " " + found[0].Addr, "lobby");
                    T.True(found[0].Rtt > TimeSpan.Zero, "rtt from the query");
                    lo.Client = new ClientOptions { Player = "Bob" };
                    var bob = await Lan.QuickJoinAsync("demo", new JoinOptions { Port = 5000 }, lo);
                    using (bob.Client)
                    {
                        T.Eq(h.LobbyId + " Alice", bob.Joined.Lobby.Id + " " + bob.Joined.Peers[0].Name, "LAN quick-join");
                        lo.Client = new ClientOptions { Player = "Carol" };
                        var carol = await Lan.JoinAsync("Zoë's ☕ game", new JoinOptions { Port = 6000 }, lo);
                        using (carol.Client)
                            T.Seq(new List<string> { "Alice", "Bob" }, carol.Joined.Peers.ConvertAll(p => p.Name), "LAN join by name");
                        lo.ListTimeout = TimeSpan.FromMilliseconds(500);
                        await T.Throws<NotFoundException>(() => Lan.JoinAsync("no such lobby", new JoinOptions { Port = 1 }, lo), "unknown name");
                    }
                }
            }
        }

        static async Task SampleRuns()
        {
            using (var coord = await Coordinator())
            {
                var lines = await LanLobby.Samples.QuickStart.RunAgainst(coord.Addr);
                T.True(lines.Exists(l => l.Contains("member_joined")), "sample saw its player join: " + string.Join(" | ", lines.ToArray()));
            }
        }

        // ---- lab agent -----------------------------------------------------------

        // lab-quickjoin GAME PORT [LANKEY]: quick-join on the LAN (discovery on
        // LANLOBBY_INTERFACE), print the join as one JSON line, then every event,
        // until killed (at most 30 s).
        static async Task<int> LabQuickJoin(string[] a)
        {
            var o = new LanOptions { Quiet = TimeSpan.FromMilliseconds(300), ListTimeout = TimeSpan.FromSeconds(3) };
            if (a.Length > 3) o.LanKey = a[3];
            o.Client.Player = "cs";
            LanJoin j;
            try { j = await Lan.QuickJoinAsync(a[1], new JoinOptions { Port = int.Parse(a[2]) }, o); }
            catch (Exception e)
            {
                Console.WriteLine(Json.Serialize(new Dictionary<string, object> { { "event", "error" }, { "error", e.Message } }));
                return 1;
            }
            Console.WriteLine(Json.Serialize(new Dictionary<string, object> {
                { "event", "joined" }, { "lobby", j.Joined.Lobby.Id }, { "coordinator", j.Lobby.Addr },
                { "peers", j.Joined.Peers.ConvertAll(p => (object)p.Addr) }, { "you", j.Joined.You.Addr } }));
            var lifetime = Stopwatch.StartNew();
            while (lifetime.Elapsed < TimeSpan.FromSeconds(30))
            {
                var ev = await j.Client.NextEventAsync(TimeSpan.FromMilliseconds(100));
                if (ev != null)
                    Console.WriteLine(Json.Serialize(new Dictionary<string, object> { { "event", ev.Kind }, { "member", ev.Member != null ? ev.Member.Addr : "" }, { "players", ev.Lobby != null ? ev.Lobby.Players : 0 } }));
            }
            j.Client.Dispose();
            return 0;
        }

        // lab-host GAME NAME PORT: a game that hosts with no set-up (a daemon on
        // the LAN, else the lanlobby binary beside it as a child: $LANLOBBY_BIN,
        // this program's directory, PATH), prints the lobby and the child as one
        // JSON line, then every event, until killed (at most 30 s).
        static async Task<int> LabHost(string[] a)
        {
            var o = new LanOptions();
            o.Client.Player = "cs-host";
            HostedLobby h;
            try { h = await Lan.HostAsync(new CreateOptions { Game = a[1], Name = a[2], Capacity = 4, Port = int.Parse(a[3]) }, new HostOptions { Lan = o }); }
            catch (Exception e)
            {
                Console.WriteLine(Json.Serialize(new Dictionary<string, object> { { "event", "error" }, { "error", e.Message } }));
                return 1;
            }
            Console.WriteLine(Json.Serialize(new Dictionary<string, object> {
                { "event", "hosted" }, { "lobby", h.LobbyId }, { "coordinator", h.Coordinator }, { "you", h.Joined.You.Addr },
                { "child_pid", h.Process != null ? h.Process.Pid : 0 }, { "listen", h.Process != null ? h.Process.ListenAddr : "" } }));
            var lifetime = Stopwatch.StartNew();
            while (lifetime.Elapsed < TimeSpan.FromSeconds(30))
            {
                var ev = await h.Client.NextEventAsync(TimeSpan.FromMilliseconds(100));
                if (ev != null)
                    Console.WriteLine(Json.Serialize(new Dictionary<string, object> { { "event", ev.Kind }, { "member", ev.Member != null ? ev.Member.Addr : "" }, { "players", ev.Lobby != null ? ev.Lobby.Players : 0 } }));
            }
            h.Dispose();
            return 0;
        }

        // lab-list [LANKEY]: browse for 1.5 s, print every event, lobby and counter.
        static int LabList(string[] a)
        {
            var b = new LanBrowser(new BrowserOptions { Key = a.Length > 1 ? LanKey.Derive(a[1]) : null });
            b.Start();
            System.Threading.Thread.Sleep(1500);
            b.DrainEvents(e => Console.WriteLine("event " + e + " rtt=" + e.Lobby.Rtt.TotalMilliseconds));
            foreach (var l in b.Lobbies) Console.WriteLine("lobby " + l);
            Console.WriteLine("packets=" + b.Packets + " malformed=" + b.Malformed + " unsigned=" + b.Unsigned + " badsig=" + b.BadSignature + " badts=" + b.BadTimestamp);
            b.Dispose();
            return 0;
        }

        static int Kdf()
        {
            var pw = Encoding.UTF8.GetBytes(Pass);
            var salt = Encoding.UTF8.GetBytes(LanKey.KdfSalt);
            LanKey.Pbkdf2Sha256(pw, salt, 1000);
            var sw = Stopwatch.StartNew();
            LanKey.Pbkdf2Sha256(pw, salt, LanKey.KdfIterations);
            var fast = sw.Elapsed;
            sw.Restart();
            using (var h = new System.Security.Cryptography.HMACSHA256(pw))
            {
                var s1 = new byte[salt.Length + 4];
                Buffer.BlockCopy(salt, 0, s1, 0, salt.Length);
                s1[s1.Length - 1] = 1;
                var u = h.ComputeHash(s1);
                var t = (byte[])u.Clone();
                for (int i = 1; i < LanKey.KdfIterations; i++)
                {
                    u = h.ComputeHash(u);
                    for (int k = 0; k < 32; k++) t[k] ^= u[k];
                }
            }
            var naive = sw.Elapsed;
            Console.WriteLine("KDF 600,000 iterations: precomputed pads " + fast.TotalMilliseconds.ToString("F0") + " ms, HMACSHA256 per iteration " +
                              naive.TotalMilliseconds.ToString("F0") + " ms (x" + (naive.TotalMilliseconds / fast.TotalMilliseconds).ToString("F1") + ")");
            return 0;
        }
    }
}
