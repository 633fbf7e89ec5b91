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

        /// <summary>The lobbies visible on the LAN, by beacon and (LanOptions.Mdns)
        /// by mDNS/DNS-SD, merged by id (the beacon's entry first): returns once
        /// nobody answered the beacon query for Quiet (from the query, then from
        /// each answer), at ListTimeout, or soon after a lobby whose id or name
        /// is want turned up.</summary>
        public static async Task<List<LanLobbyInfo>> ListAsync(string game = "", LanOptions o = null, string want = null,
            CancellationToken ct = default(CancellationToken))
        {
            o = o ?? new LanOptions();
            var seen = new Dictionary<string, LanLobbyInfo>();
            var gone = new HashSet<string>(); // said goodbye meanwhile: an mDNS answer does not bring it back
            var bo = Browse(o, game);
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
                        if (!seen.ContainsKey(l.Id) && !gone.Contains(l.Id)) seen[l.Id] = l;
            }
            var out_ = new List<LanLobbyInfo>(seen.Values);
            out_.Sort((x, y) => string.CompareOrdinal(x.Id, y.Id));
            return out_;
        }

        /// <summary>Open lobbies ordered as the coordinator's quick-join does:
        /// fewest free seats first, then the nearest host, then by id.</summary>
        public static List<LanLobbyInfo> QuickJoinOrder(IEnumerable<LanLobbyInfo> lobbies, string game = "")
        {
            game = (game ?? "").ToLowerInvariant();
            var l = new List<LanLobbyInfo>();
            foreach (var x in lobbies)
                if (x.State == "open" && x.Players < x.Capacity && (game == "" || x.Game == game)) l.Add(x);
            l.Sort((a, b) =>
            {
                int c = (a.Capacity - a.Players).CompareTo(b.Capacity - b.Players);
                if (c == 0) c = a.Rtt.CompareTo(b.Rtt);
                return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
            });
            return l;
        }

        static async Task<LanJoin> JoinFirstAsync(List<LanLobbyInfo> cands, JoinOptions jo, LanOptions o, CancellationToken ct)
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
                    var j = await c.JoinAsync(l.Id, jo, ct).ConfigureAwait(false);
                    return new LanJoin { Client = c, Joined = j, Lobby = l };
                }
                catch (CoordinatorException e)
                {
                    c.Dispose();
                    last = e;
                    if (e.Code == ErrorCode.LobbyFull || e.Code == ErrorCode.LobbyStarted || e.Code == ErrorCode.UnknownLobby) continue;
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

        /// <summary>Joins the open lobby of game on the LAN closest to starting,
        /// at its own coordinator; the next one if it filled meanwhile.</summary>
        public static async Task<LanJoin> QuickJoinAsync(string game, JoinOptions jo, LanOptions o = null, CancellationToken ct = default(CancellationToken))
        {
            o = o ?? new LanOptions();
            var order = QuickJoinOrder(await ListAsync(game, o, null, ct).ConfigureAwait(false), game);
            if (order.Count == 0) throw new NotFoundException(ErrorCode.NoOpenLobby, "no open lobby of game \"" + game + "\" visible on the LAN");
            return await JoinFirstAsync(order, jo, o, ct).ConfigureAwait(false);
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
