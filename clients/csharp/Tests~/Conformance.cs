// The C# SDK's driver for the conformance run (clients/conformance/README.md):
// `SdkTests.exe conform` reads one command a line on stdin, carries it out
// with the SDK (LobbyClient; Lan.HostAsync and Lan.QuickJoinAsync when no
// coordinator is given), and prints each reply and every event as one JSON
// line on stdout. The Go and Python clients have the same driver, so the
// three follow exactly the same steps. It exits when stdin ends.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using LanLobby;

namespace LanLobby.Tests
{
    static class Conformance
    {
        static readonly object outMu = new object();
        static LobbyClient client;
        static HostedLobby hosted;
        static Task pump;
        static string coordinator = "";
        // Subscriptions in the order of their handles (1, 2, ...), the handle
        // given when first seen: by the command's reply or by an event that
        // came first.
        static readonly List<Subscription> subs = new List<Subscription>();

        static long Handle(Subscription s)
        {
            lock (subs)
            {
                int i = subs.IndexOf(s);
                if (i < 0)
                {
                    subs.Add(s);
                    i = subs.Count - 1;
                }
                return i + 1;
            }
        }

        static void Print(Dictionary<string, object> m)
        {
            var s = Json.Serialize(m);
            lock (outMu)
            {
                Console.Out.Write(s + "\n");
                Console.Out.Flush();
            }
        }

        public static async Task<int> Run(string[] args)
        {
            Print(new Dictionary<string, object> { { "ready", true }, { "lang", "csharp" }, { "sdk", LobbyClient.ClientName } });
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                Dictionary<string, object> c;
                try { c = Json.ParseObject(line); }
                catch (JsonException e)
                {
                    Print(new Dictionary<string, object> { { "seq", 0L }, { "ok", false }, { "code", "bad_command" }, { "error", e.Message } });
                    continue;
                }
                Dictionary<string, object> res;
                try
                {
                    res = await Do(c) ?? new Dictionary<string, object>();
                    res["ok"] = true;
                }
                catch (Exception e)
                {
                    string code = "error";
                    if (e is CoordinatorException) code = ((CoordinatorException)e).Code;
                    else if (e is CallTimeoutException) code = "timeout";
                    else if (e is ConnectionLostException || e is LinkDownException) code = "lost";
                    else if (e is NotFoundException) code = ((NotFoundException)e).Code;
                    res = new Dictionary<string, object> { { "ok", false }, { "code", code }, { "error", e.GetType().Name + ": " + e.Message } };
                }
                res["seq"] = J.Int(c, "seq");
                Print(res);
                if (J.Str(c, "do") == "quit") break;
            }
            lock (subs) foreach (var s in subs) s.Dispose();
            if (hosted != null) hosted.Client.Dispose();
            else if (client != null) client.Dispose();
            if (pump != null) pump.Wait(2000);
            return 0;
        }

        static JoinOptions Endpoint(Dictionary<string, object> c, JoinOptions o)
        {
            o.Port = (int)J.Int(c, "port");
            o.Addr = J.Str(c, "addr");
            var f = J.Obj(c, "filter");
            if (f != null) o.Filter = Filter.FromWire(f);
            o.Seats = (int)J.Int(c, "seats");
            o.Party = Strings(J.Arr(c, "party"));
            o.Reservation = J.Str(c, "reservation");
            return o;
        }

        static List<string> Strings(List<object> l)
        {
            if (l == null) return null;
            var out_ = new List<string>();
            foreach (var x in l) out_.Add((string)x);
            return out_;
        }

        static CreateOptions Create(Dictionary<string, object> c)
        {
            var co = (CreateOptions)Endpoint(c, new CreateOptions { Game = J.Str(c, "game"), Name = J.Str(c, "name"), Capacity = (int)J.Int(c, "capacity"),
                AutoStart = J.Bool(c, "auto_start"), Version = J.Str(c, "version"), Filterable = Strings(J.Arr(c, "filterable")) });
            co.Filter = null;
            var meta = J.Obj(c, "meta");
            if (meta != null)
            {
                co.Meta = new Dictionary<string, string>();
                foreach (var kv in meta) co.Meta[kv.Key] = (string)kv.Value;
            }
            return co;
        }

        static LanOptions Lan(Dictionary<string, object> c)
        {
            var wait = TimeSpan.FromMilliseconds(J.Int(c, "wait_ms"));
            return new LanOptions
            {
                Interfaces = new List<string> { J.Str(c, "interface") }, BeaconPort = (int)J.Int(c, "beacon_port"),
                Quiet = TimeSpan.FromMilliseconds(300), ListTimeout = wait, Client = new ClientOptions { Player = J.Str(c, "player") },
            };
        }

        static async Task<Dictionary<string, object>> Do(Dictionary<string, object> c)
        {
            string op = J.Str(c, "do");
            string coord = J.Str(c, "coordinator");
            if (client == null && op != "host" && op != "quick_join" && op != "quit") throw new LobbyException("no client yet: host or quick_join first");
            switch (op)
            {
                case "create":
                    return new Dictionary<string, object> { { "joined", JoinedOf(await client.CreateAsync(Create(c))) } };
                case "host":
                {
                    var co = Create(c);
                    Joined j;
                    if (coord != "")
                    {
                        client = await LobbyClient.ConnectAsync(coord, new ClientOptions { Player = J.Str(c, "player") });
                        j = await client.CreateAsync(co);
                    }
                    else
                    {
                        var o = Lan(c);
                        hosted = await LanLobby.Lan.HostAsync(co, new HostOptions { Lan = o, DaemonWait = o.ListTimeout });
                        client = hosted.Client;
                        j = hosted.Joined;
                        coord = hosted.Coordinator;
                    }
                    pump = Task.Run(Pump);
                    coordinator = coord;
                    return new Dictionary<string, object> { { "joined", JoinedOf(j) }, { "coordinator", coord } };
                }
                case "quick_join":
                {
                    var jo = Endpoint(c, new JoinOptions());
                    Joined j;
                    if (client != null) // a client that has its link quick-joins at its coordinator
                        return new Dictionary<string, object> { { "joined", JoinedOf(await client.QuickJoinAsync(J.Str(c, "game"), jo)) }, { "coordinator", coordinator } };
                    if (coord != "")
                    {
                        client = await LobbyClient.ConnectAsync(coord, new ClientOptions { Player = J.Str(c, "player") });
                        j = await client.QuickJoinAsync(J.Str(c, "game"), jo);
                    }
                    else
                    {
                        var lj = await LanLobby.Lan.QuickJoinAsync(J.Str(c, "game"), jo, Lan(c));
                        client = lj.Client;
                        j = lj.Joined;
                        coord = lj.Lobby.Addr;
                    }
                    pump = Task.Run(Pump);
                    coordinator = coord;
                    return new Dictionary<string, object> { { "joined", JoinedOf(j) }, { "coordinator", coord } };
                }
                case "join":
                    return new Dictionary<string, object> { { "joined", JoinedOf(await client.JoinAsync(J.Str(c, "lobby"), Endpoint(c, new JoinOptions()))) } };
                case "leave": await client.LeaveAsync(J.Str(c, "lobby")); return null;
                case "kick":
                    if (J.Bool(c, "ban")) await client.KickBanAsync(J.Str(c, "lobby"), J.Str(c, "member"), TimeSpan.FromMilliseconds(J.Int(c, "ban_ms")));
                    else await client.KickAsync(J.Str(c, "lobby"), J.Str(c, "member"));
                    return null;
                case "reserve":
                    return new Dictionary<string, object> { { "reservation", ReservationOf(await client.ReserveAsync(J.Str(c, "lobby"), (int)J.Int(c, "seats"),
                        Strings(J.Arr(c, "party")), TimeSpan.FromMilliseconds(J.Int(c, "window_ms")))) } };
                case "subscribe":
                {
                    var f = J.Obj(c, "filter");
                    var s = await client.SubscribeAsync(J.Str(c, "game"), f != null ? Filter.FromWire(f) : null);
                    return new Dictionary<string, object> { { "sub", Handle(s) } };
                }
                case "unsubscribe":
                {
                    int h = (int)J.Int(c, "sub");
                    Subscription s;
                    lock (subs) s = h >= 1 && h <= subs.Count ? subs[h - 1] : null;
                    if (s == null) throw new LobbyException("no subscription " + h);
                    await s.CloseAsync();
                    return null;
                }
                case "start": await client.StartAsync(J.Str(c, "lobby")); return null;
                case "close": await client.CloseLobbyAsync(J.Str(c, "lobby")); return null;
                case "set_meta":
                {
                    var meta = new Dictionary<string, string>();
                    foreach (var kv in J.Obj(c, "meta")) meta[kv.Key] = (string)kv.Value;
                    await client.SetMetaAsync(J.Str(c, "lobby"), meta);
                    return null;
                }
                case "list":
                {
                    var ls = new List<object>();
                    var f = J.Obj(c, "filter");
                    foreach (var l in await client.ListAsync(J.Str(c, "game"), f != null ? Filter.FromWire(f) : null)) ls.Add(StateOf(l));
                    return new Dictionary<string, object> { { "lobbies", ls } };
                }
                case "ping": await client.PingAsync(); return null;
                case "peers": return new Dictionary<string, object> { { "peers", MembersOf(client.Peers(J.Str(c, "lobby"))) } };
                case "whoami": return new Dictionary<string, object> { { "member", client.MemberId } };
                case "where": return new Dictionary<string, object> { { "coordinator", client.Addr } };
                case "register": await client.RegisterAsync(J.Str(c, "name"), J.Str(c, "addr")); return null;
                case "deregister": await client.DeregisterAsync(J.Str(c, "name")); return null;
                case "lookup": return new Dictionary<string, object> { { "addr", await client.LookupAsync(J.Str(c, "name")) } };
                case "quit": return null;
            }
            throw new LobbyException("unknown command " + op);
        }

        // Pump prints every event of the client until its queue completes.
        static async Task Pump()
        {
            while (true)
            {
                var ev = await client.NextEventAsync(TimeSpan.FromSeconds(1));
                if (ev == null)
                {
                    if (client.Error != null && client.Events.Count == 0) return;
                    continue;
                }
                if (ev.Kind == EventKind.Synced || ev.Kind == EventKind.Unsubscribed) continue; // the SDK's own, not in the script
                var e = new Dictionary<string, object> { { "event", ev.Kind }, { "lobby", StateOf(ev.Lobby ?? new LobbyInfo()) } };
                if (ev.Subscription != null) e["sub"] = Handle(ev.Subscription);
                if (ev.Banned) e["banned"] = true;
                if (ev.Kind == EventKind.ReservationExpired)
                {
                    e["reservation"] = ev.ReservationId;
                    e["released"] = ev.Released;
                }
                if (ev.Member != null) e["member"] = MemberOf(ev.Member);
                if (ev.Reason != "") e["reason"] = ev.Reason;
                if (ev.Kind == EventKind.CoordinatorLost) e["next"] = ev.Next;
                if (ev.Kind == EventKind.Reconnecting) e["attempt"] = ev.Attempt;
                if (ev.Kind == EventKind.CoordinatorMoved) e["addr"] = ev.Addr;
                if (ev.Kind == EventKind.Started || ev.Kind == EventKind.CoordinatorRestarted || ev.Kind == EventKind.TakenOver) e["peers"] = MembersOf(ev.Peers);
                if (ev.Name != "") e["name"] = ev.Name;
                if (ev.Error != null) e["error"] = ev.Error.Message;
                Print(e);
            }
        }

        static Dictionary<string, object> StateOf(LobbyInfo l)
        {
            return new Dictionary<string, object> {
                { "lobby", l.Id }, { "game", l.Game }, { "name", l.Name }, { "players", l.Players }, { "capacity", l.Capacity },
                { "state", l.State }, { "owner", l.Owner }, { "successor", l.Successor }, { "meta", new Dictionary<string, string>(l.Meta) },
                { "auto_start", l.AutoStart }, { "version", l.Version }, { "reserved", l.Reserved }, { "term", l.Term } };
        }

        static object ReservationOf(Reservation r)
        {
            if (r == null) return null;
            var party = new List<object>();
            foreach (var p in r.Party) party.Add(p);
            return new Dictionary<string, object> { { "id", r.Id }, { "token", r.Token }, { "lobby", r.Lobby }, { "seats", r.Seats }, { "party", party } };
        }

        static Dictionary<string, object> MemberOf(Member m)
        {
            return new Dictionary<string, object> { { "id", m.Id }, { "name", m.Name }, { "addr", m.Addr } };
        }

        static List<object> MembersOf(List<Member> ms)
        {
            var out_ = new List<object>();
            foreach (var m in ms) out_.Add(MemberOf(m));
            return out_;
        }

        static Dictionary<string, object> JoinedOf(Joined j)
        {
            return new Dictionary<string, object> { { "lobby", StateOf(j.Lobby) }, { "you", MemberOf(j.You) }, { "peers", MembersOf(j.Peers) }, { "invite", j.Invite },
                { "reservation", ReservationOf(j.Reservation) } };
        }
    }
}
