// One-shot mDNS/DNS-SD browsing for lobbies (PROTOCOL.md, "mDNS / DNS-SD").
//
// MdnsQuery asks every responder on the chosen interfaces for the
// _lanlobby._tcp.local services (or a game's subtype
// _<game>._sub._lanlobby._tcp.local) with a legacy unicast query (RFC 6762
// §6.7): sent to 224.0.0.251:5353 from an ephemeral port of its own, so
// responders answer it by unicast to that port with the SRV, TXT and address
// records beside the PTR answers, and no socket on port 5353 is needed. The
// answers become LanLobbyInfo entries (Source "mdns"), the TXT record checked
// as the protocol says and, with a LAN key, its signature verified. IPv4 only.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace LanLobby
{
    public sealed class MdnsQuery : IDisposable
    {
        public static readonly IPAddress Group = IPAddress.Parse("224.0.0.251");
        public const int Port = 5353;
        /// <summary>Answers up to this size (EDNS0, as PROTOCOL.md's browsers ask).</summary>
        public const int UdpSize = 1400;
        /// <summary>Answers kept, records read from one, services assembled: bounds for a hostile LAN.</summary>
        public const int MaxPackets = 256, MaxRecords = 256, MaxServices = 4096;
        /// <summary>The replay window of signed TXT records (PROTOCOL.md: 90 s).</summary>
        public static readonly TimeSpan TxtWindow = TimeSpan.FromSeconds(90);

        internal const int TA = 1, TPtr = 12, TTxt = 16, TSrv = 33, TOpt = 41;
        static readonly string[] Service = { "_lanlobby", "_tcp", "local" };
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        readonly string game;
        readonly LanKey key;
        readonly object mu = new object();
        readonly List<Answer> answers = new List<Answer>();
        readonly Stopwatch clock = Stopwatch.StartNew();
        readonly Dictionary<string, long> counters = new Dictionary<string, long>();
        Socket sock;
        Thread reader;
        Timer resend;
        double sent;
        volatile bool closed;

        /// <summary>One answer: its bytes, source address and arrival (seconds on the query's clock).</summary>
        public sealed class Answer
        {
            public byte[] Data;
            public IPAddress From;
            public double At;
        }

        public MdnsQuery(string game = "", LanKey key = null)
        {
            this.game = (game ?? "").ToLowerInvariant();
            this.key = key;
        }

        /// <summary>Answers that were malformed, invalid or failed their signature, by kind.</summary>
        public Dictionary<string, long> Counters { get { lock (mu) return new Dictionary<string, long>(counters); } }

        /// <summary>Sends the query on every chosen interface with an IPv4
        /// address (again after 250 ms if nobody answered) and listens for
        /// the answers until Dispose.</summary>
        public MdnsQuery Start(IList<string> interfaces = null)
        {
            var ifaces = NetInterfaces.Select(interfaces).FindAll(i => i.IPv4.Count > 0);
            if (ifaces.Count == 0) return this;
            sock = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            sock.Bind(new IPEndPoint(IPAddress.Any, 0));
            sock.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 255);
            sock.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
            var name = new List<string>();
            if (game != "") name.AddRange(new[] { "_" + game, "_sub" });
            name.AddRange(Service);
            var pkt = EncodeQuery((ushort)new Random().Next(65536), name);
            Action send = () =>
            {
                foreach (var i in ifaces)
                    try
                    {
                        sock.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, BitConverter.ToInt32(i.IPv4[0].GetAddressBytes(), 0));
                        sock.SendTo(pkt, new IPEndPoint(Group, Port));
                    }
                    catch (Exception) { } // one interface failing must not stop the others
            };
            reader = new Thread(Read) { IsBackground = true, Name = "lanlobby-mdns" };
            reader.Start();
            sent = clock.Elapsed.TotalSeconds;
            send();
            resend = new Timer(_ => { lock (mu) if (answers.Count > 0) return; try { send(); } catch (Exception) { } }, null, 250, Timeout.Infinite);
            return this;
        }

        void Read()
        {
            var buf = new byte[9000];
            while (true)
            {
                EndPoint from = new IPEndPoint(IPAddress.Any, 0);
                int n;
                try { n = sock.ReceiveFrom(buf, ref from); }
                catch (SocketException)
                {
                    if (closed) return;
                    continue;
                }
                catch (Exception) { return; } // disposed
                var b = new byte[n];
                Buffer.BlockCopy(buf, 0, b, 0, n);
                lock (mu)
                    if (answers.Count < MaxPackets)
                        answers.Add(new Answer { Data = b, From = ((IPEndPoint)from).Address, At = clock.Elapsed.TotalSeconds });
            }
        }

        /// <summary>What the answers so far describe.</summary>
        public List<LanLobbyInfo> Lobbies()
        {
            List<Answer> got;
            lock (mu) got = new List<Answer>(answers);
            var c = new Dictionary<string, long>();
            var out_ = Assemble(got, game, key, Beacon.UnixMs(DateTime.UtcNow), c, sent);
            lock (mu)
                foreach (var kv in c)
                {
                    long v;
                    counters.TryGetValue(kv.Key, out v);
                    counters[kv.Key] = Math.Max(v, kv.Value);
                }
            return out_;
        }

        public void Dispose()
        {
            closed = true;
            if (resend != null) resend.Dispose();
            if (sock != null) sock.Close();
        }

        // ---- the DNS message format (RFC 1035) -----------------------------------

        internal static byte[] EncodeQuery(ushort id, IList<string> name)
        {
            var q = new List<byte> { (byte)(id >> 8), (byte)id, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 };
            foreach (var l in name)
            {
                var b = Utf8.GetBytes(l);
                q.Add((byte)b.Length);
                q.AddRange(b);
            }
            q.AddRange(new byte[] { 0, 0, TPtr, 0, 1 });
            q.AddRange(new byte[] { 0, 0, TOpt, UdpSize >> 8, UdpSize & 0xff, 0, 0, 0, 0, 0, 0 });
            return q.ToArray();
        }

        internal sealed class Record
        {
            public List<byte[]> Owner;
            public int Type, Off, Len;
        }

        /// <summary>The labels (raw bytes) of the name at off, following
        /// compression pointers; end is the offset after it.</summary>
        internal static List<byte[]> Name(byte[] b, int off, out int end)
        {
            var labels = new List<byte[]>();
            end = -1;
            for (int jumps = 0; ; )
            {
                if (off >= b.Length) throw new FormatException("name runs past the end");
                int n = b[off];
                if ((n & 0xC0) == 0xC0)
                {
                    if (off + 1 >= b.Length || ++jumps > 32) throw new FormatException("bad compression pointer");
                    if (end < 0) end = off + 2;
                    off = ((n & 0x3F) << 8) | b[off + 1];
                    continue;
                }
                if ((n & 0xC0) != 0) throw new FormatException("bad label type");
                if (n == 0)
                {
                    if (end < 0) end = off + 1;
                    return labels;
                }
                if (off + 1 + n > b.Length || labels.Count >= 128) throw new FormatException("label runs past the end");
                var l = new byte[n];
                Buffer.BlockCopy(b, off + 1, l, 0, n);
                labels.Add(l);
                off += 1 + n;
            }
        }

        internal static List<Record> Records(byte[] b)
        {
            if (b.Length < 12) throw new FormatException("short message");
            if ((b[2] & 0x80) == 0) throw new FormatException("not a response");
            int qd = (b[4] << 8) | b[5], rr = ((b[6] << 8) | b[7]) + ((b[8] << 8) | b[9]) + ((b[10] << 8) | b[11]);
            int off = 12, end;
            for (int i = 0; i < qd; i++)
            {
                Name(b, off, out end);
                off = end + 4;
            }
            var out_ = new List<Record>();
            for (int i = 0; i < rr && i < MaxRecords; i++)
            {
                var owner = Name(b, off, out end);
                off = end;
                if (off + 10 > b.Length) throw new FormatException("record runs past the end");
                int type = (b[off] << 8) | b[off + 1], len = (b[off + 8] << 8) | b[off + 9];
                off += 10;
                if (off + len > b.Length) throw new FormatException("rdata runs past the end");
                out_.Add(new Record { Owner = owner, Type = type, Off = off, Len = len });
                off += len;
            }
            return out_;
        }

        static string Key(List<byte[]> labels, int from = 0)
        {
            var sb = new StringBuilder();
            for (int i = from; i < labels.Count; i++)
            {
                foreach (var c in labels[i]) sb.Append((char)(c >= 'A' && c <= 'Z' ? c + 32 : c)); // the bytes, ASCII case folded
                sb.Append('\u0000');
            }
            return sb.ToString();
        }

        static string KeyOf(params string[] labels)
        {
            var l = new List<byte[]>();
            foreach (var s in labels) l.Add(Utf8.GetBytes(s));
            return Key(l);
        }

        internal static List<byte[]> TxtStrings(byte[] b, int off, int len)
        {
            var out_ = new List<byte[]>();
            for (int i = off; i < off + len; )
            {
                int n = Math.Min(b[i], off + len - i - 1);
                var s = new byte[n];
                Buffer.BlockCopy(b, i + 1, s, 0, n);
                out_.Add(s);
                i += 1 + n;
            }
            return out_;
        }

        static readonly System.Text.RegularExpressions.Regex GameRe = new System.Text.RegularExpressions.Regex(@"\A[a-z0-9][a-z0-9._-]{0,31}\z");

        /// <summary>The lobby a TXT record describes (PROTOCOL.md, "TXT record,
        /// version 1"), or null when it is not a valid one: keys without case,
        /// the first occurrence counts, unknown keys ignored.</summary>
        public static LanLobbyInfo LobbyFromTxt(List<byte[]> strings, string instance)
        {
            var kv = new Dictionary<string, string>();
            try
            {
                foreach (var s in strings)
                {
                    int eq = Array.IndexOf(s, (byte)'=');
                    if (eq <= 0) continue;
                    var k = Encoding.ASCII.GetString(s, 0, eq).ToLowerInvariant();
                    if (!kv.ContainsKey(k)) kv[k] = Utf8.GetString(s, eq + 1, s.Length - eq - 1);
                }
                string v, id, g, p, c, st, n;
                if (!kv.TryGetValue("v", out v) || v != "1" || !kv.TryGetValue("id", out id) || !kv.TryGetValue("g", out g) ||
                    !kv.TryGetValue("p", out p) || !kv.TryGetValue("c", out c) || !kv.TryGetValue("s", out st)) return null;
                if (!kv.TryGetValue("n", out n) || n == "") n = instance;
                g = g.ToLowerInvariant();
                int players, cap;
                if (!IsDigits(p) || !IsDigits(c) || !int.TryParse(p, out players) || !int.TryParse(c, out cap)) return null;
                if (cap < 2 || cap > 64 || players > cap || Array.IndexOf(new[] { "open", "full", "started", "closed" }, st) < 0 || !GameRe.IsMatch(g)) return null;
                Beacon.ValidId(id);
                Beacon.ValidText("name", n, 1, Beacon.MaxName);
                var info = new LanLobbyInfo { Id = id, Game = g, Name = n, Players = players, Capacity = cap, State = st, Source = "mdns" };
                info.SetAttrs(AttrsFromTxt(strings));
                return info;
            }
            catch (Exception) { return null; } // bad UTF-8, bad id or name
        }

        /// <summary>The lobby attributes of TXT strings (gv, ct, m.KEY, mp), as
        /// leniently as the beacon's: what breaks the rules is left out, and a
        /// metadata pair so lost makes the lobby partial.</summary>
        internal static BeaconLobby AttrsFromTxt(List<byte[]> strings)
        {
            var a = new BeaconLobby();
            bool seenV = false, seenC = false, seenT = false, partial = false;
            var pairs = new List<KeyValuePair<string, string>>();
            foreach (var s in strings)
            {
                int eq = Array.IndexOf(s, (byte)'=');
                if (eq < 0) continue;
                string k = Encoding.ASCII.GetString(s, 0, eq).ToLowerInvariant(), v;
                try { v = Utf8.GetString(s, eq + 1, s.Length - eq - 1); }
                catch (ArgumentException)
                {
                    if (k.StartsWith("m.")) partial = true;
                    continue;
                }
                if (k == "gv" && !seenV)
                {
                    seenV = true;
                    if (v != "" && Matchmaking.ValidVersion(v)) a.Version = v;
                }
                else if (k == "ct" && !seenC)
                {
                    seenC = true;
                    long ms;
                    if (v.Length <= 19 && IsAllDigits(v) && long.TryParse(v, System.Globalization.NumberStyles.None,
                            System.Globalization.CultureInfo.InvariantCulture, out ms) && ms > 0)
                        a.CreatedMs = ms;
                }
                else if (k == "tm" && !seenT)
                {
                    seenT = true;
                    uint term;
                    if (v.Length <= 10 && IsAllDigits(v) && uint.TryParse(v, System.Globalization.NumberStyles.None,
                            System.Globalization.CultureInfo.InvariantCulture, out term))
                        a.Term = term;
                }
                else if (k == "mp") partial = true;
                else if (k.StartsWith("m."))
                {
                    if (pairs.Count > Matchmaking.MaxFilterableKeys)
                    {
                        partial = true;
                        continue;
                    }
                    pairs.Add(new KeyValuePair<string, string>(k.Substring(2), v));
                }
            }
            int size = 0;
            foreach (var p in pairs)
            {
                int n = Utf8.GetByteCount(p.Key) + Utf8.GetByteCount(p.Value);
                if (!Beacon.ValidMetaPair(p.Key, p.Value) || a.Meta.Count == Matchmaking.MaxLanMetaKeys || size + n > Matchmaking.MaxLanMetaBytes ||
                    Beacon.HasKey(a.Meta, p.Key))
                {
                    partial = true;
                    continue;
                }
                a.Meta.Add(p);
                size += n;
            }
            a.Partial = partial;
            return a;
        }

        static bool IsAllDigits(string s)
        {
            if (s.Length == 0) return false;
            foreach (var ch in s) if (ch < '0' || ch > '9') return false;
            return true;
        }

        static bool IsDigits(string s)
        {
            if (s.Length == 0 || s.Length > 3) return false;
            foreach (var ch in s) if (ch < '0' || ch > '9') return false;
            return true;
        }

        static void Count(Dictionary<string, long> c, string k)
        {
            long v;
            c.TryGetValue(k, out v);
            c[k] = v + 1;
        }

        /// <summary>The lobbies the answers describe: each PTR answer for the
        /// service (or the game's subtype) resolved by its SRV, TXT and address
        /// records; Rtt from sent (the query's time, on the answers' clock).</summary>
        public static List<LanLobbyInfo> Assemble(List<Answer> answers, string game, LanKey key, long nowMs,
            Dictionary<string, long> counters, double sent = 0)
        {
            game = (game ?? "").ToLowerInvariant();
            string svc = KeyOf(Service), sub = game == "" ? null : KeyOf("_" + game, "_sub", "_lanlobby", "_tcp", "local");
            var instances = new Dictionary<string, string>();
            var from = new Dictionary<string, Answer>();
            var srv = new Dictionary<string, KeyValuePair<int, string>>();
            var txt = new Dictionary<string, List<byte[]>>();
            var addrs = new Dictionary<string, IPAddress>();
            foreach (var a in answers)
            {
                List<Record> records;
                try { records = Records(a.Data); }
                catch (FormatException) { Count(counters, "malformed"); continue; }
                foreach (var r in records)
                {
                    var k = Key(r.Owner);
                    int end;
                    try
                    {
                        if (r.Type == TPtr && (k == svc || k == sub) && instances.Count < MaxServices)
                        {
                            var target = Name(a.Data, r.Off, out end);
                            if (target.Count == 4 && Key(target, 1) == svc)
                            {
                                var tk = Key(target);
                                if (!instances.ContainsKey(tk))
                                {
                                    instances[tk] = Utf8.GetString(target[0]);
                                    from[tk] = a;
                                }
                            }
                        }
                        else if (r.Type == TSrv && r.Len >= 7 && srv.Count < MaxServices && !srv.ContainsKey(k))
                            srv[k] = new KeyValuePair<int, string>((a.Data[r.Off + 4] << 8) | a.Data[r.Off + 5], Key(Name(a.Data, r.Off + 6, out end)));
                        else if (r.Type == TTxt && txt.Count < MaxServices && !txt.ContainsKey(k))
                            txt[k] = TxtStrings(a.Data, r.Off, r.Len);
                        else if (r.Type == TA && r.Len == 4 && !addrs.ContainsKey(k))
                        {
                            var ip = new byte[4];
                            Buffer.BlockCopy(a.Data, r.Off, ip, 0, 4);
                            addrs[k] = new IPAddress(ip);
                        }
                    }
                    catch (Exception) { Count(counters, "malformed"); } // bad UTF-8 or names in a record
                }
            }
            var found = new Dictionary<string, LanLobbyInfo>();
            foreach (var kv in instances)
            {
                KeyValuePair<int, string> s;
                List<byte[]> t;
                if (!srv.TryGetValue(kv.Key, out s) || !txt.TryGetValue(kv.Key, out t)) continue;
                if (key != null)
                    try { Beacon.VerifyTxt(key, kv.Value, s.Key, t, nowMs, TxtWindow); }
                    catch (SignatureException e) { Count(counters, e.Kind); continue; }
                var l = LobbyFromTxt(t, kv.Value);
                if (l == null || s.Key < 1 || (game != "" && l.Game != game)) { Count(counters, "invalid"); continue; }
                var a = from[kv.Key];
                IPAddress host;
                l.Host = addrs.TryGetValue(s.Value, out host) ? host : a.From;
                l.Port = s.Key;
                l.Rtt = sent > 0 ? TimeSpan.FromTicks((long)(Math.Max(0, a.At - sent) * TimeSpan.TicksPerSecond)) : TimeSpan.Zero;
                LanLobbyInfo had;
                // Two hosts publishing one lobby: the higher term holds it.
                if (!found.TryGetValue(l.Id, out had) || l.Term > had.Term) found[l.Id] = l;
            }
            var out_ = new List<LanLobbyInfo>(found.Values);
            out_.Sort((x, y) => string.CompareOrdinal(x.Id, y.Id));
            return out_;
        }
    }
}
