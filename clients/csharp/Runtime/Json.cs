// A small, strict JSON codec: what the coordinator protocol needs, with no
// dependency (Unity and Mono lack System.Text.Json) and nothing IL2CPP
// cannot compile (no reflection, no dynamic). Values are
// Dictionary<string, object>, List<object>, string, long (integers that fit),
// double (other numbers), bool and null.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace LanLobby
{
    /// <summary>Malformed JSON.</summary>
    public sealed class JsonException : FormatException
    {
        public JsonException(string message) : base(message) { }
    }

    public static class Json
    {
        /// <summary>Deepest nesting accepted: bounds the parser's stack.</summary>
        public const int MaxDepth = 64;

        /// <summary>Parses one JSON value that fills s (whitespace aside).</summary>
        public static object Parse(string s)
        {
            var p = new Parser(s);
            p.Ws();
            object v = p.Value(0);
            p.Ws();
            if (p.Pos != s.Length) throw p.Fail("trailing characters");
            return v;
        }

        /// <summary>Parses a JSON object; anything else is an error.</summary>
        public static Dictionary<string, object> ParseObject(string s)
        {
            var d = Parse(s) as Dictionary<string, object>;
            if (d == null) throw new JsonException("not a JSON object");
            return d;
        }

        public static string Serialize(object v)
        {
            var sb = new StringBuilder();
            Write(sb, v);
            return sb.ToString();
        }

        public static void Write(StringBuilder sb, object v)
        {
            if (v == null) { sb.Append("null"); return; }
            var s = v as string;
            if (s != null) { WriteString(sb, s); return; }
            if (v is bool) { sb.Append((bool)v ? "true" : "false"); return; }
            if (v is int) { sb.Append(((int)v).ToString(CultureInfo.InvariantCulture)); return; }
            if (v is long) { sb.Append(((long)v).ToString(CultureInfo.InvariantCulture)); return; }
            if (v is double)
            {
                double d = (double)v;
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new JsonException("NaN or infinity");
                sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
                return;
            }
            var ds = v as IDictionary<string, string>;
            if (ds != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (var kv in ds)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, kv.Key);
                    sb.Append(':');
                    WriteString(sb, kv.Value);
                }
                sb.Append('}');
                return;
            }
            var d2 = v as IDictionary<string, object>;
            if (d2 != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (var kv in d2)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, kv.Key);
                    sb.Append(':');
                    Write(sb, kv.Value);
                }
                sb.Append('}');
                return;
            }
            var list = v as System.Collections.IEnumerable;
            if (list != null)
            {
                sb.Append('[');
                bool first = true;
                foreach (var x in list)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    Write(sb, x);
                }
                sb.Append(']');
                return;
            }
            throw new JsonException("cannot encode " + v.GetType().Name);
        }

        static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20 || c == '\u2028' || c == '\u2029')
                            sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else
                            sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        sealed class Parser
        {
            readonly string s;
            public int Pos;

            public Parser(string s) { this.s = s; }

            public JsonException Fail(string why) { return new JsonException("JSON: " + why + " at offset " + Pos); }

            public void Ws()
            {
                while (Pos < s.Length && (s[Pos] == ' ' || s[Pos] == '\t' || s[Pos] == '\n' || s[Pos] == '\r')) Pos++;
            }

            public object Value(int depth)
            {
                if (depth > MaxDepth) throw Fail("nested too deep");
                if (Pos >= s.Length) throw Fail("unexpected end");
                char c = s[Pos];
                switch (c)
                {
                    case '{': return Obj(depth);
                    case '[': return Arr(depth);
                    case '"': return Str();
                    case 't': Lit("true"); return true;
                    case 'f': Lit("false"); return false;
                    case 'n': Lit("null"); return null;
                }
                if (c == '-' || (c >= '0' && c <= '9')) return Num();
                throw Fail("unexpected character '" + c + "'");
            }

            void Lit(string w)
            {
                if (string.CompareOrdinal(s, Pos, w, 0, w.Length) != 0) throw Fail("bad literal");
                Pos += w.Length;
            }

            Dictionary<string, object> Obj(int depth)
            {
                var d = new Dictionary<string, object>();
                Pos++;
                Ws();
                if (Pos < s.Length && s[Pos] == '}') { Pos++; return d; }
                while (true)
                {
                    Ws();
                    if (Pos >= s.Length || s[Pos] != '"') throw Fail("expected a key");
                    string k = Str();
                    Ws();
                    if (Pos >= s.Length || s[Pos] != ':') throw Fail("expected ':'");
                    Pos++;
                    Ws();
                    d[k] = Value(depth + 1); // the last of duplicate keys wins, as in Go
                    Ws();
                    if (Pos >= s.Length) throw Fail("unexpected end");
                    if (s[Pos] == ',') { Pos++; continue; }
                    if (s[Pos] == '}') { Pos++; return d; }
                    throw Fail("expected ',' or '}'");
                }
            }

            List<object> Arr(int depth)
            {
                var l = new List<object>();
                Pos++;
                Ws();
                if (Pos < s.Length && s[Pos] == ']') { Pos++; return l; }
                while (true)
                {
                    Ws();
                    l.Add(Value(depth + 1));
                    Ws();
                    if (Pos >= s.Length) throw Fail("unexpected end");
                    if (s[Pos] == ',') { Pos++; continue; }
                    if (s[Pos] == ']') { Pos++; return l; }
                    throw Fail("expected ',' or ']'");
                }
            }

            string Str()
            {
                Pos++;
                StringBuilder sb = null;
                int start = Pos;
                while (true)
                {
                    if (Pos >= s.Length) throw Fail("unterminated string");
                    char c = s[Pos];
                    if (c == '"')
                    {
                        string tail = s.Substring(start, Pos - start);
                        Pos++;
                        return sb == null ? tail : sb.Append(tail).ToString();
                    }
                    if (c < 0x20) throw Fail("control character in string");
                    if (c != '\\') { Pos++; continue; }
                    if (sb == null) sb = new StringBuilder();
                    sb.Append(s, start, Pos - start);
                    Pos++;
                    if (Pos >= s.Length) throw Fail("unterminated escape");
                    char e = s[Pos++];
                    switch (e)
                    {
                        case '"': sb.Append('"'); break;
                        case '\\': sb.Append('\\'); break;
                        case '/': sb.Append('/'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'u':
                            if (Pos + 4 > s.Length) throw Fail("short \\u escape");
                            int v = 0;
                            for (int i = 0; i < 4; i++)
                            {
                                int h = Hex(s[Pos + i]);
                                if (h < 0) throw Fail("bad \\u escape");
                                v = v * 16 + h;
                            }
                            Pos += 4;
                            sb.Append((char)v);
                            break;
                        default: throw Fail("bad escape");
                    }
                    start = Pos;
                }
            }

            static int Hex(char c)
            {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            }

            object Num()
            {
                int start = Pos;
                if (s[Pos] == '-') Pos++;
                if (Pos >= s.Length) throw Fail("bad number");
                if (s[Pos] == '0') Pos++;
                else if (s[Pos] >= '1' && s[Pos] <= '9') while (Pos < s.Length && char.IsDigit(s[Pos]) && s[Pos] < 128) Pos++;
                else throw Fail("bad number");
                bool integral = true;
                if (Pos < s.Length && s[Pos] == '.')
                {
                    integral = false;
                    Pos++;
                    int d = Pos;
                    while (Pos < s.Length && s[Pos] >= '0' && s[Pos] <= '9') Pos++;
                    if (Pos == d) throw Fail("bad fraction");
                }
                if (Pos < s.Length && (s[Pos] == 'e' || s[Pos] == 'E'))
                {
                    integral = false;
                    Pos++;
                    if (Pos < s.Length && (s[Pos] == '+' || s[Pos] == '-')) Pos++;
                    int d = Pos;
                    while (Pos < s.Length && s[Pos] >= '0' && s[Pos] <= '9') Pos++;
                    if (Pos == d) throw Fail("bad exponent");
                }
                string t = s.Substring(start, Pos - start);
                long l;
                if (integral && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
                return double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>Typed reads from decoded JSON objects: a field of the wrong
    /// type reads as absent.</summary>
    internal static class J
    {
        public static string Str(Dictionary<string, object> d, string k)
        {
            object v;
            return d != null && d.TryGetValue(k, out v) ? v as string ?? "" : "";
        }

        public static long Int(Dictionary<string, object> d, string k)
        {
            object v;
            if (d == null || !d.TryGetValue(k, out v)) return 0;
            return v is long ? (long)v : 0;
        }

        public static bool Bool(Dictionary<string, object> d, string k)
        {
            object v;
            return d != null && d.TryGetValue(k, out v) && v is bool && (bool)v;
        }

        public static Dictionary<string, object> Obj(Dictionary<string, object> d, string k)
        {
            object v;
            return d != null && d.TryGetValue(k, out v) ? v as Dictionary<string, object> : null;
        }

        public static List<object> Arr(Dictionary<string, object> d, string k)
        {
            object v;
            return d != null && d.TryGetValue(k, out v) ? v as List<object> : null;
        }

        public static bool Has(Dictionary<string, object> d, string k) { return d != null && d.ContainsKey(k); }
    }
}
