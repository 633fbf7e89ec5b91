// When the coordinator is lost (PROTOCOL.md, "When the coordinator is lost"):
// the client tells the game at once (CoordinatorLost, with what it does next)
// and then, on a game's own coordinator that hands its lobbies over, goes to
// the successor's standby address (successor_addr in every state block) and
// restores its seat there with its seat credential; told that its lobby moved
// (coordinator_moved) it goes where it is told. While it reconnects it reports
// progress about once a second (Reconnecting). The same as the Go client
// (lobby/failover.go), but that an SDK client never takes a lobby over: it
// registers no standby port, so the coordinator never gives its address.
using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;

namespace LanLobby
{
    public sealed partial class LobbyClient
    {
        /// <summary>Longest a dial to a successor's or moved-to coordinator may
        /// take: a LAN answers in a millisecond; one that does not serve refuses at once.</summary>
        public const int FailoverDialTimeoutMs = 1000;
        /// <summary>Longest a dial to the lost coordinator may take while
        /// failing over: a process that died refuses at once; a machine that
        /// vanished never answers.</summary>
        public const int ProbeDialTimeoutMs = 250;
        /// <summary>After a silent link the lost coordinator is asked only once
        /// the successor has had this long to take over.</summary>
        public const int ProbeSilentAfterMs = 1500;
        /// <summary>Pacing of failover attempts: the successor needs a few
        /// milliseconds to start serving.</summary>
        public const int FailoverBackoffMs = 20, FailoverMaxBackoffMs = 250;
        /// <summary>Spacing of Reconnecting events.</summary>
        public const int ProgressEveryMs = 1000;

        // Under mu: the coordinator hands its lobbies to their successors
        // (hello reply "takeover"); the link is being replaced on purpose (a
        // move: the old one's close is no loss); the last Reconnecting event.
        bool takeover, switching;
        DateTime lastProgress = DateTime.MinValue;

        string CurrentAddr { get { lock (mu) return addr; } }

        /// <summary>The coordinator this client talks to now: the one it
        /// connected to, or the one it followed its lobby to.</summary>
        public string Addr { get { return CurrentAddr; } }

        /// <summary>The coordinator hands its lobbies to their successors when
        /// it is lost (a game's own coordinator), rather than keeping them
        /// across its restarts (a daemon).</summary>
        public bool Takeover { get { lock (mu) return takeover; } }

        /// <summary>What the client does about a lost link, as the Go client
        /// decides (an SDK client is never the one that takes over).</summary>
        string PlanLocked()
        {
            // A daemon keeps its lobbies across restarts; several lobbies
            // cannot follow several successors over one link.
            if (!takeover || lobbies.Count != 1) return NextKind.Resuming;
            foreach (var m in lobbies.Values)
                if (m.Info.Successor == "") return NextKind.Resuming; // alone: nobody to take over
            return NextKind.FailingOver;
        }

        /// <summary>CoordinatorLost for every lobby, at once (one without a
        /// lobby when the client is in none).</summary>
        void TellLost(string next, string reason)
        {
            var infos = new List<LobbyInfo>();
            lock (mu)
                foreach (var m in lobbies.Values) infos.Add(m.Info);
            if (infos.Count == 0) infos.Add(null);
            string why = MemberReason(reason);
            foreach (var info in infos)
                Events.Push(new LobbyEvent { Kind = EventKind.CoordinatorLost, Lobby = info, Next = next, Reason = why });
        }

        /// <summary>A link's close reason as the protocol's reasons name it.</summary>
        static string MemberReason(string reason)
        {
            switch (reason)
            {
                case "timeout":
                case "slow_consumer":
                case "shutdown":
                    return reason;
            }
            return reason.StartsWith("protocol_error") ? "protocol_error" : "disconnected";
        }

        /// <summary>A Reconnecting event, at most once per ProgressEveryMs.</summary>
        void Progress(int attempt, DateTime since, string target)
        {
            var now = Clock.Now;
            LobbyInfo info = null;
            lock (mu)
            {
                if ((now - since).TotalMilliseconds < ProgressEveryMs || (now - lastProgress).TotalMilliseconds < ProgressEveryMs) return;
                lastProgress = now;
                foreach (var m in lobbies.Values) { info = m.Info; break; }
            }
            Events.Push(new LobbyEvent { Kind = EventKind.Reconnecting, Lobby = info, Attempt = attempt, Elapsed = now - since, Addr = target });
        }

        /// <summary>taken_over, coordinator_moved and standby, on link l's reader.</summary>
        void MovePush(Link l, Dictionary<string, object> msg, string kind)
        {
            var info = LobbyInfo.From(msg);
            if (kind == EventKind.TakenOver)
            {
                // It follows the restore's reply on the new link, which may not
                // be installed yet: the restore keeps the reply's peers, the
                // same as these.
                var ev = new LobbyEvent { Kind = kind, Lobby = info, Reason = J.Str(msg, "reason"), Peers = Member.List(J.Arr(msg, "peers")) };
                var d = J.Obj(msg, "member");
                if (d != null) ev.Member = Member.From(d);
                lock (mu)
                {
                    Membership m;
                    if (lobbies.TryGetValue(info.Id, out m))
                    {
                        m.Info = info;
                        m.Owner = info.Owner == you.Id;
                        m.Peers = new List<Member>(ev.Peers);
                    }
                }
                Events.Push(ev);
                return;
            }
            string to = J.Str(msg, "addr");
            TimeSpan budget;
            lock (mu)
            {
                Membership m;
                if (!lobbies.TryGetValue(info.Id, out m) || l != link) return; // not ours, or from a link being replaced
                if (kind == "standby")
                {
                    m.Info = info; // the successor's standby address changed: games are not told
                    return;
                }
                if (err != null || switching || to == "") return;
                if (info.Term < m.Info.Term) return; // a lower term than the lobby has: stale, the higher one wins
                switching = true;
                if (ready.Task.IsCompleted) ready = NewTcs<bool>();
                budget = grace + TimeSpan.FromTicks(heartbeat.Ticks * (misses + 1));
            }
            Events.Push(new LobbyEvent { Kind = EventKind.CoordinatorMoved, Lobby = info, Addr = to });
            Task.Run(async () =>
            {
                try { await FailoverAsync(NextKind.Moving, "closed", budget, to).ConfigureAwait(false); }
                finally { l.Abort(); } // the old coordinator's link, if it is still open
            });
        }

        /// <summary>Gets the client's lobby back on another coordinator within
        /// budget: the one it moved to, else the successor's standby address and
        /// the old coordinator (our own link may be what broke), restoring the
        /// seat with its seat credential; or gives up.</summary>
        async Task FailoverAsync(string plan, string why, TimeSpan budget, string moveTo)
        {
            var start = Clock.Now;
            var deadline = start + budget;
            int backoff = FailoverBackoffMs;
            Exception last = null;
            for (int attempt = 0; Clock.Now < deadline; attempt++)
            {
                if (quit.IsCancellationRequested) return;
                if (attempt > 0)
                {
                    try { await Task.Delay(backoff, quit.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { return; }
                    backoff = Math.Min(2 * backoff, FailoverMaxBackoffMs);
                }
                string succ = "";
                lock (mu)
                    foreach (var m in lobbies.Values) { succ = m.Info.SuccessorAddr; break; }
                Progress(attempt, start, moveTo != "" ? moveTo : succ != "" ? succ : CurrentAddr);
                try
                {
                    await FailoverOnceAsync(plan, why, moveTo, start, deadline).ConfigureAwait(false);
                    ResubscribeAll(); // the new link has no subscriptions
                    return;
                }
                catch (Exception e) { last = e; }
            }
            Fail(new ConnectionLostException("connection to coordinator lost (gave up " + plan + ": " + (last != null ? last.Message : "no attempt") + ")"));
        }

        async Task FailoverOnceAsync(string plan, string why, string moveTo, DateTime start, DateTime deadline)
        {
            string succ = null;
            lock (mu)
                foreach (var m in lobbies.Values) { succ = m.Info.SuccessorAddr; break; }
            if (succ == null) throw new ConnectionLostException("no lobby to fail over");
            var errs = new List<Exception>();
            if (moveTo != "")
            {
                try
                {
                    await ReattachAtAsync(moveTo, deadline, FailoverDialTimeoutMs, true, true).ConfigureAwait(false);
                    return;
                }
                catch (Exception e) { errs.Add(e); }
            }
            if (plan == NextKind.FailingOver)
            {
                if (succ != "")
                {
                    try
                    {
                        await ReattachAtAsync(succ, deadline, FailoverDialTimeoutMs, true, true).ConfigureAwait(false);
                        return;
                    }
                    catch (Exception e) { errs.Add(e); }
                }
                // Our own link may be what broke, and the coordinator lives on.
                if (why != "timeout" || (Clock.Now - start).TotalMilliseconds >= ProbeSilentAfterMs)
                {
                    try
                    {
                        await ReattachAtAsync(CurrentAddr, deadline, ProbeDialTimeoutMs, false, false).ConfigureAwait(false);
                        return;
                    }
                    catch (Exception e) { errs.Add(e); }
                }
            }
            if (errs.Count == 1) throw errs[0];
            var msgs = new List<string>();
            foreach (var e in errs) msgs.Add(e.Message);
            throw new ConnectionLostException(string.Join("; ", msgs.ToArray()));
        }

        /// <summary>How a restore gives our game address: as recorded, unless it
        /// is a loopback one (we ran on the old coordinator's machine), which
        /// means nothing to another coordinator: then its port, paired with the
        /// address the new coordinator sees us at.</summary>
        static void EntryAddr(Dictionary<string, object> e, string gameAddr)
        {
            int colon = gameAddr.LastIndexOf(':');
            IPAddress ip;
            int port;
            if (colon > 0 && IPAddress.TryParse(gameAddr.Substring(0, colon).Trim('[', ']'), out ip) && IPAddress.IsLoopback(ip) &&
                int.TryParse(gameAddr.Substring(colon + 1), out port))
                e["port"] = port;
            else
                e["addr"] = gameAddr;
        }
    }
}
