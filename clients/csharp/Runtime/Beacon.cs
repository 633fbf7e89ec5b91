// The LAN beacon's packets (PROTOCOL.md, "LAN beacon"): decode, encode, sign
// and verify. Pure; the sockets are in LanBrowser.
using System;
using System.Collections.Generic;
using System.Text;

namespace LanLobby
{
    /// <summary>A packet that is not a valid version 1 beacon.</summary>
    public class BeaconException : FormatException
    {
        public BeaconException(string m) : base(m) { }
    }

    /// <summary>Other traffic on the port, or another version: ignored silently.</summary>
    public sealed class NotBeaconException : BeaconException
    {
        public NotBeaconException(string m) : base(m) { }
    }

    /// <summary>A signature check failed: Kind is unsigned, bad_signature or bad_timestamp.</summary>
    public sealed class SignatureException : BeaconException
    {
        public readonly string Kind;
        public SignatureException(string kind, string m) : base(m) { Kind = kind; }
    }

    public sealed class BeaconLobby
    {
        public string Id = "", Game = "", Name = "", State = "open";
        public int Players, Capacity, Port;
        // The lobby's attributes (PROTOCOL.md, "Lobby attributes"), in the
        // record's extension area: the game version, the creation time (ms
        // since 1970 UTC, 0 when not told), the filterable metadata pairs
        // carried, and whether the lobby has metadata they do not carry.
        public string Version = "";
        public long CreatedMs;
        public List<KeyValuePair<string, string>> Meta = new List<KeyValuePair<string, string>>();
        public bool Partial;
        /// <summary>How often the lobby changed coordinator (0: still on the one that made it).</summary>
        public uint Term;
    }

    public sealed class BeaconCoordinator
    {
        public string Id = "", Name = "";
        public int Port;
    }

    public sealed class BeaconPacket
    {
        public int Kind, Flags, Ttl;
        public uint Seq;
        public List<BeaconLobby> Lobbies = new List<BeaconLobby>();
        public string Game = "";
        public BeaconCoordinator Coordinator;
    }

    public static class Beacon
    {
        public const int DefaultPort = 7601;
        public const string GroupIPv4 = "239.255.76.1";
        public const string GroupIPv6 = "ff12::7601";
        public const int MaxPacket = 1200, MaxLobbiesPerPacket = 32, MaxId = 32, MaxGame = 32, MaxName = 63;
        public const int KindAnnounce = 1, KindGoodbye = 2, KindQuery = 3, KindCoordinator = 4;
        public const int FlagReply = 1;
        public const int HeaderLen = 14;
        public const int SignedOverhead = 2 + 8 + 2 + LanKey.MacSize;
        /// <summary>Attribute types of a lobby record's extension area.</summary>
        public const int AttrCreated = 1, AttrVersion = 2, AttrMeta = 3, AttrPartial = 4;
        /// <summary>The lobby's term, 4 bytes: how often it changed coordinator (a
        /// takeover, a move); of two hosts announcing one lobby, the higher term holds it.</summary>
        public const int AttrTerm = 5;
        /// <summary>How far a signed timestamp may be from this host's clock, either way.</summary>
        public static readonly TimeSpan DefaultReplayWindow = TimeSpan.FromSeconds(30);
        const int MinLobbyRecord = 1 + 2 + 2 + 2 + 3 + 2;
        static readonly string[] States = { "", "open", "full", "started", "closed" };
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        sealed class Reader
        {
            readonly byte[] b;
            public int Pos;
            readonly int end;
            public Reader(byte[] b, int off, int end) { this.b = b; Pos = off; this.end = end; }
            public int Rest { get { return end - Pos; } }
            public int U8() { if (Pos + 1 > end) throw new BeaconException("truncated packet"); return b[Pos++]; }
            public int U16() { int v = U8() << 8; return v | U8(); }
            public byte[] Bytes(int n)
            {
                if (Pos + n > end) throw new BeaconException("truncated packet");
                var o = new byte[n];
                Buffer.BlockCopy(b, Pos, o, 0, n);
                Pos += n;
                return o;
            }
            public Reader Sub(int n)
            {
                if (Pos + n > end) throw new BeaconException("truncated packet");
                var r = new Reader(b, Pos, Pos + n);
                Pos += n;
                return r;
            }
            public string Text()
            {
                int n = U8();
                if (Pos + n > end) throw new BeaconException("truncated packet");
                string s;
                try { s = Utf8.GetString(b, Pos, n); }
                catch (ArgumentException) { throw new BeaconException("invalid UTF-8"); }
                Pos += n;
                return s;
            }
        }

        /// <summary>Parses one packet; tail is where its packet-tail TLVs start.</summary>
        public static BeaconPacket Decode(byte[] b, int n, out int tail)
        {
            if (n < 4 || b[0] != 'L' || b[1] != 'L' || b[2] != 'O' || b[3] != 'B') throw new NotBeaconException("not a beacon packet");
            if (n < HeaderLen) throw new BeaconException(n + "-byte header");
            if (b[4] != 1) throw new NotBeaconException("beacon version " + b[4]);
            if (n > MaxPacket) throw new BeaconException(n + " bytes, limit " + MaxPacket);
            var p = new BeaconPacket
            {
                Kind = b[5], Flags = b[6], Seq = (uint)(b[8] << 24 | b[9] << 16 | b[10] << 8 | b[11]), Ttl = b[12] << 8 | b[13],
            };
            int count = b[7];
            var r = new Reader(b, HeaderLen, n);
            switch (p.Kind)
            {
                case KindAnnounce:
                case KindGoodbye:
                    if (count < 1 || count > MaxLobbiesPerPacket || count * MinLobbyRecord > r.Rest)
                        throw new BeaconException(count + " lobbies in " + r.Rest + " bytes");
                    for (int i = 0; i < count; i++)
                    {
                        var rec = r.Sub(r.U8());
                        var l = new BeaconLobby { Id = rec.Text(), Game = rec.Text(), Name = rec.Text() };
                        l.Players = rec.U8();
                        l.Capacity = rec.U8();
                        int st = rec.U8();
                        if (st < 1 || st > 4) throw new BeaconException("lobby " + l.Id + ": unknown state " + st);
                        l.State = States[st];
                        l.Port = rec.U16();
                        DecodeAttrs(rec.Bytes(rec.Rest), l);
                        p.Lobbies.Add(l);
                    }
                    break;
                case KindQuery:
                    if (count != 0) throw new BeaconException("query with " + count + " records");
                    p.Game = r.Text();
                    break;
                case KindCoordinator:
                    if (count != 1) throw new BeaconException("coordinator with " + count + " records");
                    var cr = r.Sub(r.U8());
                    p.Coordinator = new BeaconCoordinator { Id = cr.Text(), Name = cr.Text() };
                    p.Coordinator.Port = cr.U16();
                    break;
                default:
                    throw new BeaconException("unknown kind " + p.Kind);
            }
            tail = r.Pos;
            while (r.Rest > 0)
            {
                r.U8();
                r.Sub(r.U8());
            }
            Validate(p);
            return p;
        }

        /// <summary>Reads a lobby record's tail: its attributes. Lenient, as version
        /// 1 promised to skip the tail: an entry it cannot use is left out (a lost
        /// metadata pair makes the lobby Partial, so a filter does not take its
        /// absence for a fact), unknown types are skipped, and a broken tail, or a
        /// known entry after one of a higher type, ends the reading.</summary>
        internal static void DecodeAttrs(byte[] t, BeaconLobby l)
        {
            int i = 0, last = 0, size = 0;
            bool created = false, version = false, term = false;
            while (i < t.Length)
            {
                if (i + 2 > t.Length || i + 2 + t[i + 1] > t.Length) break;
                int typ = t[i], n = t[i + 1], v = i + 2;
                i = v + n;
                bool known = typ >= AttrCreated && typ <= AttrTerm;
                if (known && typ < last) break;
                if (known) last = typ;
                switch (typ)
                {
                    case AttrCreated:
                        if (n == 8 && !created)
                        {
                            long ms = 0;
                            for (int k = 0; k < 8; k++) ms = ms << 8 | t[v + k];
                            if (ms > 0)
                            {
                                l.CreatedMs = ms;
                                created = true;
                            }
                        }
                        break;
                    case AttrVersion:
                        if (n > 0 && !version)
                        {
                            var ver = Encoding.ASCII.GetString(t, v, n);
                            if (Matchmaking.ValidVersion(ver) && Utf8.GetByteCount(ver) == n)
                            {
                                l.Version = ver;
                                version = true;
                            }
                        }
                        break;
                    case AttrMeta:
                        string key, val;
                        if (!MetaEntry(t, v, n, out key, out val) || l.Meta.Count == Matchmaking.MaxLanMetaKeys ||
                            size + Utf8.GetByteCount(key) + Utf8.GetByteCount(val) > Matchmaking.MaxLanMetaBytes || HasKey(l.Meta, key))
                        {
                            l.Partial = true;
                            break;
                        }
                        l.Meta.Add(new KeyValuePair<string, string>(key, val));
                        size += Utf8.GetByteCount(key) + Utf8.GetByteCount(val);
                        break;
                    case AttrPartial:
                        l.Partial = true;
                        break;
                    case AttrTerm:
                        if (n == 4 && !term)
                        {
                            l.Term = (uint)(t[v] << 24 | t[v + 1] << 16 | t[v + 2] << 8 | t[v + 3]);
                            term = true;
                        }
                        break;
                }
            }
        }

        static bool MetaEntry(byte[] t, int off, int n, out string key, out string val)
        {
            key = val = "";
            if (n < 1 || t[off] > n - 1) return false;
            int kl = t[off];
            try
            {
                key = Utf8.GetString(t, off + 1, kl);
                val = Utf8.GetString(t, off + 1 + kl, n - 1 - kl);
            }
            catch (ArgumentException) { return false; }
            return ValidMetaPair(key, val);
        }

        /// <summary>A metadata pair the LAN may carry: a filterable key and a text value of at most 256 bytes.</summary>
        internal static bool ValidMetaPair(string key, string val)
        {
            if (!Matchmaking.ValidFilterableKey(key)) return false;
            try { ValidText("meta value", val, 0, 256); }
            catch (BeaconException) { return false; }
            return true;
        }

        internal static bool HasKey(List<KeyValuePair<string, string>> meta, string key)
        {
            foreach (var kv in meta)
                if (kv.Key == key) return true;
            return false;
        }

        static void EncodeAttrs(List<byte> rec, BeaconLobby l)
        {
            if (l.CreatedMs > 0)
            {
                rec.Add(AttrCreated);
                rec.Add(8);
                for (int s = 56; s >= 0; s -= 8) rec.Add((byte)(l.CreatedMs >> s));
            }
            if (l.Version != "")
            {
                var v = Encoding.ASCII.GetBytes(l.Version);
                rec.Add(AttrVersion);
                rec.Add((byte)v.Length);
                rec.AddRange(v);
            }
            foreach (var kv in l.Meta)
            {
                var k = Utf8.GetBytes(kv.Key);
                var v = Utf8.GetBytes(kv.Value);
                rec.Add(AttrMeta);
                rec.Add((byte)(1 + k.Length + v.Length));
                rec.Add((byte)k.Length);
                rec.AddRange(k);
                rec.AddRange(v);
            }
            if (l.Partial)
            {
                rec.Add(AttrPartial);
                rec.Add(0);
            }
            if (l.Term > 0)
            {
                rec.Add(AttrTerm);
                rec.Add(4);
                for (int s = 24; s >= 0; s -= 8) rec.Add((byte)(l.Term >> s));
            }
        }

        /// <summary>Every rule of a version 1 packet, for decode and encode alike.</summary>
        public static void Validate(BeaconPacket p)
        {
            switch (p.Kind)
            {
                case KindAnnounce:
                case KindGoodbye:
                    if (p.Lobbies.Count < 1 || p.Lobbies.Count > MaxLobbiesPerPacket) throw new BeaconException(p.Lobbies.Count + " lobbies");
                    if ((p.Kind == KindAnnounce) != (p.Ttl > 0)) throw new BeaconException("kind " + p.Kind + " with TTL " + p.Ttl);
                    foreach (var l in p.Lobbies)
                    {
                        ValidId(l.Id);
                        ValidText("game", l.Game, 1, MaxGame);
                        ValidText("name", l.Name, 1, MaxName);
                        if (l.Capacity < 2 || l.Capacity > 64 || l.Players < 0 || l.Players > l.Capacity)
                            throw new BeaconException("lobby " + l.Id + ": " + l.Players + "/" + l.Capacity + " players");
                        if (Array.IndexOf(States, l.State) < 1 || l.Port < 1 || l.Port > 65535)
                            throw new BeaconException("lobby " + l.Id + ": bad state or port");
                        if (!Matchmaking.ValidVersion(l.Version) || l.CreatedMs < 0 || l.Meta.Count > Matchmaking.MaxLanMetaKeys)
                            throw new BeaconException("lobby " + l.Id + ": bad attributes");
                        int size = 0;
                        foreach (var kv in l.Meta)
                        {
                            if (!ValidMetaPair(kv.Key, kv.Value)) throw new BeaconException("lobby " + l.Id + ": bad metadata pair " + kv.Key);
                            size += Utf8.GetByteCount(kv.Key) + Utf8.GetByteCount(kv.Value);
                        }
                        if (size > Matchmaking.MaxLanMetaBytes) throw new BeaconException("lobby " + l.Id + ": metadata over the LAN's room");
                    }
                    break;
                case KindQuery:
                    if (p.Ttl != 0) throw new BeaconException("query with TTL");
                    if (p.Game != "") ValidText("game filter", p.Game, 1, MaxGame);
                    break;
                case KindCoordinator:
                    if (p.Coordinator == null) throw new BeaconException("coordinator packet without record");
                    ValidId(p.Coordinator.Id);
                    ValidText("coordinator name", p.Coordinator.Name, 0, MaxName);
                    if (p.Coordinator.Port < 1 || p.Coordinator.Port > 65535) throw new BeaconException("coordinator port 0");
                    break;
                default:
                    throw new BeaconException("unknown kind " + p.Kind);
            }
        }

        internal static void ValidId(string s)
        {
            if (s.Length < 1 || s.Length > MaxId) throw new BeaconException("bad id length");
            foreach (char c in s)
                if (c <= ' ' || c > '~') throw new BeaconException("id not printable ASCII");
        }

        internal static void ValidText(string what, string s, int lo, int hi)
        {
            int n = Utf8.GetByteCount(s);
            if (n < lo || n > hi) throw new BeaconException(what + " length " + n);
            foreach (char c in s)
                if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029' || (c >= '\u202a' && c <= '\u202e') ||
                    (c >= '\u2066' && c <= '\u2069'))
                    throw new BeaconException(what + ": forbidden character");
        }

        static void Str(List<byte> o, string s)
        {
            var b = Utf8.GetBytes(s);
            o.Add((byte)b.Length);
            o.AddRange(b);
        }

        public static byte[] Encode(BeaconPacket p)
        {
            Validate(p);
            var o = new List<byte> { (byte)'L', (byte)'L', (byte)'O', (byte)'B', 1, (byte)p.Kind, (byte)p.Flags };
            o.Add((byte)(p.Kind == KindCoordinator ? 1 : p.Kind == KindQuery ? 0 : p.Lobbies.Count));
            o.Add((byte)(p.Seq >> 24)); o.Add((byte)(p.Seq >> 16)); o.Add((byte)(p.Seq >> 8)); o.Add((byte)p.Seq);
            o.Add((byte)(p.Ttl >> 8)); o.Add((byte)p.Ttl);
            if (p.Kind == KindQuery) Str(o, p.Game);
            else if (p.Kind == KindCoordinator)
            {
                var rec = new List<byte>();
                Str(rec, p.Coordinator.Id);
                Str(rec, p.Coordinator.Name);
                rec.Add((byte)(p.Coordinator.Port >> 8)); rec.Add((byte)p.Coordinator.Port);
                o.Add((byte)rec.Count);
                o.AddRange(rec);
            }
            else
                foreach (var l in p.Lobbies)
                {
                    var rec = new List<byte>();
                    Str(rec, l.Id); Str(rec, l.Game); Str(rec, l.Name);
                    rec.Add((byte)l.Players); rec.Add((byte)l.Capacity); rec.Add((byte)Array.IndexOf(States, l.State));
                    rec.Add((byte)(l.Port >> 8)); rec.Add((byte)l.Port);
                    EncodeAttrs(rec, l);
                    o.Add((byte)rec.Count);
                    o.AddRange(rec);
                }
            if (o.Count > MaxPacket) throw new BeaconException(o.Count + " bytes, limit " + MaxPacket);
            return o.ToArray();
        }

        /// <summary>Pads an encoded query with padding TLVs (type 4) to 1200 bytes, less the
        /// signature when it is to be signed: an answer is at most 3 times its query
        /// (PROTOCOL.md, "Answers"), so a full answer takes a full query.</summary>
        public static byte[] PadQuery(byte[] pkt, bool signed)
        {
            var o = new List<byte>(pkt);
            int n = MaxPacket - (signed ? SignedOverhead : 0) - o.Count;
            while (n >= 2)
            {
                int len = Math.Min(n - 2, 255);
                if (n - 2 - len == 1) len--; // leave room for a last TLV of at least 2 bytes
                o.Add(4); o.Add((byte)len);
                for (int i = 0; i < len; i++) o.Add(0);
                n -= 2 + len;
            }
            return o.ToArray();
        }

        /// <summary>Appends the timestamp and MAC TLVs to an encoded, unsigned packet.</summary>
        public static byte[] Sign(LanKey key, byte[] pkt, long unixMs)
        {
            if (pkt.Length + SignedOverhead > MaxPacket) throw new BeaconException("signed packet too long");
            var o = new byte[pkt.Length + SignedOverhead];
            Buffer.BlockCopy(pkt, 0, o, 0, pkt.Length);
            int i = pkt.Length;
            o[i++] = 1;
            o[i++] = 8;
            for (int s = 56; s >= 0; s -= 8) o[i++] = (byte)(unixMs >> s);
            var mac = key.Sign(LanKey.LabelBeacon, o, 0, i);
            o[i++] = 2;
            o[i++] = LanKey.MacSize;
            Buffer.BlockCopy(mac, 0, o, i, LanKey.MacSize);
            return o;
        }

        public static long UnixMs(DateTime utc) { return (long)(utc - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalMilliseconds; }

        /// <summary>Checks the signature of b (n bytes, TLVs from tail) under
        /// key at nowMs ± window; throws SignatureException.</summary>
        public static void Verify(LanKey key, byte[] b, int n, int tail, long nowMs, TimeSpan window)
        {
            int macs = 0, stamps = 0, last = -1, stampAt = -1, stampLen = 0;
            for (int i = tail; i + 2 <= n; i += 2 + b[i + 1])
            {
                last = i;
                if (b[i] == 2) macs++;
                else if (b[i] == 1)
                {
                    stamps++;
                    stampAt = i + 2;
                    stampLen = b[i + 1];
                }
            }
            if (macs == 0) throw new SignatureException("unsigned", "unsigned packet");
            if (b[last] != 2 || macs > 1) throw new SignatureException("bad_signature", "MAC not the only last TLV");
            if (!key.Verify(LanKey.LabelBeacon, b, 0, last, b, last + 2, n - last - 2))
                throw new SignatureException("bad_signature", "MAC does not match");
            if (stamps != 1 || stampLen != 8) throw new SignatureException("bad_signature", stamps + " timestamps");
            long signed = 0;
            for (int i = 0; i < 8; i++) signed = signed << 8 | b[stampAt + i];
            if (Math.Abs(nowMs - signed) > (long)window.TotalMilliseconds)
                throw new SignatureException("bad_timestamp", "signed " + (nowMs - signed) + " ms from here");
        }

        /// <summary>Checks a signed mDNS TXT record (PROTOCOL.md, "Signed TXT
        /// records"): its raw strings in order, the raw instance label and the SRV port.</summary>
        public static void VerifyTxt(LanKey key, string instance, int port, List<byte[]> strings, long nowMs, TimeSpan window)
        {
            byte[] h = null;
            int hs = 0;
            foreach (var s in strings)
                if (s.Length >= 2 && (s[0] | 0x20) == 'h' && s[1] == '=') { h = s; hs++; }
            if (hs == 0) throw new SignatureException("unsigned", "unsigned TXT record");
            if (hs > 1 || h.Length != 24) throw new SignatureException("bad_signature", "h twice or not 16 bytes");
            byte[] mac;
            try { mac = Convert.FromBase64String(Encoding.ASCII.GetString(h, 2, 22).Replace('-', '+').Replace('_', '/') + "=="); }
            catch (FormatException) { throw new SignatureException("bad_signature", "h not base64url"); }
            var msg = new List<byte>();
            var inst = Utf8.GetBytes(instance);
            msg.Add((byte)(inst.Length >> 8)); msg.Add((byte)inst.Length); msg.AddRange(inst);
            msg.Add((byte)(port >> 8)); msg.Add((byte)port);
            long t = -1;
            int ts = 0;
            foreach (var s in strings)
            {
                if (ReferenceEquals(s, h)) continue;
                msg.Add((byte)(s.Length >> 8)); msg.Add((byte)s.Length); msg.AddRange(s);
                if (s.Length >= 2 && (s[0] | 0x20) == 't' && s[1] == '=')
                {
                    ts++;
                    long v;
                    t = s.Length > 2 && long.TryParse(Encoding.ASCII.GetString(s, 2, s.Length - 2), System.Globalization.NumberStyles.None,
                        System.Globalization.CultureInfo.InvariantCulture, out v) ? v : -1;
                }
            }
            var m = msg.ToArray();
            if (!key.Verify(LanKey.LabelMdns, m, 0, m.Length, mac, 0, mac.Length)) throw new SignatureException("bad_signature", "MAC does not match");
            if (ts != 1 || t < 0) throw new SignatureException("bad_signature", "t missing or not decimal");
            if (Math.Abs(nowMs - t) > (long)window.TotalMilliseconds) throw new SignatureException("bad_timestamp", "TXT record outside the window");
        }
    }
}
