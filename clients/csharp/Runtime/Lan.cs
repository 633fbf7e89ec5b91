// Zero-configuration LAN play: list the lobbies on the LAN, quick-join the one
// closest to starting, join one by name or id, host a lobby (at a coordinator
// daemon found on the LAN, else at a coordinator child process).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace LanLobby
{
    public sealed class LanOptions
    {
        /// <summary>Interfaces to browse on (default: LANLOBBY_INTERFACE, else automatic).</summary>
        public List<string> Interfaces = new List<string>();
        /// <summary>The LAN passphrase; derived once per process (LanKey.Derive caches it).</summary>
        public string LanKey;
        public int BeaconPort = Beacon.DefaultPort;
        /// <summary>A listing ends this long after the last answer (or the query).</summary>
        public TimeSpan Quiet = TimeSpan.FromMilliseconds(Lan.DefaultQuietMs);
        /// <summary>A listing never takes longer.</summary>
        public TimeSpan ListTimeout = TimeSpan.FromMilliseconds(Lan.DefaultListTimeoutMs);
        /// <summary>Also ask mDNS/DNS-SD responders (one query, merged by lobby id
        /// after the beacon's answers); false: the beacon alone.</summary>
        public bool Mdns = true;
        /// <summary>Options of the coordinator clients made (player name, call timeout).</summary>
        public ClientOptions Client = new ClientOptions();
    }

    /// <summary>A joined LAN lobby: keep Client for the notices.</summary>
    public sealed class LanJoin
    {
        public LobbyClient Client;
        public Joined Joined;
        public LanLobbyInfo Lobby;
    }

    public sealed class HostOptions
    {
        public LanOptions Lan = new LanOptions();
        /// <summary>How long to look for a coordinator daemon first (0: never use one).</summary>
        public TimeSpan DaemonWait = TimeSpan.FromMilliseconds(LanLobby.Lan.DefaultDaemonWaitMs);
        /// <summary>The lanlobby binary (default: CoordinatorProcess.FindBinary).</summary>
        public string Binary;
        /// <summary>The child's command line (default: CoordinatorProcess.HostModeArgs).</summary>
        public List<string> ProcessArgs;
    }

    /// <summary>A lobby this game hosts. Dispose closes it (everyone gets
    /// closed) and stops the coordinator child, if any.</summary>
    public sealed class HostedLobby : IDisposable
    {
        public LobbyClient Client;
        public Joined Joined;
        /// <summary>The coordinator child, or null when a daemon holds the lobby.</summary>
        public CoordinatorProcess Process;
        public string Coordinator;
        public string LobbyId { get { return Joined.Lobby.Id; } }

        public async Task CloseAsync()
        {
            try { await Client.CloseLobbyAsync(LobbyId).ConfigureAwait(false); }
            catch (LobbyException) { }
            Client.Dispose();
            if (Process != null) Process.Stop();
        }

        public void Dispose()
        {
            try { CloseAsync().Wait(TimeSpan.FromSeconds(10)); }
            catch (Exception) { }
        }
    }

    public static class Lan
    {
        public const int DefaultQuietMs = 100, DefaultListTimeoutMs = 1000, DefaultDaemonWaitMs = 100, SettleTimeMs = 5;

        static BrowserOptions Browse(LanOptions o, string game)
        {
            return new BrowserOptions
            {
                Game = game ?? "", Interfaces = o.Interfaces, Port = o.BeaconPort,
                Key = string.IsNullOrEmpty(o.LanKey) ? null : LanKey.Derive(o.LanKey),
            };
        }

        /// <summary>What a look at the LAN found: lobbies and coordinator daemons.</summary>
        sealed class LanView
        {
            public List<LanLobbyInfo> Lobbies;
            public List<LanCoordinatorInfo> Coordinators;
        }

        /// <summary>The lobbies visible on the LAN, by beacon and (LanOptions.Mdns)
        /// by mDNS/DNS-SD, merged by id (the beacon's entry first): returns once
        /// nobody answered the beacon query for Quiet (from the query, then from
        /// each answer), at ListTimeout, or soon after a lobby whose id or name
        /// is want turned up.</summary>
        public static async Task<List<LanLobbyInfo>> ListAsync(string game = "", LanOptions o = null, string want = null,
            CancellationToken ct = default(CancellationToken))
        {
            return (await LookAsync(game, o ?? new LanOptions(), want, ct).ConfigureAwait(false)).Lobbies;
        }

        /// <summary>The lobbies on the LAN known to pass filter (PROTOCOL.md,
        /// "Filters"): a lobby whose announcement left out a key the filter
        /// needs is not listed (QuickJoinAsync still tries it, last).</summary>
        public static async Task<List<LanLobbyInfo>> ListAsync(string game, Filter filter, LanOptions o = null,
            CancellationToken ct = default(CancellationToken))
        {
            if (filter != null) filter.Validate();
            var all = await ListAsync(game, o, null, ct).ConfigureAwait(false);
            if (filter == null || filter.IsZero) return all;
            return all.FindAll(l => filter.Match(l.Candidate()) == Verdict.Matches);
        }

        static async Task<LanView> LookAsync(string game, LanOptions o, string want, CancellationToken ct)
        {
            var seen = new Dictionary<string, LanLobbyInfo>();
            var gone = new HashSet<string>(); // said goodbye meanwhile: an mDNS answer does not bring it back
            var bo = Browse(o, game);
            var view = new LanView();
            using (var mq = o.Mdns ? new MdnsQuery(game, bo.Key).Start(o.Interfaces) : null)
            using (var b = new LanBrowser(bo))
            {
                b.Start();
                var sw = Stopwatch.StartNew();
                var quiet = o.Quiet;
                var idleUntil = quiet;
                while (true)
                {
                    var wait = TimeSpan.FromTicks(Math.Min(o.ListTimeout.Ticks, idleUntil.Ticks)) - sw.Elapsed;
                    if (wait <= TimeSpan.Zero) break;
                    var ev = await b.Events.NextAsync(wait, ct).ConfigureAwait(false);
                    if (ev == null) continue;
                    if (ev.Type == BrowseEvent.Removed)
                    {
                        seen.Remove(ev.Lobby.Id);
                        gone.Add(ev.Lobby.Id);
                    }
                    else
                    {
                        seen[ev.Lobby.Id] = ev.Lobby;
                        if (want != null && (ev.Lobby.Id == want || ev.Lobby.Name == want) && quiet.TotalMilliseconds > SettleTimeMs)
                            quiet = TimeSpan.FromMilliseconds(SettleTimeMs);
                    }
                    idleUntil = sw.Elapsed + quiet;
                }
                // The browser's current view: a host's round trip measured by a
                // reply that changed nothing (a copy of an announcement heard
                // first) is in it, not in the events.
                foreach (var l in b.Lobbies)
                    if (seen.ContainsKey(l.Id)) seen[l.Id] = l;
                if (mq != null)
                    foreach (var l in mq.Lobbies())
                    {
                        // The beacon's entry first, unless mDNS heard of a
                        // higher term (the coordinator that holds the lobby now).
                        LanLobbyInfo had;
                        if (!gone.Contains(l.Id) && (!seen.TryGetValue(l.Id, out had) || l.Term > had.Term)) seen[l.Id] = l;
                    }
                view.Coordinators = b.Coordinators;
            }
            var out_ = new List<LanLobbyInfo>(seen.Values);
            out_.Sort((x, y) => string.CompareOrdinal(x.Id, y.Id));
            view.Lobbies = out_;
            return view;
        }

        /// <summary>The open lobbies of game ("" for any) with at least seats
        /// free seats (and the filter's Free) that may pass filter, in the order
        /// quick-join tries them: those known to pass, then those the LAN could
        /// not tell (a key the filter needs not carried), each in the quick-join
        /// order (fewest free seats, then the oldest, then by id: the order of
        /// the coordinator and of the Go package, the same for every player).</summary>
        public static List<LanLobbyInfo> QuickJoinOrder(IEnumerable<LanLobbyInfo> lobbies, string game = "", int seats = 1, Filter filter = null)
        {
            game = (game ?? "").ToLowerInvariant();
            int need = Math.Max(Math.Max(seats, filter != null ? filter.Free : 0), 1);
            var sure = new List<LanLobbyInfo>();
            var maybe = new List<LanLobbyInfo>();
            foreach (var x in lobbies)
            {
                if (!x.Joinable || x.Capacity - x.Players < need || (game != "" && x.Game != game)) continue;
                var v = filter == null ? Verdict.Matches : filter.Match(x.Candidate());
                if (v == Verdict.Matches) sure.Add(x);
                else if (v == Verdict.MaybeMatch) maybe.Add(x);
            }
            Comparison<LanLobbyInfo> order = (a, b) => Matchmaking.CompareCandidates(a.Candidate(), b.Candidate());
            sure.Sort(order);
            maybe.Sort(order);
            sure.AddRange(maybe);
            return sure;
        }

        /// <summary>Whether a coordinator's refusal means "try the next lobby": it
        /// filled, started, closed, changed past the filter, or bans the player.</summary>
        static bool Gone(string code)
        {
            return code == ErrorCode.LobbyFull || code == ErrorCode.LobbyStarted || code == ErrorCode.UnknownLobby ||
                   code == ErrorCode.FilterMismatch || code == ErrorCode.Banned;
        }

        /// <summary>Joins the first candidate that takes the player, each at its
        /// own coordinator. With quickGame, a lobby on a coordinator daemon
        /// (one of daemons) is quick-joined by the daemon's own rule, which is
        /// exact among all its lobbies.</summary>
        static async Task<LanJoin> JoinFirstAsync(List<LanLobbyInfo> cands, JoinOptions jo, LanOptions o, CancellationToken ct,
            string quickGame = null, List<LanCoordinatorInfo> daemons = null)
        {
            Exception last = new NotFoundException(ErrorCode.NoOpenLobby, "no open lobby visible on the LAN");
            foreach (var l in cands)
            {
                LobbyClient c;
                try { c = await LobbyClient.ConnectAsync(l.Addr, o.Client, ct).ConfigureAwait(false); }
                catch (LobbyException e)
                {
                    last = e;
                    continue; // unreachable: the next one
                }
                try
                {
                    bool daemon = quickGame != null && daemons != null && daemons.Exists(d => d.Addr == l.Addr);
                    var j = daemon ? await c.QuickJoinAsync(quickGame, jo, ct).ConfigureAwait(false)
                                   : await c.JoinAsync(l.Id, jo, ct).ConfigureAwait(false);
                    return new LanJoin { Client = c, Joined = j, Lobby = l };
                }
                catch (CoordinatorException e)
                {
                    c.Dispose();
                    last = e;
                    if (Gone(e.Code)) continue;
                    throw;
                }
                catch
                {
                    c.Dispose();
                    throw;
                }
            }
            throw last;
        }

        /// <summary>Joins the open lobby of game on the LAN closest to starting
        /// among those with jo.Seats free seats that pass jo.Filter (the ones the
        /// LAN could not tell last: each is joined with the filter, so that its
        /// coordinator decides), at its own coordinator; the next one if it
        /// filled, changed past the filter or bans the player meanwhile. With
        /// jo.Seats > 1 the party's seats are reserved in the same lobby
        /// (Joined.Reservation).</summary>
        public static async Task<LanJoin> QuickJoinAsync(string game, JoinOptions jo, LanOptions o = null, CancellationToken ct = default(CancellationToken))
        {
            o = o ?? new LanOptions();
            if (jo.Filter != null) jo.Filter.Validate();
            var view = await LookAsync(game, o, null, ct).ConfigureAwait(false);
            var order = QuickJoinOrder(view.Lobbies, game, jo.Seats, jo.Filter);
            if (order.Count == 0)
                throw new NotFoundException(ErrorCode.NoOpenLobby, "no open lobby of game \"" + game + "\" with " + Math.Max(1, jo.Seats) +
                    " free seats that passes the filter visible on the LAN");
            return await JoinFirstAsync(order, jo, o, ct, game.ToLowerInvariant(), view.Coordinators).ConfigureAwait(false);
        }

        /// <summary>Joins the LAN lobby with that id, or else that name.</summary>
        public static async Task<LanJoin> JoinAsync(string nameOrId, JoinOptions jo, LanOptions o = null, CancellationToken ct = default(CancellationToken))
        {
            o = o ?? new LanOptions();
            var all = await ListAsync("", o, nameOrId, ct).ConfigureAwait(false);
            var cands = all.FindAll(l => l.Id == nameOrId);
            if (cands.Count == 0) cands = QuickJoinOrder(all).FindAll(l => l.Name == nameOrId);
            if (cands.Count == 0) throw new NotFoundException(ErrorCode.UnknownLobby, "no lobby \"" + nameOrId + "\" visible on the LAN");
            return await JoinFirstAsync(cands, jo, o, ct).ConfigureAwait(false);
        }

        /// <summary>A coordinator daemon on the LAN (the beacon's coordinator
        /// record), or null when none answered within wait.</summary>
        public static async Task<LanCoordinatorInfo> FindCoordinatorAsync(TimeSpan wait, LanOptions o = null, CancellationToken ct = default(CancellationToken))
        {
            o = o ?? new LanOptions();
            using (var b = new LanBrowser(Browse(o, "")))
            {
                b.Start();
                var sw = Stopwatch.StartNew();
                while (sw.Elapsed < wait)
                {
                    var cs = b.Coordinators;
                    if (cs.Count > 0)
                    {
                        if (BeaconTable.HostRank(cs[0].Host) > 0)
                        {
                            await Task.Delay(SettleTimeMs, ct).ConfigureAwait(false); // its IPv4 answer may be a moment behind
                            cs = b.Coordinators;
                        }
                        return cs[0];
                    }
                    await Task.Delay(5, ct).ConfigureAwait(false);
                }
            }
            return null;
        }

        /// <summary>Hosts a lobby on the LAN with no set-up: at a coordinator
        /// daemon found on the LAN, else at a coordinator child process (the
        /// lanlobby binary shipped beside the game, in host mode).</summary>
        public static async Task<HostedLobby> HostAsync(CreateOptions co, HostOptions ho = null, CancellationToken ct = default(CancellationToken))
        {
            ho = ho ?? new HostOptions();
            LanCoordinatorInfo daemon = null;
            if (ho.DaemonWait > TimeSpan.Zero) daemon = await FindCoordinatorAsync(ho.DaemonWait, ho.Lan, ct).ConfigureAwait(false);
            CoordinatorProcess proc = null;
            string target;
            if (daemon != null) target = daemon.Addr;
            else
            {
                proc = await CoordinatorProcess.StartAsync(ho.Binary, ho.ProcessArgs ?? CoordinatorProcess.HostModeArgs(ho.Lan.Interfaces, ho.Lan.LanKey, null, ho.Lan.BeaconPort))
                    .ConfigureAwait(false);
                target = proc.Addr;
            }
            try
            {
                var c = await LobbyClient.ConnectAsync(target, ho.Lan.Client, ct).ConfigureAwait(false);
                try
                {
                    var j = await c.CreateAsync(co, ct).ConfigureAwait(false);
                    return new HostedLobby { Client = c, Joined = j, Process = proc, Coordinator = target };
                }
                catch
                {
                    c.Dispose();
                    throw;
                }
            }
            catch
            {
                if (proc != null) proc.Kill();
                throw;
            }
        }
    }
}
