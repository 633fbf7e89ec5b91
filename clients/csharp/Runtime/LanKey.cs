// The LAN key (PROTOCOL.md, "Signed beacons"): a passphrase stretched once with
// PBKDF2-HMAC-SHA256 (600,000 iterations, the KDF every lanlobby client
// shares), then one subkey per use (HKDF-Expand).
//
// Speed: .NET's Rfc2898DeriveBytes, or an HMACSHA256 object per iteration,
// spends most of its time re-hashing the HMAC pads and allocating. Here the
// pads' SHA-256 states are computed once, so each iteration is exactly two
// SHA-256 block compressions on fixed-size words, with no allocation. Derived
// keys are cached per passphrase in memory, and on disk when asked
// (DiskCache: the user's cache directory, owner-only file).
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace LanLobby
{
    public sealed class LanKey
    {
        public const string KdfSalt = "lanlobby LAN key v1";
        public const int KdfIterations = 600000;
        public const int MacSize = 16;
        public const string LabelBeacon = "lanlobby beacon v1";
        public const string LabelMdns = "lanlobby mdns v1";

        static readonly Dictionary<string, byte[]> cache = new Dictionary<string, byte[]>();
        static readonly object cacheMu = new object();

        readonly byte[] master;
        readonly Dictionary<string, byte[]> subkeys = new Dictionary<string, byte[]>();

        LanKey(byte[] master) { this.master = master; }

        /// <summary>Wraps an already derived 32-byte master key.</summary>
        public static LanKey FromMaster(byte[] master)
        {
            if (master == null || master.Length != 32) throw new ArgumentException("LAN key master must be 32 bytes");
            return new LanKey((byte[])master.Clone());
        }

        /// <summary>Derives the key of a passphrase (non-empty UTF-8). Cached in
        /// memory per passphrase; with diskCache also in the user's cache
        /// directory (the file holds the derived key, which signs as well as
        /// the passphrase: opt-in).</summary>
        public static LanKey Derive(string passphrase, bool diskCache = false)
        {
            if (string.IsNullOrEmpty(passphrase)) throw new ArgumentException("empty LAN key passphrase");
            byte[] m;
            lock (cacheMu)
                if (cache.TryGetValue(passphrase, out m)) return new LanKey(m);
            byte[] pw = Encoding.UTF8.GetBytes(passphrase);
            m = diskCache ? DiskCache.Read(pw) : null;
            if (m == null)
            {
                m = Pbkdf2Sha256(pw, Encoding.UTF8.GetBytes(KdfSalt), KdfIterations);
                if (diskCache) DiskCache.Write(pw, m);
            }
            lock (cacheMu) cache[passphrase] = m;
            return new LanKey(m);
        }

        /// <summary>Forgets the in-memory cache (tests).</summary>
        public static void ClearCache() { lock (cacheMu) cache.Clear(); }

        public byte[] Master { get { return (byte[])master.Clone(); } }

        /// <summary>HKDF-Expand-SHA256(master, label, 32) = HMAC(master, label || 0x01).</summary>
        public byte[] Subkey(string label)
        {
            lock (subkeys)
            {
                byte[] k;
                if (subkeys.TryGetValue(label, out k)) return k;
                var info = Encoding.UTF8.GetBytes(label + "\u0001");
                using (var h = new HMACSHA256(master)) k = h.ComputeHash(info);
                subkeys[label] = k;
                return k;
            }
        }

        /// <summary>The 16-byte MAC of msg under label.</summary>
        public byte[] Sign(string label, byte[] msg, int offset, int count)
        {
            using (var h = new HMACSHA256(Subkey(label)))
            {
                var full = h.ComputeHash(msg, offset, count);
                var mac = new byte[MacSize];
                Buffer.BlockCopy(full, 0, mac, 0, MacSize);
                return mac;
            }
        }

        /// <summary>Whether mac is Sign(label, msg), in constant time.</summary>
        public bool Verify(string label, byte[] msg, int offset, int count, byte[] mac, int macOffset, int macCount)
        {
            if (macCount != MacSize) return false;
            var want = Sign(label, msg, offset, count);
            int diff = 0;
            for (int i = 0; i < MacSize; i++) diff |= want[i] ^ mac[macOffset + i];
            return diff == 0;
        }

        public override string ToString() { return "LanKey(set)"; }

        // ---- PBKDF2-HMAC-SHA256 with precomputed pads -----------------------

        /// <summary>PBKDF2-HMAC-SHA256 for one 32-byte block (RFC 8018) with
        /// salts up to 55 bytes.</summary>
        public static byte[] Pbkdf2Sha256(byte[] password, byte[] salt, int iterations)
        {
            if (salt.Length > 55) throw new ArgumentException("salt too long for this PBKDF2");
            byte[] key = password;
            if (key.Length > 64) using (var sha = SHA256.Create()) key = sha.ComputeHash(key);
            var ipad = new byte[64];
            var opad = new byte[64];
            for (int i = 0; i < 64; i++)
            {
                byte k = i < key.Length ? key[i] : (byte)0;
                ipad[i] = (byte)(k ^ 0x36);
                opad[i] = (byte)(k ^ 0x5c);
            }
            var w = new uint[64];
            var inner = (uint[])IV.Clone();
            var outer = (uint[])IV.Clone();
            Load(ipad, 0, w);
            Compress(inner, w);
            Load(opad, 0, w);
            Compress(outer, w);

            // U1 = HMAC(P, salt || INT(1)): one padded block after the ipad block.
            var blk = new byte[64];
            Buffer.BlockCopy(salt, 0, blk, 0, salt.Length);
            blk[salt.Length + 3] = 1;
            blk[salt.Length + 4] = 0x80;
            ulong bits = (ulong)(64 + salt.Length + 4) * 8;
            for (int i = 0; i < 8; i++) blk[63 - i] = (byte)(bits >> (8 * i));
            var st = (uint[])inner.Clone();
            Load(blk, 0, w);
            Compress(st, w);
            var u = new uint[8];
            Compress32(outer, st, u);
            var t = (uint[])u.Clone();
            var s = new uint[8];
            for (int it = 1; it < iterations; it++)
            {
                Compress32(inner, u, s); // inner hash: ipad state, then U
                Compress32(outer, s, u); // outer hash: opad state, then the inner digest
                for (int i = 0; i < 8; i++) t[i] ^= u[i];
            }
            var out_ = new byte[32];
            for (int i = 0; i < 8; i++)
            {
                out_[4 * i] = (byte)(t[i] >> 24);
                out_[4 * i + 1] = (byte)(t[i] >> 16);
                out_[4 * i + 2] = (byte)(t[i] >> 8);
                out_[4 * i + 3] = (byte)t[i];
            }
            return out_;
        }

        static void Load(byte[] b, int off, uint[] w)
        {
            for (int i = 0; i < 16; i++)
                w[i] = (uint)(b[off + 4 * i] << 24 | b[off + 4 * i + 1] << 16 | b[off + 4 * i + 2] << 8 | b[off + 4 * i + 3]);
        }

        static readonly uint[] IV =
        {
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
        };

        // The SHA-256 block function (FIPS 180-4), fully unrolled with the round
        // constants inlined and the message schedule in 16 locals: Mono's JIT
        // keeps them in registers (about 3x faster there than a rounds loop).
        // Generated; w[0..15] is the block, state is updated in place.
        static void Compress(uint[] state, uint[] w)
        {
            uint w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8], w9 = w[9], w10 = w[10], w11 = w[11], w12 = w[12], w13 = w[13], w14 = w[14], w15 = w[15];
            uint a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
            uint t;
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x428a2f98 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x71374491 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0xb5c0fbcf + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0xe9b5dba5 + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x3956c25b + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x59f111f1 + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x923f82a4 + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0xab1c5ed5 + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0xd807aa98 + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x12835b01 + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x243185be + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x550c7dc3 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x72be5d74 + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x80deb1fe + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x9bdc06a7 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0xc19bf174 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w0 += (w14 >> 17 | w14 << 15) ^ (w14 >> 19 | w14 << 13) ^ (w14 >> 10); w0 += w9 + ((w1 >> 7 | w1 << 25) ^ (w1 >> 18 | w1 << 14) ^ (w1 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0xe49b69c1 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w1 += (w15 >> 17 | w15 << 15) ^ (w15 >> 19 | w15 << 13) ^ (w15 >> 10); w1 += w10 + ((w2 >> 7 | w2 << 25) ^ (w2 >> 18 | w2 << 14) ^ (w2 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0xefbe4786 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w2 += (w0 >> 17 | w0 << 15) ^ (w0 >> 19 | w0 << 13) ^ (w0 >> 10); w2 += w11 + ((w3 >> 7 | w3 << 25) ^ (w3 >> 18 | w3 << 14) ^ (w3 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x0fc19dc6 + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w3 += (w1 >> 17 | w1 << 15) ^ (w1 >> 19 | w1 << 13) ^ (w1 >> 10); w3 += w12 + ((w4 >> 7 | w4 << 25) ^ (w4 >> 18 | w4 << 14) ^ (w4 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x240ca1cc + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w4 += (w2 >> 17 | w2 << 15) ^ (w2 >> 19 | w2 << 13) ^ (w2 >> 10); w4 += w13 + ((w5 >> 7 | w5 << 25) ^ (w5 >> 18 | w5 << 14) ^ (w5 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x2de92c6f + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w5 += (w3 >> 17 | w3 << 15) ^ (w3 >> 19 | w3 << 13) ^ (w3 >> 10); w5 += w14 + ((w6 >> 7 | w6 << 25) ^ (w6 >> 18 | w6 << 14) ^ (w6 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x4a7484aa + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w6 += (w4 >> 17 | w4 << 15) ^ (w4 >> 19 | w4 << 13) ^ (w4 >> 10); w6 += w15 + ((w7 >> 7 | w7 << 25) ^ (w7 >> 18 | w7 << 14) ^ (w7 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x5cb0a9dc + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w7 += (w5 >> 17 | w5 << 15) ^ (w5 >> 19 | w5 << 13) ^ (w5 >> 10); w7 += w0 + ((w8 >> 7 | w8 << 25) ^ (w8 >> 18 | w8 << 14) ^ (w8 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x76f988da + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w8 += (w6 >> 17 | w6 << 15) ^ (w6 >> 19 | w6 << 13) ^ (w6 >> 10); w8 += w1 + ((w9 >> 7 | w9 << 25) ^ (w9 >> 18 | w9 << 14) ^ (w9 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x983e5152 + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w9 += (w7 >> 17 | w7 << 15) ^ (w7 >> 19 | w7 << 13) ^ (w7 >> 10); w9 += w2 + ((w10 >> 7 | w10 << 25) ^ (w10 >> 18 | w10 << 14) ^ (w10 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0xa831c66d + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w10 += (w8 >> 17 | w8 << 15) ^ (w8 >> 19 | w8 << 13) ^ (w8 >> 10); w10 += w3 + ((w11 >> 7 | w11 << 25) ^ (w11 >> 18 | w11 << 14) ^ (w11 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0xb00327c8 + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w11 += (w9 >> 17 | w9 << 15) ^ (w9 >> 19 | w9 << 13) ^ (w9 >> 10); w11 += w4 + ((w12 >> 7 | w12 << 25) ^ (w12 >> 18 | w12 << 14) ^ (w12 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0xbf597fc7 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w12 += (w10 >> 17 | w10 << 15) ^ (w10 >> 19 | w10 << 13) ^ (w10 >> 10); w12 += w5 + ((w13 >> 7 | w13 << 25) ^ (w13 >> 18 | w13 << 14) ^ (w13 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0xc6e00bf3 + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w13 += (w11 >> 17 | w11 << 15) ^ (w11 >> 19 | w11 << 13) ^ (w11 >> 10); w13 += w6 + ((w14 >> 7 | w14 << 25) ^ (w14 >> 18 | w14 << 14) ^ (w14 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0xd5a79147 + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w14 += (w12 >> 17 | w12 << 15) ^ (w12 >> 19 | w12 << 13) ^ (w12 >> 10); w14 += w7 + ((w15 >> 7 | w15 << 25) ^ (w15 >> 18 | w15 << 14) ^ (w15 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x06ca6351 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w15 += (w13 >> 17 | w13 << 15) ^ (w13 >> 19 | w13 << 13) ^ (w13 >> 10); w15 += w8 + ((w0 >> 7 | w0 << 25) ^ (w0 >> 18 | w0 << 14) ^ (w0 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x14292967 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w0 += (w14 >> 17 | w14 << 15) ^ (w14 >> 19 | w14 << 13) ^ (w14 >> 10); w0 += w9 + ((w1 >> 7 | w1 << 25) ^ (w1 >> 18 | w1 << 14) ^ (w1 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x27b70a85 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w1 += (w15 >> 17 | w15 << 15) ^ (w15 >> 19 | w15 << 13) ^ (w15 >> 10); w1 += w10 + ((w2 >> 7 | w2 << 25) ^ (w2 >> 18 | w2 << 14) ^ (w2 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x2e1b2138 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w2 += (w0 >> 17 | w0 << 15) ^ (w0 >> 19 | w0 << 13) ^ (w0 >> 10); w2 += w11 + ((w3 >> 7 | w3 << 25) ^ (w3 >> 18 | w3 << 14) ^ (w3 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x4d2c6dfc + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w3 += (w1 >> 17 | w1 << 15) ^ (w1 >> 19 | w1 << 13) ^ (w1 >> 10); w3 += w12 + ((w4 >> 7 | w4 << 25) ^ (w4 >> 18 | w4 << 14) ^ (w4 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x53380d13 + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w4 += (w2 >> 17 | w2 << 15) ^ (w2 >> 19 | w2 << 13) ^ (w2 >> 10); w4 += w13 + ((w5 >> 7 | w5 << 25) ^ (w5 >> 18 | w5 << 14) ^ (w5 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x650a7354 + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w5 += (w3 >> 17 | w3 << 15) ^ (w3 >> 19 | w3 << 13) ^ (w3 >> 10); w5 += w14 + ((w6 >> 7 | w6 << 25) ^ (w6 >> 18 | w6 << 14) ^ (w6 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x766a0abb + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w6 += (w4 >> 17 | w4 << 15) ^ (w4 >> 19 | w4 << 13) ^ (w4 >> 10); w6 += w15 + ((w7 >> 7 | w7 << 25) ^ (w7 >> 18 | w7 << 14) ^ (w7 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x81c2c92e + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w7 += (w5 >> 17 | w5 << 15) ^ (w5 >> 19 | w5 << 13) ^ (w5 >> 10); w7 += w0 + ((w8 >> 7 | w8 << 25) ^ (w8 >> 18 | w8 << 14) ^ (w8 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x92722c85 + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w8 += (w6 >> 17 | w6 << 15) ^ (w6 >> 19 | w6 << 13) ^ (w6 >> 10); w8 += w1 + ((w9 >> 7 | w9 << 25) ^ (w9 >> 18 | w9 << 14) ^ (w9 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0xa2bfe8a1 + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w9 += (w7 >> 17 | w7 << 15) ^ (w7 >> 19 | w7 << 13) ^ (w7 >> 10); w9 += w2 + ((w10 >> 7 | w10 << 25) ^ (w10 >> 18 | w10 << 14) ^ (w10 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0xa81a664b + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w10 += (w8 >> 17 | w8 << 15) ^ (w8 >> 19 | w8 << 13) ^ (w8 >> 10); w10 += w3 + ((w11 >> 7 | w11 << 25) ^ (w11 >> 18 | w11 << 14) ^ (w11 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0xc24b8b70 + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w11 += (w9 >> 17 | w9 << 15) ^ (w9 >> 19 | w9 << 13) ^ (w9 >> 10); w11 += w4 + ((w12 >> 7 | w12 << 25) ^ (w12 >> 18 | w12 << 14) ^ (w12 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0xc76c51a3 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w12 += (w10 >> 17 | w10 << 15) ^ (w10 >> 19 | w10 << 13) ^ (w10 >> 10); w12 += w5 + ((w13 >> 7 | w13 << 25) ^ (w13 >> 18 | w13 << 14) ^ (w13 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0xd192e819 + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w13 += (w11 >> 17 | w11 << 15) ^ (w11 >> 19 | w11 << 13) ^ (w11 >> 10); w13 += w6 + ((w14 >> 7 | w14 << 25) ^ (w14 >> 18 | w14 << 14) ^ (w14 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0xd6990624 + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w14 += (w12 >> 17 | w12 << 15) ^ (w12 >> 19 | w12 << 13) ^ (w12 >> 10); w14 += w7 + ((w15 >> 7 | w15 << 25) ^ (w15 >> 18 | w15 << 14) ^ (w15 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0xf40e3585 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w15 += (w13 >> 17 | w13 << 15) ^ (w13 >> 19 | w13 << 13) ^ (w13 >> 10); w15 += w8 + ((w0 >> 7 | w0 << 25) ^ (w0 >> 18 | w0 << 14) ^ (w0 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x106aa070 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w0 += (w14 >> 17 | w14 << 15) ^ (w14 >> 19 | w14 << 13) ^ (w14 >> 10); w0 += w9 + ((w1 >> 7 | w1 << 25) ^ (w1 >> 18 | w1 << 14) ^ (w1 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x19a4c116 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w1 += (w15 >> 17 | w15 << 15) ^ (w15 >> 19 | w15 << 13) ^ (w15 >> 10); w1 += w10 + ((w2 >> 7 | w2 << 25) ^ (w2 >> 18 | w2 << 14) ^ (w2 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x1e376c08 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w2 += (w0 >> 17 | w0 << 15) ^ (w0 >> 19 | w0 << 13) ^ (w0 >> 10); w2 += w11 + ((w3 >> 7 | w3 << 25) ^ (w3 >> 18 | w3 << 14) ^ (w3 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x2748774c + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w3 += (w1 >> 17 | w1 << 15) ^ (w1 >> 19 | w1 << 13) ^ (w1 >> 10); w3 += w12 + ((w4 >> 7 | w4 << 25) ^ (w4 >> 18 | w4 << 14) ^ (w4 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x34b0bcb5 + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w4 += (w2 >> 17 | w2 << 15) ^ (w2 >> 19 | w2 << 13) ^ (w2 >> 10); w4 += w13 + ((w5 >> 7 | w5 << 25) ^ (w5 >> 18 | w5 << 14) ^ (w5 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x391c0cb3 + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w5 += (w3 >> 17 | w3 << 15) ^ (w3 >> 19 | w3 << 13) ^ (w3 >> 10); w5 += w14 + ((w6 >> 7 | w6 << 25) ^ (w6 >> 18 | w6 << 14) ^ (w6 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x4ed8aa4a + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w6 += (w4 >> 17 | w4 << 15) ^ (w4 >> 19 | w4 << 13) ^ (w4 >> 10); w6 += w15 + ((w7 >> 7 | w7 << 25) ^ (w7 >> 18 | w7 << 14) ^ (w7 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x5b9cca4f + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w7 += (w5 >> 17 | w5 << 15) ^ (w5 >> 19 | w5 << 13) ^ (w5 >> 10); w7 += w0 + ((w8 >> 7 | w8 << 25) ^ (w8 >> 18 | w8 << 14) ^ (w8 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x682e6ff3 + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w8 += (w6 >> 17 | w6 << 15) ^ (w6 >> 19 | w6 << 13) ^ (w6 >> 10); w8 += w1 + ((w9 >> 7 | w9 << 25) ^ (w9 >> 18 | w9 << 14) ^ (w9 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x748f82ee + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w9 += (w7 >> 17 | w7 << 15) ^ (w7 >> 19 | w7 << 13) ^ (w7 >> 10); w9 += w2 + ((w10 >> 7 | w10 << 25) ^ (w10 >> 18 | w10 << 14) ^ (w10 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x78a5636f + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w10 += (w8 >> 17 | w8 << 15) ^ (w8 >> 19 | w8 << 13) ^ (w8 >> 10); w10 += w3 + ((w11 >> 7 | w11 << 25) ^ (w11 >> 18 | w11 << 14) ^ (w11 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x84c87814 + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w11 += (w9 >> 17 | w9 << 15) ^ (w9 >> 19 | w9 << 13) ^ (w9 >> 10); w11 += w4 + ((w12 >> 7 | w12 << 25) ^ (w12 >> 18 | w12 << 14) ^ (w12 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x8cc70208 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w12 += (w10 >> 17 | w10 << 15) ^ (w10 >> 19 | w10 << 13) ^ (w10 >> 10); w12 += w5 + ((w13 >> 7 | w13 << 25) ^ (w13 >> 18 | w13 << 14) ^ (w13 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x90befffa + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w13 += (w11 >> 17 | w11 << 15) ^ (w11 >> 19 | w11 << 13) ^ (w11 >> 10); w13 += w6 + ((w14 >> 7 | w14 << 25) ^ (w14 >> 18 | w14 << 14) ^ (w14 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0xa4506ceb + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w14 += (w12 >> 17 | w12 << 15) ^ (w12 >> 19 | w12 << 13) ^ (w12 >> 10); w14 += w7 + ((w15 >> 7 | w15 << 25) ^ (w15 >> 18 | w15 << 14) ^ (w15 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0xbef9a3f7 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w15 += (w13 >> 17 | w13 << 15) ^ (w13 >> 19 | w13 << 13) ^ (w13 >> 10); w15 += w8 + ((w0 >> 7 | w0 << 25) ^ (w0 >> 18 | w0 << 14) ^ (w0 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0xc67178f2 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            state[0] += a; state[1] += b; state[2] += c; state[3] += d;
            state[4] += e; state[5] += f; state[6] += g; state[7] += h;
        }

        // Compress32 is Compress of the block that follows a 64-byte HMAC pad
        // in every PBKDF2 iteration: 32 data bytes, then fixed padding for a
        // 96-byte message (0x80, zeros, length 768 bits), folded into the code.
        // It reads the state from iv and the data from data, and writes out.
        static void Compress32(uint[] iv, uint[] data, uint[] out_)
        {
            uint w0 = data[0], w1 = data[1], w2 = data[2], w3 = data[3], w4 = data[4], w5 = data[5], w6 = data[6], w7 = data[7], w8 = 0x80000000, w9 = 0, w10 = 0, w11 = 0, w12 = 0, w13 = 0, w14 = 0, w15 = 768;
            uint a = iv[0], b = iv[1], c = iv[2], d = iv[3], e = iv[4], f = iv[5], g = iv[6], h = iv[7];
            uint t;
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x428a2f98 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x71374491 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0xb5c0fbcf + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0xe9b5dba5 + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x3956c25b + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x59f111f1 + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x923f82a4 + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0xab1c5ed5 + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0xd807aa98 + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x12835b01 + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x243185be + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x550c7dc3 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x72be5d74 + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x80deb1fe + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x9bdc06a7 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0xc19bf174 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w0 += (w14 >> 17 | w14 << 15) ^ (w14 >> 19 | w14 << 13) ^ (w14 >> 10); w0 += w9 + ((w1 >> 7 | w1 << 25) ^ (w1 >> 18 | w1 << 14) ^ (w1 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0xe49b69c1 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w1 += (w15 >> 17 | w15 << 15) ^ (w15 >> 19 | w15 << 13) ^ (w15 >> 10); w1 += w10 + ((w2 >> 7 | w2 << 25) ^ (w2 >> 18 | w2 << 14) ^ (w2 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0xefbe4786 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w2 += (w0 >> 17 | w0 << 15) ^ (w0 >> 19 | w0 << 13) ^ (w0 >> 10); w2 += w11 + ((w3 >> 7 | w3 << 25) ^ (w3 >> 18 | w3 << 14) ^ (w3 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x0fc19dc6 + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w3 += (w1 >> 17 | w1 << 15) ^ (w1 >> 19 | w1 << 13) ^ (w1 >> 10); w3 += w12 + ((w4 >> 7 | w4 << 25) ^ (w4 >> 18 | w4 << 14) ^ (w4 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x240ca1cc + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w4 += (w2 >> 17 | w2 << 15) ^ (w2 >> 19 | w2 << 13) ^ (w2 >> 10); w4 += w13 + ((w5 >> 7 | w5 << 25) ^ (w5 >> 18 | w5 << 14) ^ (w5 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x2de92c6f + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w5 += (w3 >> 17 | w3 << 15) ^ (w3 >> 19 | w3 << 13) ^ (w3 >> 10); w5 += w14 + ((w6 >> 7 | w6 << 25) ^ (w6 >> 18 | w6 << 14) ^ (w6 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x4a7484aa + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w6 += (w4 >> 17 | w4 << 15) ^ (w4 >> 19 | w4 << 13) ^ (w4 >> 10); w6 += w15 + ((w7 >> 7 | w7 << 25) ^ (w7 >> 18 | w7 << 14) ^ (w7 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x5cb0a9dc + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w7 += (w5 >> 17 | w5 << 15) ^ (w5 >> 19 | w5 << 13) ^ (w5 >> 10); w7 += w0 + ((w8 >> 7 | w8 << 25) ^ (w8 >> 18 | w8 << 14) ^ (w8 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x76f988da + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w8 += (w6 >> 17 | w6 << 15) ^ (w6 >> 19 | w6 << 13) ^ (w6 >> 10); w8 += w1 + ((w9 >> 7 | w9 << 25) ^ (w9 >> 18 | w9 << 14) ^ (w9 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x983e5152 + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w9 += (w7 >> 17 | w7 << 15) ^ (w7 >> 19 | w7 << 13) ^ (w7 >> 10); w9 += w2 + ((w10 >> 7 | w10 << 25) ^ (w10 >> 18 | w10 << 14) ^ (w10 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0xa831c66d + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w10 += (w8 >> 17 | w8 << 15) ^ (w8 >> 19 | w8 << 13) ^ (w8 >> 10); w10 += w3 + ((w11 >> 7 | w11 << 25) ^ (w11 >> 18 | w11 << 14) ^ (w11 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0xb00327c8 + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w11 += (w9 >> 17 | w9 << 15) ^ (w9 >> 19 | w9 << 13) ^ (w9 >> 10); w11 += w4 + ((w12 >> 7 | w12 << 25) ^ (w12 >> 18 | w12 << 14) ^ (w12 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0xbf597fc7 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w12 += (w10 >> 17 | w10 << 15) ^ (w10 >> 19 | w10 << 13) ^ (w10 >> 10); w12 += w5 + ((w13 >> 7 | w13 << 25) ^ (w13 >> 18 | w13 << 14) ^ (w13 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0xc6e00bf3 + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w13 += (w11 >> 17 | w11 << 15) ^ (w11 >> 19 | w11 << 13) ^ (w11 >> 10); w13 += w6 + ((w14 >> 7 | w14 << 25) ^ (w14 >> 18 | w14 << 14) ^ (w14 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0xd5a79147 + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w14 += (w12 >> 17 | w12 << 15) ^ (w12 >> 19 | w12 << 13) ^ (w12 >> 10); w14 += w7 + ((w15 >> 7 | w15 << 25) ^ (w15 >> 18 | w15 << 14) ^ (w15 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x06ca6351 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w15 += (w13 >> 17 | w13 << 15) ^ (w13 >> 19 | w13 << 13) ^ (w13 >> 10); w15 += w8 + ((w0 >> 7 | w0 << 25) ^ (w0 >> 18 | w0 << 14) ^ (w0 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x14292967 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w0 += (w14 >> 17 | w14 << 15) ^ (w14 >> 19 | w14 << 13) ^ (w14 >> 10); w0 += w9 + ((w1 >> 7 | w1 << 25) ^ (w1 >> 18 | w1 << 14) ^ (w1 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x27b70a85 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w1 += (w15 >> 17 | w15 << 15) ^ (w15 >> 19 | w15 << 13) ^ (w15 >> 10); w1 += w10 + ((w2 >> 7 | w2 << 25) ^ (w2 >> 18 | w2 << 14) ^ (w2 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x2e1b2138 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w2 += (w0 >> 17 | w0 << 15) ^ (w0 >> 19 | w0 << 13) ^ (w0 >> 10); w2 += w11 + ((w3 >> 7 | w3 << 25) ^ (w3 >> 18 | w3 << 14) ^ (w3 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x4d2c6dfc + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w3 += (w1 >> 17 | w1 << 15) ^ (w1 >> 19 | w1 << 13) ^ (w1 >> 10); w3 += w12 + ((w4 >> 7 | w4 << 25) ^ (w4 >> 18 | w4 << 14) ^ (w4 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x53380d13 + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w4 += (w2 >> 17 | w2 << 15) ^ (w2 >> 19 | w2 << 13) ^ (w2 >> 10); w4 += w13 + ((w5 >> 7 | w5 << 25) ^ (w5 >> 18 | w5 << 14) ^ (w5 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x650a7354 + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w5 += (w3 >> 17 | w3 << 15) ^ (w3 >> 19 | w3 << 13) ^ (w3 >> 10); w5 += w14 + ((w6 >> 7 | w6 << 25) ^ (w6 >> 18 | w6 << 14) ^ (w6 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x766a0abb + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w6 += (w4 >> 17 | w4 << 15) ^ (w4 >> 19 | w4 << 13) ^ (w4 >> 10); w6 += w15 + ((w7 >> 7 | w7 << 25) ^ (w7 >> 18 | w7 << 14) ^ (w7 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x81c2c92e + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w7 += (w5 >> 17 | w5 << 15) ^ (w5 >> 19 | w5 << 13) ^ (w5 >> 10); w7 += w0 + ((w8 >> 7 | w8 << 25) ^ (w8 >> 18 | w8 << 14) ^ (w8 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x92722c85 + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w8 += (w6 >> 17 | w6 << 15) ^ (w6 >> 19 | w6 << 13) ^ (w6 >> 10); w8 += w1 + ((w9 >> 7 | w9 << 25) ^ (w9 >> 18 | w9 << 14) ^ (w9 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0xa2bfe8a1 + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w9 += (w7 >> 17 | w7 << 15) ^ (w7 >> 19 | w7 << 13) ^ (w7 >> 10); w9 += w2 + ((w10 >> 7 | w10 << 25) ^ (w10 >> 18 | w10 << 14) ^ (w10 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0xa81a664b + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w10 += (w8 >> 17 | w8 << 15) ^ (w8 >> 19 | w8 << 13) ^ (w8 >> 10); w10 += w3 + ((w11 >> 7 | w11 << 25) ^ (w11 >> 18 | w11 << 14) ^ (w11 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0xc24b8b70 + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w11 += (w9 >> 17 | w9 << 15) ^ (w9 >> 19 | w9 << 13) ^ (w9 >> 10); w11 += w4 + ((w12 >> 7 | w12 << 25) ^ (w12 >> 18 | w12 << 14) ^ (w12 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0xc76c51a3 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w12 += (w10 >> 17 | w10 << 15) ^ (w10 >> 19 | w10 << 13) ^ (w10 >> 10); w12 += w5 + ((w13 >> 7 | w13 << 25) ^ (w13 >> 18 | w13 << 14) ^ (w13 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0xd192e819 + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w13 += (w11 >> 17 | w11 << 15) ^ (w11 >> 19 | w11 << 13) ^ (w11 >> 10); w13 += w6 + ((w14 >> 7 | w14 << 25) ^ (w14 >> 18 | w14 << 14) ^ (w14 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0xd6990624 + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w14 += (w12 >> 17 | w12 << 15) ^ (w12 >> 19 | w12 << 13) ^ (w12 >> 10); w14 += w7 + ((w15 >> 7 | w15 << 25) ^ (w15 >> 18 | w15 << 14) ^ (w15 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0xf40e3585 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w15 += (w13 >> 17 | w13 << 15) ^ (w13 >> 19 | w13 << 13) ^ (w13 >> 10); w15 += w8 + ((w0 >> 7 | w0 << 25) ^ (w0 >> 18 | w0 << 14) ^ (w0 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x106aa070 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w0 += (w14 >> 17 | w14 << 15) ^ (w14 >> 19 | w14 << 13) ^ (w14 >> 10); w0 += w9 + ((w1 >> 7 | w1 << 25) ^ (w1 >> 18 | w1 << 14) ^ (w1 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x19a4c116 + w0; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w1 += (w15 >> 17 | w15 << 15) ^ (w15 >> 19 | w15 << 13) ^ (w15 >> 10); w1 += w10 + ((w2 >> 7 | w2 << 25) ^ (w2 >> 18 | w2 << 14) ^ (w2 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x1e376c08 + w1; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w2 += (w0 >> 17 | w0 << 15) ^ (w0 >> 19 | w0 << 13) ^ (w0 >> 10); w2 += w11 + ((w3 >> 7 | w3 << 25) ^ (w3 >> 18 | w3 << 14) ^ (w3 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x2748774c + w2; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w3 += (w1 >> 17 | w1 << 15) ^ (w1 >> 19 | w1 << 13) ^ (w1 >> 10); w3 += w12 + ((w4 >> 7 | w4 << 25) ^ (w4 >> 18 | w4 << 14) ^ (w4 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x34b0bcb5 + w3; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w4 += (w2 >> 17 | w2 << 15) ^ (w2 >> 19 | w2 << 13) ^ (w2 >> 10); w4 += w13 + ((w5 >> 7 | w5 << 25) ^ (w5 >> 18 | w5 << 14) ^ (w5 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x391c0cb3 + w4; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w5 += (w3 >> 17 | w3 << 15) ^ (w3 >> 19 | w3 << 13) ^ (w3 >> 10); w5 += w14 + ((w6 >> 7 | w6 << 25) ^ (w6 >> 18 | w6 << 14) ^ (w6 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0x4ed8aa4a + w5; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w6 += (w4 >> 17 | w4 << 15) ^ (w4 >> 19 | w4 << 13) ^ (w4 >> 10); w6 += w15 + ((w7 >> 7 | w7 << 25) ^ (w7 >> 18 | w7 << 14) ^ (w7 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0x5b9cca4f + w6; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w7 += (w5 >> 17 | w5 << 15) ^ (w5 >> 19 | w5 << 13) ^ (w5 >> 10); w7 += w0 + ((w8 >> 7 | w8 << 25) ^ (w8 >> 18 | w8 << 14) ^ (w8 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0x682e6ff3 + w7; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            w8 += (w6 >> 17 | w6 << 15) ^ (w6 >> 19 | w6 << 13) ^ (w6 >> 10); w8 += w1 + ((w9 >> 7 | w9 << 25) ^ (w9 >> 18 | w9 << 14) ^ (w9 >> 3));
            t = h + ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) + ((e & f) ^ (~e & g)) + 0x748f82ee + w8; d += t; h = t + ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) + ((a & b) ^ (a & c) ^ (b & c));
            w9 += (w7 >> 17 | w7 << 15) ^ (w7 >> 19 | w7 << 13) ^ (w7 >> 10); w9 += w2 + ((w10 >> 7 | w10 << 25) ^ (w10 >> 18 | w10 << 14) ^ (w10 >> 3));
            t = g + ((d >> 6 | d << 26) ^ (d >> 11 | d << 21) ^ (d >> 25 | d << 7)) + ((d & e) ^ (~d & f)) + 0x78a5636f + w9; c += t; g = t + ((h >> 2 | h << 30) ^ (h >> 13 | h << 19) ^ (h >> 22 | h << 10)) + ((h & a) ^ (h & b) ^ (a & b));
            w10 += (w8 >> 17 | w8 << 15) ^ (w8 >> 19 | w8 << 13) ^ (w8 >> 10); w10 += w3 + ((w11 >> 7 | w11 << 25) ^ (w11 >> 18 | w11 << 14) ^ (w11 >> 3));
            t = f + ((c >> 6 | c << 26) ^ (c >> 11 | c << 21) ^ (c >> 25 | c << 7)) + ((c & d) ^ (~c & e)) + 0x84c87814 + w10; b += t; f = t + ((g >> 2 | g << 30) ^ (g >> 13 | g << 19) ^ (g >> 22 | g << 10)) + ((g & h) ^ (g & a) ^ (h & a));
            w11 += (w9 >> 17 | w9 << 15) ^ (w9 >> 19 | w9 << 13) ^ (w9 >> 10); w11 += w4 + ((w12 >> 7 | w12 << 25) ^ (w12 >> 18 | w12 << 14) ^ (w12 >> 3));
            t = e + ((b >> 6 | b << 26) ^ (b >> 11 | b << 21) ^ (b >> 25 | b << 7)) + ((b & c) ^ (~b & d)) + 0x8cc70208 + w11; a += t; e = t + ((f >> 2 | f << 30) ^ (f >> 13 | f << 19) ^ (f >> 22 | f << 10)) + ((f & g) ^ (f & h) ^ (g & h));
            w12 += (w10 >> 17 | w10 << 15) ^ (w10 >> 19 | w10 << 13) ^ (w10 >> 10); w12 += w5 + ((w13 >> 7 | w13 << 25) ^ (w13 >> 18 | w13 << 14) ^ (w13 >> 3));
            t = d + ((a >> 6 | a << 26) ^ (a >> 11 | a << 21) ^ (a >> 25 | a << 7)) + ((a & b) ^ (~a & c)) + 0x90befffa + w12; h += t; d = t + ((e >> 2 | e << 30) ^ (e >> 13 | e << 19) ^ (e >> 22 | e << 10)) + ((e & f) ^ (e & g) ^ (f & g));
            w13 += (w11 >> 17 | w11 << 15) ^ (w11 >> 19 | w11 << 13) ^ (w11 >> 10); w13 += w6 + ((w14 >> 7 | w14 << 25) ^ (w14 >> 18 | w14 << 14) ^ (w14 >> 3));
            t = c + ((h >> 6 | h << 26) ^ (h >> 11 | h << 21) ^ (h >> 25 | h << 7)) + ((h & a) ^ (~h & b)) + 0xa4506ceb + w13; g += t; c = t + ((d >> 2 | d << 30) ^ (d >> 13 | d << 19) ^ (d >> 22 | d << 10)) + ((d & e) ^ (d & f) ^ (e & f));
            w14 += (w12 >> 17 | w12 << 15) ^ (w12 >> 19 | w12 << 13) ^ (w12 >> 10); w14 += w7 + ((w15 >> 7 | w15 << 25) ^ (w15 >> 18 | w15 << 14) ^ (w15 >> 3));
            t = b + ((g >> 6 | g << 26) ^ (g >> 11 | g << 21) ^ (g >> 25 | g << 7)) + ((g & h) ^ (~g & a)) + 0xbef9a3f7 + w14; f += t; b = t + ((c >> 2 | c << 30) ^ (c >> 13 | c << 19) ^ (c >> 22 | c << 10)) + ((c & d) ^ (c & e) ^ (d & e));
            w15 += (w13 >> 17 | w13 << 15) ^ (w13 >> 19 | w13 << 13) ^ (w13 >> 10); w15 += w8 + ((w0 >> 7 | w0 << 25) ^ (w0 >> 18 | w0 << 14) ^ (w0 >> 3));
            t = a + ((f >> 6 | f << 26) ^ (f >> 11 | f << 21) ^ (f >> 25 | f << 7)) + ((f & g) ^ (~f & h)) + 0xc67178f2 + w15; e += t; a = t + ((b >> 2 | b << 30) ^ (b >> 13 | b << 19) ^ (b >> 22 | b << 10)) + ((b & c) ^ (b & d) ^ (c & d));
            out_[0] = iv[0] + a; out_[1] = iv[1] + b; out_[2] = iv[2] + c; out_[3] = iv[3] + d;
            out_[4] = iv[4] + e; out_[5] = iv[5] + f; out_[6] = iv[6] + g; out_[7] = iv[7] + h;
        }

        /// <summary>Makes a file readable and writable by its owner alone (0600) where the OS has modes.</summary>
        internal static void RestrictToOwner(string path) { DiskCache.Restrict(path, 0x180); }

        /// <summary>The optional on-disk cache of derived keys.</summary>
        static class DiskCache
        {
            [DllImport("libc", SetLastError = true)]
            static extern int chmod(string path, int mode);

            internal static void Restrict(string path, int mode)
            {
                if (Path.DirectorySeparatorChar != '/') return; // Windows: the per-user folder's ACL applies
                try { chmod(path, mode); }
                catch (Exception) { } // no libc (some platforms): the directory's own permissions apply
            }

            internal static string Dir()
            {
                string baseDir = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
                string home = Environment.GetEnvironmentVariable("HOME") ?? "";
                if (Path.DirectorySeparatorChar == '\\')
                    baseDir = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
                else if (string.IsNullOrEmpty(baseDir))
                    baseDir = Directory.Exists(Path.Combine(home, "Library/Caches")) ? Path.Combine(home, "Library/Caches") : Path.Combine(home, ".cache");
                return Path.Combine(Path.Combine(baseDir, "lanlobby"), "lan-keys");
            }

            // The file name is a fast hash of the passphrase: whoever can list
            // the owner's cache directory can test guesses cheaply (why it is opt-in).
            static string Slot(byte[] pw)
            {
                var pre = Encoding.UTF8.GetBytes(KdfSalt + "\u0000cache\u0000");
                var all = new byte[pre.Length + pw.Length];
                Buffer.BlockCopy(pre, 0, all, 0, pre.Length);
                Buffer.BlockCopy(pw, 0, all, pre.Length, pw.Length);
                using (var sha = SHA256.Create())
                {
                    var h = sha.ComputeHash(all);
                    var sb = new StringBuilder();
                    for (int i = 0; i < 16; i++) sb.Append(h[i].ToString("x2"));
                    return sb.ToString();
                }
            }

            internal static byte[] Read(byte[] pw)
            {
                try
                {
                    var b = File.ReadAllBytes(Path.Combine(Dir(), Slot(pw)));
                    return b.Length == 32 ? b : null;
                }
                catch (Exception) { return null; }
            }

            internal static void Write(byte[] pw, byte[] master)
            {
                try
                {
                    string dir = Dir();
                    Directory.CreateDirectory(dir);
                    Restrict(dir, 0x1c0); // 0700
                    string path = Path.Combine(dir, Slot(pw));
                    string tmp = path + ".tmp" + System.Diagnostics.Process.GetCurrentProcess().Id;
                    using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write)) { }
                    Restrict(tmp, 0x180); // 0600, before the secret is written
                    File.WriteAllBytes(tmp, master);
                    if (File.Exists(path)) File.Delete(path);
                    File.Move(tmp, path);
                }
                catch (Exception) { } // a cache that cannot be written costs the derivation next time
            }
        }
    }
}
