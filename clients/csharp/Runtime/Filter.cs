// Matchmaking (PROTOCOL.md, "Filters", "Parties and reserved seats",
// "Bans"): which lobbies a filter admits and the quick-join order, the same
// rule the coordinator and the Go package apply (lobby.Filter.Match,
// lobby.CompareCandidates), so that a LAN quick-join and a daemon agree; the
// player key; reservations.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace LanLobby
{
    /// <summary>How a filter's game version compares with a lobby's.</summary>
    public static class VersionRule
    {
        /// <summary>Byte for byte (the default, also "").</summary>
        public const string Exact = "exact";
        /// <summary>The same major and minor: "1.4", "1.4.7", "1.04.2-rc1" and
        /// "1.4+linux" are compatible; "1.5" and "2.4" are not.</summary>
        public const string Compatible = "compatible";
    }

    /// <summary>A numeric range on a metadata key, bounds included; a null
    /// bound is open.</summary>
    public sealed class Range
    {
        public string Key = "";
        public double? Min, Max;

        public static Range AtLeast(string key, double min) { return new Range { Key = key, Min = min }; }
        public static Range AtMost(string key, double max) { return new Range { Key = key, Max = max }; }
        public static Range Between(string key, double min, double max) { return new Range { Key = key, Min = min, Max = max }; }
    }

    /// <summary>What a filter says of one lobby.</summary>
    public enum Verdict
    {
        /// <summary>The lobby fails the filter.</summary>
        NoMatch,
        /// <summary>The lobby passes.</summary>
        Matches,
        /// <summary>It passes every part the LAN could tell, but a key the
        /// filter needs was not carried (the lobby has more metadata than its
        /// announcement): its coordinator decides (filter_mismatch).</summary>
        MaybeMatch,
    }

    /// <summary>What matchmaking reads of a lobby: from a coordinator's state
    /// block, or from a LAN announcement (which may carry only part of the
    /// metadata: Partial).</summary>
    public sealed class Candidate
    {
        public string Id = "", Game = "", Version = "";
        /// <summary>It takes joins now (open, not full).</summary>
        public bool Open;
        /// <summary>Seats neither taken nor reserved.</summary>
        public int Free;
        /// <summary>Milliseconds since 1970 UTC; 0 when unknown (sorts last).</summary>
        public long CreatedMs;
        public Dictionary<string, string> Meta = new Dictionary<string, string>();
        /// <summary>Meta holds only part of the lobby's metadata.</summary>
        public bool Partial;
    }

    /// <summary>
    /// Selects lobbies by what they carry beyond their game; every part given
    /// must hold, and an empty filter admits every lobby. Lists, quick-joins
    /// and subscriptions take one, at a coordinator and on the LAN.
    /// <code>new Filter { Version = "1.4", VersionRule = VersionRule.Compatible,
    ///   Meta = { { "map", "dunes" } }, Ranges = { Range.AtLeast("level", 10) }, Free = 2 }</code>
    /// </summary>
    public sealed class Filter
    {
        public const int MaxTerms = 8, MaxRanges = 4, MaxBytes = 512, MaxKeyLen = 32, MaxValueLen = 256, MaxVersionLen = 16;

        /// <summary>Admits lobbies of this game version ("" for any); a lobby
        /// without a version passes no versioned filter.</summary>
        public string Version = "";
        /// <summary>VersionRule.Exact (default) or VersionRule.Compatible.</summary>
        public string VersionRule = "";
        /// <summary>Admits lobbies whose metadata has each key with exactly this value.</summary>
        public Dictionary<string, string> Meta = new Dictionary<string, string>();
        /// <summary>Admits lobbies whose value of each key is a number in the range.</summary>
        public List<Range> Ranges = new List<Range>();
        /// <summary>Admits open lobbies with at least this many free seats (0:
        /// full and started ones pass too, as a lobby browser shows them).</summary>
        public int Free;

        public bool IsZero
        {
            get
            {
                return string.IsNullOrEmpty(Version) && string.IsNullOrEmpty(VersionRule) && (Meta == null || Meta.Count == 0) &&
                       (Ranges == null || Ranges.Count == 0) && Free == 0;
            }
        }

        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);

        /// <summary>Checks the filter against the protocol's limits; throws
        /// CoordinatorException invalid_filter (what the coordinator would answer).</summary>
        public void Validate()
        {
            if (!Matchmaking.ValidVersion(Version ?? "")) Bad("version \"" + Version + "\": 1-16 letters, digits and . _ + -");
            if (!string.IsNullOrEmpty(VersionRule) && VersionRule != LanLobby.VersionRule.Exact && VersionRule != LanLobby.VersionRule.Compatible)
                Bad("version rule \"" + VersionRule + "\": exact or compatible");
            int terms = Meta == null ? 0 : Meta.Count, ranges = Ranges == null ? 0 : Ranges.Count;
            if (terms > MaxTerms) Bad(terms + " terms, the limit is " + MaxTerms);
            if (ranges > MaxRanges) Bad(ranges + " ranges, the limit is " + MaxRanges);
            int total = 0;
            if (Meta != null)
                foreach (var kv in Meta)
                {
                    int k = Utf8.GetByteCount(kv.Key ?? ""), v = Utf8.GetByteCount(kv.Value ?? "");
                    if (k < 1 || k > MaxKeyLen || v > MaxValueLen) Bad("term " + kv.Key + ": key 1-32 bytes, value at most 256");
                    total += k + v;
                }
            if (Ranges != null)
                foreach (var r in Ranges)
                {
                    int k = Utf8.GetByteCount(r.Key ?? "");
                    if (k < 1 || k > MaxKeyLen) Bad("range key \"" + r.Key + "\": 1-32 bytes");
                    if ((r.Min.HasValue && double.IsNaN(r.Min.Value)) || (r.Max.HasValue && double.IsNaN(r.Max.Value)) ||
                        (r.Min.HasValue && r.Max.HasValue && r.Min.Value > r.Max.Value))
                        Bad("range of " + r.Key + ": min above max");
                    total += k;
                }
            if (total > MaxBytes) Bad("filter is " + total + " bytes, the limit is " + MaxBytes);
            if (Free < 0 || Free > 64) Bad("free seats " + Free + " outside 0..64");
        }

        static void Bad(string why) { throw new CoordinatorException(ErrorCode.InvalidFilter, why); }

        /// <summary>The filter as the protocol's JSON object, or null when it admits everything.</summary>
        internal Dictionary<string, object> ToWire()
        {
            if (IsZero) return null;
            var w = new Dictionary<string, object>();
            if (!string.IsNullOrEmpty(Version)) w["version"] = Version;
            if (!string.IsNullOrEmpty(VersionRule)) w["version_rule"] = VersionRule;
            if (Meta != null && Meta.Count > 0) w["meta"] = new Dictionary<string, string>(Meta);
            if (Ranges != null && Ranges.Count > 0)
            {
                var rs = new List<object>();
                foreach (var r in Ranges)
                {
                    var d = new Dictionary<string, object> { { "key", r.Key } };
                    if (r.Min.HasValue && !double.IsNegativeInfinity(r.Min.Value)) d["min"] = r.Min.Value;
                    if (r.Max.HasValue && !double.IsPositiveInfinity(r.Max.Value)) d["max"] = r.Max.Value;
                    rs.Add(d);
                }
                w["ranges"] = rs;
            }
            if (Free > 0) w["free"] = (long)Free;
            return w;
        }

        /// <summary>The filter a wire object describes (unknown fields ignored).</summary>
        public static Filter FromWire(Dictionary<string, object> w)
        {
            var f = new Filter();
            if (w == null) return f;
            f.Version = J.Str(w, "version");
            f.VersionRule = J.Str(w, "version_rule");
            var m = J.Obj(w, "meta");
            if (m != null)
                foreach (var kv in m)
                    if (kv.Value is string) f.Meta[kv.Key] = (string)kv.Value;
            var rs = J.Arr(w, "ranges");
            if (rs != null)
                foreach (var x in rs)
                {
                    var d = x as Dictionary<string, object>;
                    if (d == null) continue;
                    var r = new Range { Key = J.Str(d, "key") };
                    object v;
                    if (d.TryGetValue("min", out v) && (v is long || v is double)) r.Min = Convert.ToDouble(v, CultureInfo.InvariantCulture);
                    if (d.TryGetValue("max", out v) && (v is long || v is double)) r.Max = Convert.ToDouble(v, CultureInfo.InvariantCulture);
                    f.Ranges.Add(r);
                }
            f.Free = (int)J.Int(w, "free");
            return f;
        }

        /// <summary>Whether c passes the filter (PROTOCOL.md, "Filters"): a
        /// term on a key a partial LAN announcement does not carry is
        /// undecided (MaybeMatch) rather than failed.</summary>
        public Verdict Match(Candidate c)
        {
            if (Free > 0 && (!c.Open || c.Free < Free)) return Verdict.NoMatch;
            if (!string.IsNullOrEmpty(Version) && !Matchmaking.VersionMatches(Version, c.Version ?? "", VersionRule)) return Verdict.NoMatch;
            var v = Verdict.Matches;
            var meta = c.Meta ?? new Dictionary<string, string>();
            if (Meta != null)
                foreach (var kv in Meta)
                {
                    string got;
                    if (!meta.TryGetValue(kv.Key, out got))
                    {
                        if (!c.Partial) return Verdict.NoMatch;
                        v = Verdict.MaybeMatch;
                    }
                    else if (got != kv.Value) return Verdict.NoMatch;
                }
            if (Ranges != null)
                foreach (var r in Ranges)
                {
                    string got;
                    if (!meta.TryGetValue(r.Key, out got))
                    {
                        if (!c.Partial) return Verdict.NoMatch;
                        v = Verdict.MaybeMatch;
                        continue;
                    }
                    double n;
                    if (!Matchmaking.ParseNumber(got, out n)) return Verdict.NoMatch;
                    if ((r.Min.HasValue && n < r.Min.Value) || (r.Max.HasValue && n > r.Max.Value)) return Verdict.NoMatch;
                }
            return v;
        }
    }

    /// <summary>The rules behind Filter and the quick-join order.</summary>
    public static class Matchmaking
    {
        /// <summary>Seats one join or quick-join takes at most (the player's and its party's).</summary>
        public const int MaxPartySeats = 8;
        /// <summary>Filterable keys a host marks at most; the LAN carries 4 pairs, 72 bytes of them.</summary>
        public const int MaxFilterableKeys = 8, MaxLanMetaKeys = 4, MaxLanMetaBytes = 72;

        /// <summary>Whether a lobby's version have passes a filter's version want under rule.</summary>
        public static bool VersionMatches(string want, string have, string rule)
        {
            if (rule != VersionRule.Compatible) return want == have;
            if (string.IsNullOrEmpty(have)) return false;
            string wMaj, wMin, hMaj, hMin;
            MajorMinor(want, out wMaj, out wMin);
            MajorMinor(have, out hMaj, out hMin);
            return SameComponent(wMaj, hMaj) && SameComponent(wMin, hMin);
        }

        static void MajorMinor(string v, out string major, out string minor)
        {
            int plus = v.IndexOf('+');
            if (plus >= 0) v = v.Substring(0, plus);
            var parts = v.Split(new[] { '.' }, 3);
            major = parts[0];
            minor = parts.Length > 1 ? parts[1] : "";
        }

        static bool SameComponent(string a, string b)
        {
            ulong an, bn;
            if (ComponentNumber(a, out an) && ComponentNumber(b, out bn)) return an == bn;
            return a == b;
        }

        static bool ComponentNumber(string s, out ulong n)
        {
            n = 0;
            if (s == "") return true;
            foreach (char ch in s)
                if (ch < '0' || ch > '9') return false;
            return ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out n);
        }

        /// <summary>A metadata value as a finite decimal number (surrounding spaces allowed).</summary>
        public static bool ParseNumber(string s, out double n)
        {
            n = 0;
            s = (s ?? "").Trim();
            int i = 0;
            if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
            int digits = 0;
            while (i < s.Length && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
            if (i < s.Length && s[i] == '.')
            {
                i++;
                while (i < s.Length && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
            }
            if (digits == 0) return false;
            if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
            {
                i++;
                if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
                int ed = 0;
                while (i < s.Length && s[i] >= '0' && s[i] <= '9') { i++; ed++; }
                if (ed == 0) return false;
            }
            if (i != s.Length) return false;
            return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out n) && !double.IsInfinity(n) && !double.IsNaN(n);
        }

        /// <summary>The quick-join order: fewest free seats first (the lobby
        /// closest to starting), then the oldest (an unknown creation time
        /// last), then by id; -1 when a comes first. Every player, the LAN and
        /// a daemon try lobbies in this order.</summary>
        public static int CompareCandidates(Candidate a, Candidate b)
        {
            int c = a.Free.CompareTo(b.Free);
            if (c != 0) return c;
            bool az = a.CreatedMs <= 0, bz = b.CreatedMs <= 0;
            if (az != bz) return az ? 1 : -1;
            if (!az && a.CreatedMs != b.CreatedMs) return a.CreatedMs.CompareTo(b.CreatedMs);
            return string.CompareOrdinal(a.Id, b.Id);
        }

        internal static bool ValidVersion(string v)
        {
            if (v.Length > Filter.MaxVersionLen) return false;
            foreach (char ch in v)
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '+' || ch == '-'))
                    return false;
            return true;
        }

        /// <summary>A key a host may mark filterable: 1-32 of a-z 0-9 - _ ., starting with a letter or digit.</summary>
        public static bool ValidFilterableKey(string k)
        {
            if (string.IsNullOrEmpty(k) || k.Length > 32) return false;
            for (int i = 0; i < k.Length; i++)
            {
                char ch = k[i];
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
                if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.'))) return false;
            }
            return true;
        }
    }

    /// <summary>
    /// The player key (PROTOCOL.md, "Bans"): sent in hello so that an owner's
    /// ban and a party leader's named seats know the player again when it
    /// comes back. A courtesy on a LAN, not authentication: a client that
    /// makes up a new key is a new player. ClientOptions.PlayerKey defaults to
    /// Process (one key for every client of this process, as the Go package
    /// does); a game that wants the key to survive a restart keeps one with its
    /// settings (Unity: PlayerPrefs) or uses Stored().
    /// </summary>
    public static class PlayerKey
    {
        public const int MaxLen = 64;
        static readonly object mu = new object();
        static string process;

        /// <summary>A new random key: 128 bits as 32 hex digits.</summary>
        public static string New()
        {
            var b = new byte[16];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(b);
            var sb = new StringBuilder(32);
            foreach (var x in b) sb.Append(x.ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        /// <summary>This process's key, made once.</summary>
        public static string Process
        {
            get
            {
                lock (mu)
                {
                    if (process == null) process = New();
                    return process;
                }
            }
        }

        /// <summary>1-64 bytes of printable ASCII without space.</summary>
        public static bool Valid(string k)
        {
            if (string.IsNullOrEmpty(k) || k.Length > MaxLen) return false;
            foreach (char ch in k)
                if (ch <= ' ' || ch > '~') return false;
            return true;
        }

        /// <summary>The key kept in a file (default: lanlobby/player-key in the
        /// user's configuration directory, mode 0600), made and written the
        /// first time; the process key when the file can be neither read nor
        /// written (a sandbox without a home).</summary>
        public static string Stored(string path = null)
        {
            try
            {
                if (path == null)
                {
                    string dir = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData);
                    if (string.IsNullOrEmpty(dir)) return Process;
                    path = Path.Combine(Path.Combine(dir, "lanlobby"), "player-key");
                }
                if (File.Exists(path))
                {
                    var k = File.ReadAllText(path).Trim();
                    if (Valid(k)) return k;
                }
                var key = New();
                Directory.CreateDirectory(Path.GetDirectoryName(path));
                var tmp = path + ".tmp" + System.Diagnostics.Process.GetCurrentProcess().Id;
                using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write)) { }
                LanKey.RestrictToOwner(tmp);
                File.WriteAllText(tmp, key + "\n");
                if (File.Exists(path)) File.Delete(path);
                File.Move(tmp, path);
                return key;
            }
            catch (Exception) { return Process; }
        }
    }

    /// <summary>Seats held in a lobby for players yet to come: a party's (a
    /// join with Seats > 1) or an owner's invited players (ReserveAsync).
    /// Hand Token and Lobby to the party: each member joins with
    /// JoinOptions.Reservation = Token within the window.</summary>
    public sealed class Reservation
    {
        public string Id = "", Token = "", Lobby = "";
        /// <summary>Seats still unclaimed.</summary>
        public int Seats;
        /// <summary>Player keys the seats are held for (named seats).</summary>
        public List<string> Party = new List<string>();
        /// <summary>How long the seats were held for when the reply came.</summary>
        public long ExpiresInMs;

        internal static Reservation From(Dictionary<string, object> d)
        {
            if (d == null) return null;
            var r = new Reservation { Id = J.Str(d, "id"), Token = J.Str(d, "token"), Lobby = J.Str(d, "lobby"), Seats = (int)J.Int(d, "seats"),
                ExpiresInMs = J.Int(d, "expires_in_ms") };
            var p = J.Arr(d, "party");
            if (p != null)
                foreach (var x in p)
                    if (x is string) r.Party.Add((string)x);
            return r;
        }
    }
}
