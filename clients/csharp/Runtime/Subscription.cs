// Live filtered subscriptions (PROTOCOL.md, "Subscriptions"), the client's
// side: a snapshot then changes of the lobbies that pass a filter, kept as a
// view and handed to the game through the client's event queue.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace LanLobby
{
    /// <summary>One page of a list (LobbyClient.ListPageAsync).</summary>
    public sealed class ListPage
    {
        public List<LobbyInfo> Lobbies = new List<LobbyInfo>();
        /// <summary>The next page's cursor ("" when this was the last).</summary>
        public string Next = "";
    }

    /// <summary>
    /// A live, filtered view of a coordinator's lobbies (LobbyClient.SubscribeAsync):
    /// the coordinator pushes only the changes of the lobbies that match it.
    /// Its events come through the client's Events (LobbyEvent.Subscription is
    /// this); Lobbies is the view. The client keeps it going by itself: after
    /// a link was resumed or restored, or when the coordinator ended it
    /// (unsubscribed), it subscribes again and tells only what changed
    /// meanwhile. Dispose (or CloseAsync) ends it.
    /// </summary>
    public sealed class Subscription : IDisposable
    {
        readonly LobbyClient client;
        public readonly string Game;
        /// <summary>The filter it was made with (null: every lobby of the game).</summary>
        public readonly Filter Filter;

        internal readonly object Mu = new object();
        // Guarded by Mu: the coordinator's id for the current attempt (0 while
        // not subscribed), the view, the snapshot being received (null once
        // synced), and the attempt's synced signal.
        internal long WireId;
        Dictionary<string, LobbyInfo> view = new Dictionary<string, LobbyInfo>();
        Dictionary<string, LobbyInfo> snap;
        TaskCompletionSource<bool> synced;
        bool ended;

        internal Subscription(LobbyClient c, string game, Filter filter)
        {
            client = c;
            Game = game;
            Filter = filter;
        }

        /// <summary>The coordinator's id of the subscription now (0 while the
        /// client subscribes again).</summary>
        public long Id { get { lock (Mu) return WireId; } }

        /// <summary>Whether it still runs (not closed, the client not stopped).</summary>
        public bool IsActive { get { lock (Mu) return !ended; } }

        /// <summary>The lobbies that match now, as far as the client knows.</summary>
        public List<LobbyInfo> Lobbies
        {
            get
            {
                lock (Mu)
                {
                    var l = new List<LobbyInfo>(view.Values);
                    l.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
                    return l;
                }
            }
        }

        /// <summary>A new attempt got id from the coordinator: its snapshot follows.</summary>
        internal long Begin(long id, TaskCompletionSource<bool> done)
        {
            lock (Mu)
            {
                long old = WireId;
                WireId = id;
                snap = new Dictionary<string, LobbyInfo>();
                synced = done;
                return old;
            }
        }

        /// <summary>Forgets the current attempt; returns its id.</summary>
        internal long Drop(long onlyId = 0)
        {
            lock (Mu)
            {
                long old = WireId;
                if (onlyId != 0 && old != onlyId) return 0;
                WireId = 0;
                snap = null;
                return old;
            }
        }

        /// <summary>Ends it for good; returns the id it had and whether it was running.</summary>
        internal long End(out bool first)
        {
            lock (Mu)
            {
                first = !ended;
                ended = true;
                long old = WireId;
                WireId = 0;
                snap = null;
                if (synced != null) synced.TrySetResult(false);
                return old;
            }
        }

        internal void End()
        {
            bool first;
            End(out first);
        }

        /// <summary>One event of attempt id, on the client's reader thread.</summary>
        internal void Apply(long id, string kind, LobbyInfo info, EventQueue<LobbyEvent> events)
        {
            lock (Mu)
            {
                if (WireId != id || ended) return;
                if (snap != null)
                {
                    if (kind == EventKind.LobbyAdded || kind == EventKind.LobbyUpdated) snap[info.Id] = info;
                    else if (kind == EventKind.LobbyRemoved) snap.Remove(info.Id);
                    else if (kind == EventKind.Synced) SyncLocked(events);
                    return;
                }
                LobbyInfo old;
                bool had = view.TryGetValue(info.Id, out old);
                if (kind == EventKind.LobbyAdded || kind == EventKind.LobbyUpdated)
                {
                    view[info.Id] = info;
                    events.Push(new LobbyEvent { Kind = had ? EventKind.LobbyUpdated : EventKind.LobbyAdded, Lobby = info, Subscription = this });
                }
                else if (kind == EventKind.LobbyRemoved && had)
                {
                    view.Remove(info.Id);
                    events.Push(new LobbyEvent { Kind = EventKind.LobbyRemoved, Lobby = info, Subscription = this });
                }
            }
        }

        // Installs a complete snapshot, telling how it differs from the view
        // (everything is new the first time), then Synced.
        void SyncLocked(EventQueue<LobbyEvent> events)
        {
            var s = snap;
            snap = null;
            var ids = new List<string>(s.Keys);
            ids.Sort(string.CompareOrdinal);
            foreach (var id in ids)
            {
                LobbyInfo old;
                if (!view.TryGetValue(id, out old))
                    events.Push(new LobbyEvent { Kind = EventKind.LobbyAdded, Lobby = s[id], Subscription = this });
                else if (!old.Same(s[id]))
                    events.Push(new LobbyEvent { Kind = EventKind.LobbyUpdated, Lobby = s[id], Subscription = this });
            }
            var gone = new List<string>();
            foreach (var kv in view)
                if (!s.ContainsKey(kv.Key)) gone.Add(kv.Key);
            gone.Sort(string.CompareOrdinal);
            foreach (var id in gone)
            {
                var l = view[id];
                events.Push(new LobbyEvent { Kind = EventKind.LobbyRemoved, Lobby = l, Subscription = this });
            }
            view = s;
            events.Push(new LobbyEvent { Kind = EventKind.Synced, Subscription = this });
            if (synced != null) synced.TrySetResult(true);
        }

        /// <summary>Ends the subscription and tells the coordinator (within the
        /// client's timeout; errors ignored: the link's end drops it too).</summary>
        public async Task CloseAsync()
        {
            long id = client.Forget(this);
            if (id != 0) await client.UnsubscribeAsync(id).ConfigureAwait(false);
        }

        public void Dispose()
        {
            long id = client.Forget(this);
            if (id != 0) LobbyClientTasks.Observe(client.UnsubscribeAsync(id));
        }
    }

    static class LobbyClientTasks
    {
        // Observe keeps an abandoned task's exception from going unobserved.
        internal static void Observe(Task t)
        {
            t.ContinueWith(x => { var ignored = x.Exception; }, TaskContinuationOptions.OnlyOnFaulted);
        }
    }

    public sealed partial class LobbyClient
    {
        /// <summary>One attempt: the request, then the snapshot, within the client's timeout.</summary>
        async Task SubscribeOnceAsync(Subscription s, CancellationToken ct)
        {
            var deadline = Clock.Now + opt.Timeout;
            var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var req = Req("subscribe");
            if (s.Game != "") req["game"] = s.Game;
            var fw = s.Filter != null ? s.Filter.ToWire() : null;
            if (fw != null) req["filter"] = fw;
            await CallUntilAsync(req, deadline, d =>
            {
                long id = J.Int(d, "sub");
                if (!J.Bool(d, "ok") || id == 0) return;
                // On the reader thread, before the snapshot is read.
                long old = s.Begin(id, done);
                lock (mu)
                {
                    if (old != 0) subsById.Remove(old);
                    subsById[id] = s;
                }
            }, ct).ConfigureAwait(false);
            var left = deadline - Clock.Now;
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                if (left > TimeSpan.Zero) await Task.WhenAny(done.Task, lost.Task, Task.Delay(left, cts.Token)).ConfigureAwait(false);
                cts.Cancel();
            }
            ct.ThrowIfCancellationRequested();
            if (done.Task.IsCompleted && done.Task.Result) return;
            lock (mu) if (err != null) throw err;
            if (!s.IsActive) throw new LobbyException("subscription closed");
            throw new CallTimeoutException("no reply from coordinator in time (subscribe: the snapshot did not end)");
        }

        /// <summary>A subscription push (it has sub), on the reader thread.</summary>
        void SubEvent(Dictionary<string, object> msg, string kind)
        {
            long id = J.Int(msg, "sub");
            Subscription s;
            lock (mu) subsById.TryGetValue(id, out s);
            if (s == null) return; // ended, or replaced by a newer attempt
            if (kind == EventKind.Unsubscribed)
            {
                lock (mu) subsById.Remove(id);
                if (s.Drop(id) == 0 || !s.IsActive) return;
                Events.Push(new LobbyEvent { Kind = EventKind.Unsubscribed, Reason = J.Str(msg, "reason"), Subscription = s });
                Resubscribe(s);
                return;
            }
            if (kind != EventKind.LobbyAdded && kind != EventKind.LobbyUpdated && kind != EventKind.LobbyRemoved && kind != EventKind.Synced)
                return; // a subscription event this client does not know
            s.Apply(id, kind, LobbyInfo.From(msg), Events);
        }

        /// <summary>Subscribes s again in the background, with backoff, until it
        /// works, s ends or the client stops.</summary>
        void Resubscribe(Subscription s)
        {
            Observe(Task.Run(async () =>
            {
                int backoff = 50;
                var rnd = new Random();
                while (s.IsActive && !quit.IsCancellationRequested)
                {
                    lock (mu) if (err != null) return;
                    try
                    {
                        await SubscribeOnceAsync(s, quit.Token).ConfigureAwait(false);
                        return;
                    }
                    catch (Exception) { }
                    try { await Task.Delay(backoff + rnd.Next(backoff / 2 + 1), quit.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { return; }
                    backoff = Math.Min(2 * backoff, 1000);
                }
            }));
        }

        /// <summary>A new link has no subscriptions: subscribe every live one again.</summary>
        void ResubscribeAll()
        {
            List<Subscription> live;
            lock (mu)
            {
                live = new List<Subscription>(subs);
                subsById.Clear();
            }
            foreach (var s in live)
            {
                s.Drop();
                Resubscribe(s);
            }
        }

        /// <summary>The client stopped: every subscription ends.</summary>
        void EndSubscriptions()
        {
            List<Subscription> live;
            lock (mu)
            {
                live = new List<Subscription>(subs);
                subs.Clear();
                subsById.Clear();
            }
            foreach (var s in live) s.End();
        }

        /// <summary>Ends s on the client's side; returns the coordinator's id to unsubscribe (0: none).</summary>
        internal long Forget(Subscription s)
        {
            bool first;
            long id = s.End(out first);
            lock (mu)
            {
                subs.Remove(s);
                if (id != 0) subsById.Remove(id);
                if (err != null) return 0;
            }
            return first ? id : 0;
        }

        internal async Task UnsubscribeAsync(long id)
        {
            try { await CallAsync(Req("unsubscribe", "sub", id), null, CancellationToken.None).ConfigureAwait(false); }
            catch (LobbyException) { } // the link's end drops it too
        }

        /// <summary>Tests: spoils this client's seat credential for a lobby (as an
        /// outsider's would be).</summary>
        internal void SpoilCredential(string lobbyId)
        {
            lock (mu)
            {
                Membership m;
                if (lobbies.TryGetValue(lobbyId, out m)) m.Credential = "00000000000000000000000000000000";
            }
        }

        /// <summary>Tests: the credentials this client keeps for a lobby (credential, owner credential, lobby secret).</summary>
        internal string[] Credentials(string lobbyId)
        {
            lock (mu)
            {
                Membership m;
                return lobbies.TryGetValue(lobbyId, out m) ? new[] { m.Credential, m.OwnerCredential, m.LobbySecret } : null;
            }
        }
    }
}
