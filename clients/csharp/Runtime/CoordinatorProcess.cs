// Hosting without a daemon: the lanlobby binary shipped beside the game, run
// as a child process in host mode:
//
//   lanlobby coordinator --host-mode --json [--interface IF ...] [--lan-key K]
//
// It runs a coordinator for this game's own lobbies on a free port (every
// address, IPv4 and IPv6), announces its lobbies on the LAN (beacon and
// mDNS) but not itself, closes them when it exits, prints
// {"event":"listening","addr":"[::]:41234","port":41234,...} when ready, and
// exits when its standard input reaches end of file (the game closed the
// pipe, or died: the OS closes it then, also after kill -9) or, on Linux,
// when its parent process dies. The SDK keeps the pipe open for the game's
// life.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace LanLobby
{
    public sealed class CoordinatorProcess : IDisposable
    {
        /// <summary>How long the child may take to print its listening line.</summary>
        public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(5);
        public const string EnvBinary = "LANLOBBY_BIN";

        readonly Process proc;
        Task drain;
        public readonly int Port;
        /// <summary>The address the child printed it listens on ("[::]:41234").</summary>
        public readonly string ListenAddr;
        /// <summary>The child's process id.</summary>
        public int Pid { get { return proc.Id; } }
        /// <summary>Where to dial it: loopback and its port.</summary>
        public string Addr { get { return "127.0.0.1:" + Port; } }
        public bool Running { get { try { return !proc.HasExited; } catch (Exception) { return false; } } }
        public int ExitCode { get { return proc.ExitCode; } }

        CoordinatorProcess(Process p, int port, string listenAddr)
        {
            proc = p;
            Port = port;
            ListenAddr = listenAddr;
        }

        public static string BinaryName { get { return Path.DirectorySeparatorChar == '\\' ? "lanlobby.exe" : "lanlobby"; } }

        /// <summary>The lanlobby binary: explicit, $LANLOBBY_BIN, beside the game
        /// (its base directory), or on PATH.</summary>
        public static string FindBinary(string explicitPath = null)
        {
            if (!string.IsNullOrEmpty(explicitPath)) return explicitPath;
            var env = Environment.GetEnvironmentVariable(EnvBinary);
            if (!string.IsNullOrEmpty(env)) return env;
            var beside = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, BinaryName);
            if (File.Exists(beside)) return beside;
            foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
                if (d != "" && File.Exists(Path.Combine(d, BinaryName))) return Path.Combine(d, BinaryName);
            throw new LobbyException("no " + BinaryName + " beside the game, in $" + EnvBinary + " or on PATH");
        }

        /// <summary>The host-mode command line: listen (null: any free port on
        /// every address) and the game's LAN settings (beaconPort 0: the default).</summary>
        public static List<string> HostModeArgs(IList<string> interfaces = null, string lanKey = null, string listen = null, int beaconPort = 0)
        {
            var a = new List<string> { "coordinator", "--host-mode", "--json" };
            if (!string.IsNullOrEmpty(listen)) a.AddRange(new[] { "--listen", listen });
            if (beaconPort > 0 && beaconPort != Beacon.DefaultPort) a.AddRange(new[] { "--beacon-port", beaconPort.ToString() });
            if (interfaces != null)
                foreach (var i in interfaces) a.AddRange(new[] { "--interface", i });
            if (!string.IsNullOrEmpty(lanKey)) a.AddRange(new[] { "--lan-key", lanKey });
            return a;
        }

        static string Quote(string s)
        {
            if (s.Length > 0 && s.IndexOfAny(new[] { ' ', '\t', '"', '\\', '\'' }) < 0) return s;
            var sb = new StringBuilder("\"");
            foreach (char c in s)
            {
                if (c == '"' || c == '\\') sb.Append('\\');
                sb.Append(c);
            }
            return sb.Append('"').ToString();
        }

        /// <summary>Starts the coordinator child and waits for its listening line.</summary>
        public static async Task<CoordinatorProcess> StartAsync(string binary = null, IList<string> args = null, TimeSpan? readyTimeout = null)
        {
            var exe = FindBinary(binary);
            var argv = args ?? HostModeArgs();
            var parts = new List<string>();
            foreach (var a in argv) parts.Add(Quote(a));
            var psi = new ProcessStartInfo(exe, string.Join(" ", parts.ToArray()))
            {
                UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false,
                CreateNoWindow = true,
            };
            var p = await Spawner.Start(psi).ConfigureAwait(false);
            if (p == null) throw new LobbyException("cannot start " + exe);
            KeyValuePair<int, string> listening;
            try
            {
                var find = FindListening(p.StandardOutput);
                var done = await Task.WhenAny(find, Task.Delay(readyTimeout ?? ReadyTimeout)).ConfigureAwait(false);
                if (done != find) throw new LobbyException(exe + " printed no listening line within " + (readyTimeout ?? ReadyTimeout).TotalSeconds + " s");
                listening = await find.ConfigureAwait(false);
            }
            catch
            {
                Kill(p);
                throw;
            }
            var c = new CoordinatorProcess(p, listening.Key, listening.Value);
            // Keep reading its output so it never blocks on a full pipe.
            c.drain = Task.Run(async () =>
            {
                try { while (await p.StandardOutput.ReadLineAsync().ConfigureAwait(false) != null) { } }
                catch (Exception) { }
            });
            return c;
        }

        static async Task<KeyValuePair<int, string>> FindListening(StreamReader r)
        {
            while (true)
            {
                var line = await r.ReadLineAsync().ConfigureAwait(false);
                if (line == null) throw new LobbyException("coordinator exited before listening");
                Dictionary<string, object> m;
                try { m = Json.ParseObject(line); }
                catch (JsonException) { continue; }
                if (J.Str(m, "event") != "listening") continue;
                string addr = J.Str(m, "addr");
                if (J.Has(m, "port") && J.Int(m, "port") > 0) return new KeyValuePair<int, string>((int)J.Int(m, "port"), addr);
                string host;
                int port;
                LobbyClient.SplitAddr(addr, 0, out host, out port);
                return new KeyValuePair<int, string>(port, addr);
            }
        }

        /// <summary>Closes its stdin (it ends its lobbies and exits); kills it if
        /// it has not exited within timeout.</summary>
        public void Stop(TimeSpan? timeout = null)
        {
            try { proc.StandardInput.Close(); } catch (Exception) { }
            try
            {
                if (!proc.WaitForExit((int)(timeout ?? TimeSpan.FromSeconds(5)).TotalMilliseconds)) Kill(proc);
                if (drain != null) drain.Wait(1000);
            }
            catch (Exception) { }
        }

        public void Kill() { Kill(proc); }

        static void Kill(Process p)
        {
            try
            {
                if (!p.HasExited) p.Kill();
                p.WaitForExit(5000);
            }
            catch (Exception) { }
        }

        public void Dispose() { Stop(); }

        /// <summary>Starts processes from one thread that lives as long as the
        /// game: Linux's parent-death signal fires when the *thread* that
        /// forked a child exits, and thread-pool threads (where an await may
        /// resume) come and go.</summary>
        static class Spawner
        {
            static readonly object mu = new object();
            static readonly Queue<KeyValuePair<ProcessStartInfo, TaskCompletionSource<Process>>> q =
                new Queue<KeyValuePair<ProcessStartInfo, TaskCompletionSource<Process>>>();
            static Thread thread;

            public static Task<Process> Start(ProcessStartInfo psi)
            {
                var tcs = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (mu)
                {
                    q.Enqueue(new KeyValuePair<ProcessStartInfo, TaskCompletionSource<Process>>(psi, tcs));
                    if (thread == null)
                    {
                        thread = new Thread(Run) { IsBackground = true, Name = "lanlobby-spawner" };
                        thread.Start();
                    }
                    Monitor.Pulse(mu);
                }
                return tcs.Task;
            }

            static void Run()
            {
                while (true)
                {
                    KeyValuePair<ProcessStartInfo, TaskCompletionSource<Process>> job;
                    lock (mu)
                    {
                        while (q.Count == 0) Monitor.Wait(mu);
                        job = q.Dequeue();
                    }
                    try { job.Value.TrySetResult(Process.Start(job.Key)); }
                    catch (Exception e) { job.Value.TrySetException(new LobbyException("cannot start " + job.Key.FileName + ": " + e.Message)); }
                }
            }
        }
    }
}
