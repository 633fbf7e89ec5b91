// A tiny test runner (no NUnit: the tests build with mcs and run with mono,
// and nothing comes from NuGet). Each test prints "--- PASS: name (secs)" or
// "--- FAIL: name: why"; the run ends with "N passed, M failed".
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using LanLobby;

namespace LanLobby.Tests
{
    sealed class TestFailure : Exception
    {
        public TestFailure(string m) : base(m) { }
    }

    static class T
    {
        public static void True(bool cond, string what)
        {
            if (!cond) throw new TestFailure(what);
        }

        public static void Eq<X>(X want, X got, string what)
        {
            if (!EqualityComparer<X>.Default.Equals(want, got)) throw new TestFailure(what + ": want " + want + ", got " + got);
        }

        public static void Seq<X>(IList<X> want, IList<X> got, string what)
        {
            bool ok = want.Count == got.Count;
            for (int i = 0; ok && i < want.Count; i++) ok = EqualityComparer<X>.Default.Equals(want[i], got[i]);
            if (!ok) throw new TestFailure(what + ": want [" + string.Join(", ", Str(want)) + "], got [" + string.Join(", ", Str(got)) + "]");
        }

        static string[] Str<X>(IList<X> l)
        {
            var s = new string[l.Count];
            for (int i = 0; i < l.Count; i++) s[i] = "" + l[i];
            return s;
        }

        public static async Task<E> Throws<E>(Func<Task> f, string what) where E : Exception
        {
            try { await f(); }
            catch (E e) { return e; }
            catch (Exception e) { throw new TestFailure(what + ": want " + typeof(E).Name + ", got " + e.GetType().Name + ": " + e.Message); }
            throw new TestFailure(what + ": want " + typeof(E).Name + ", got no exception");
        }

        public static E ThrowsSync<E>(Action f, string what) where E : Exception
        {
            try { f(); }
            catch (E e) { return e; }
            catch (Exception e) { throw new TestFailure(what + ": want " + typeof(E).Name + ", got " + e.GetType().Name + ": " + e.Message); }
            throw new TestFailure(what + ": want " + typeof(E).Name + ", got no exception");
        }

        /// <summary>The first event of c matching pred within timeout.</summary>
        public static async Task<LobbyEvent> Event(LobbyClient c, Func<LobbyEvent, bool> pred, double seconds = 5)
        {
            var sw = Stopwatch.StartNew();
            var seen = new List<string>();
            while (true)
            {
                var left = TimeSpan.FromSeconds(seconds) - sw.Elapsed;
                if (left <= TimeSpan.Zero) throw new TestFailure("no matching event within " + seconds + " s; saw: " + string.Join("; ", seen.ToArray()));
                var ev = await c.NextEventAsync(left);
                if (ev == null) continue;
                seen.Add(ev.ToString());
                if (pred(ev)) return ev;
            }
        }

        public static async Task WaitFor(Func<bool> cond, double seconds, string what)
        {
            var sw = Stopwatch.StartNew();
            while (!cond())
            {
                if (sw.Elapsed.TotalSeconds > seconds) throw new TestFailure(what + " not met within " + seconds + " s");
                await Task.Delay(10);
            }
        }
    }

    /// <summary>Forwards TCP to a port. Freeze makes every existing link silent
    /// in both directions (a Wi-Fi blip: nothing arrives, nothing closes); new
    /// links are forwarded normally.</summary>
    sealed class Proxy : IDisposable
    {
        readonly TcpListener ln;
        readonly int target;
        readonly List<Link> links = new List<Link>();
        // While reset, new links wait before they are forwarded (Hold).
        readonly ManualResetEvent open = new ManualResetEvent(true);

        sealed class Link
        {
            public volatile bool Frozen;
            public TcpClient A, B;
        }

        public Proxy(int targetPort)
        {
            target = targetPort;
            ln = new TcpListener(IPAddress.Loopback, 0);
            ln.Start();
            new Thread(Accept) { IsBackground = true }.Start();
        }

        public string Addr { get { return "127.0.0.1:" + ((IPEndPoint)ln.LocalEndpoint).Port; } }
        /// <summary>Links accepted so far.</summary>
        public int Links { get { lock (links) return links.Count; } }

        void Accept()
        {
            while (true)
            {
                TcpClient a;
                try { a = ln.AcceptTcpClient(); }
                catch (Exception) { return; }
                open.WaitOne();
                var b = new TcpClient();
                try { b.Connect(IPAddress.Loopback, target); }
                catch (Exception) { a.Close(); continue; }
                var l = new Link { A = a, B = b };
                lock (links) links.Add(l);
                new Thread(() => Pump(l, a, b)) { IsBackground = true }.Start();
                new Thread(() => Pump(l, b, a)) { IsBackground = true }.Start();
            }
        }

        static void Pump(Link l, TcpClient from, TcpClient to)
        {
            var buf = new byte[65536];
            try
            {
                var src = from.GetStream();
                var dst = to.GetStream();
                while (true)
                {
                    int n = src.Read(buf, 0, buf.Length);
                    if (n <= 0) break;
                    if (!l.Frozen) dst.Write(buf, 0, n);
                }
            }
            catch (Exception) { }
            if (!l.Frozen) to.Close();
        }

        public void Freeze()
        {
            lock (links)
                foreach (var l in links) l.Frozen = true;
        }

        /// <summary>New links wait (the client's reconnect hangs, as over a dead
        /// network) until Release.</summary>
        public void Hold() { open.Reset(); }
        public void Release() { open.Set(); }

        public void Dispose()
        {
            open.Set();
            ln.Stop();
            lock (links)
                foreach (var l in links)
                {
                    l.A.Close();
                    l.B.Close();
                }
        }
    }

    sealed class Runner
    {
        readonly List<KeyValuePair<string, Func<Task>>> tests = new List<KeyValuePair<string, Func<Task>>>();
        public void Add(string name, Func<Task> f) { tests.Add(new KeyValuePair<string, Func<Task>>(name, f)); }

        public int Run(string filter, TimeSpan perTest)
        {
            int pass = 0, fail = 0;
            foreach (var t in tests)
            {
                if (filter != "" && !t.Key.Contains(filter)) continue;
                var sw = Stopwatch.StartNew();
                string err = null;
                try
                {
                    var task = Task.Run(t.Value);
                    if (!task.Wait(perTest)) err = "timed out after " + perTest.TotalSeconds + " s";
                }
                catch (AggregateException ae) { err = ae.InnerException.GetType().Name + ": " + ae.InnerException.Message; }
                catch (Exception e) { err = e.GetType().Name + ": " + e.Message; }
                if (err == null)
                {
                    pass++;
                    Console.WriteLine("--- PASS: " + t.Key + " (" + sw.Elapsed.TotalSeconds.ToString("F2") + "s)");
                }
                else
                {
                    fail++;
                    Console.WriteLine("--- FAIL: " + t.Key + " (" + sw.Elapsed.TotalSeconds.ToString("F2") + "s): " + err.Replace("\n", " | "));
                }
            }
            Console.WriteLine(pass + " passed, " + fail + " failed");
            return fail == 0 && pass > 0 ? 0 : 1;
        }
    }
}
