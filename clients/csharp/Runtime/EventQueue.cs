using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace LanLobby
{
    /// <summary>A monotonic clock for deadlines: a wall clock stepped by NTP
    /// must not stretch or cut a timeout.</summary>
    internal static class Clock
    {
        static readonly System.Diagnostics.Stopwatch sw = System.Diagnostics.Stopwatch.StartNew();
        public static DateTime Now { get { return new DateTime(sw.Elapsed.Ticks); } }
    }

    /// <summary>A bounded queue of events filled by the SDK's socket threads
    /// and drained by the game on its own thread (once a frame): nothing is
    /// ever called back on a socket thread. Past Max the oldest event goes
    /// and Dropped counts it.</summary>
    public sealed class EventQueue<T> where T : class
    {
        readonly object mu = new object();
        readonly Queue<T> q = new Queue<T>();
        TaskCompletionSource<bool> signal = NewSignal();
        bool completed;

        public readonly int Max;
        long dropped;

        public EventQueue(int max) { Max = max; }

        static TaskCompletionSource<bool> NewSignal()
        {
            return new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        /// <summary>Events discarded because nobody drained them.</summary>
        public long Dropped { get { return Interlocked.Read(ref dropped); } }

        public int Count { get { lock (mu) return q.Count; } }

        internal void Push(T ev)
        {
            TaskCompletionSource<bool> s;
            lock (mu)
            {
                if (completed) return;
                if (q.Count >= Max)
                {
                    q.Dequeue();
                    Interlocked.Increment(ref dropped);
                }
                q.Enqueue(ev);
                s = signal;
                signal = NewSignal();
            }
            s.TrySetResult(true);
        }

        /// <summary>No more events will come (after the last one pushed).</summary>
        internal void Complete()
        {
            TaskCompletionSource<bool> s;
            lock (mu)
            {
                completed = true;
                s = signal;
            }
            s.TrySetResult(true);
        }

        public bool TryDequeue(out T ev)
        {
            lock (mu)
            {
                if (q.Count > 0)
                {
                    ev = q.Dequeue();
                    return true;
                }
            }
            ev = null;
            return false;
        }

        /// <summary>Hands the waiting events to handler, oldest first, on the
        /// caller's thread; returns how many.</summary>
        public int Drain(Action<T> handler, int max = int.MaxValue)
        {
            int n = 0;
            T ev;
            while (n < max && TryDequeue(out ev))
            {
                handler(ev);
                n++;
            }
            return n;
        }

        /// <summary>The next event within timeout, or null.</summary>
        public async Task<T> NextAsync(TimeSpan timeout, CancellationToken ct = default(CancellationToken))
        {
            var deadline = Clock.Now + timeout;
            while (true)
            {
                Task<bool> wait;
                lock (mu)
                {
                    if (q.Count > 0) return q.Dequeue();
                    if (completed) return null;
                    wait = signal.Task;
                }
                var left = deadline - Clock.Now;
                if (left <= TimeSpan.Zero) return null;
                using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    var delay = Task.Delay(left, cts.Token);
                    var done = await Task.WhenAny(wait, delay).ConfigureAwait(false);
                    cts.Cancel();
                    ct.ThrowIfCancellationRequested();
                    if (done != wait) return null;
                }
            }
        }
    }
}
