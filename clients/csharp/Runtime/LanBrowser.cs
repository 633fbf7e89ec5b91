// LAN browsing over the beacon (PROTOCOL.md, "LAN beacon"): listen to the
// multicast groups on every chosen interface, query when starting (again
// after 250 ms and 1 s), and keep the set of visible lobbies and coordinator
// daemons: added, updated, removed (goodbye or TTL expiry), deduplicated by
// id across interfaces and address families, ordered by each sender's seq.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace LanLobby
{
    /// <summary>A lobby seen on the LAN. Host is the packets' source address
    /// (never an address a packet claims); Port the coordinator's TCP port.</summary>
    public sealed class LanLobbyInfo
    {
        public string Id = "", Game = "", Name = "", State = "";
        public int Players, Capacity, Port;
        public IPAddress Host;
        public string Iface = "";
        /// <summary>Time from this browser's last query to the host's first answer.</summary>
        public TimeSpan Rtt;
        public string Source = "beacon";
        /// <summary>The lobby's attributes as the LAN carries them (PROTOCOL.md,
        /// "Lobby attributes"): the game version, the creation time (ms since 1970
        /// UTC; 0 when not told), the filterable metadata its host advertises, and
        /// MetaPartial when it has metadata the announcement does not carry.
        /// Players counts the seats reserved for a party.</summary>
        public string Version = "";
        public long CreatedMs;
        public Dictionary<string, string> Meta = new Dictionary<string, string>();
        public bool MetaPartial;
        /// <summary>How often the lobby changed coordinator (a successor's
        /// takeover, a move to a daemon): when two hosts announce the same lobby,
        /// the higher term is the lobby (the other has not heard yet that it lost it).</summary>
        public uint Term;

        /// <summary>The coordinator to dial, "ip:port" or "[ipv6%zone]:port".</summary>
        public string Addr { get { return HostPort(Host, Port); } }
        public int Free { get { return Capacity - Players; } }

        internal static string HostPort(IPAddress h, int port)
        {
            return h.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + h + "]:" + port : h + ":" + port;
        }

        internal LanLobbyInfo Clone() { return (LanLobbyInfo)MemberwiseClone(); }

        internal bool Same(LanLobbyInfo o)
        {
            if (!(Id == o.Id && Game == o.Game && Name == o.Name && Players == o.Players && Capacity == o.Capacity &&
                  State == o.State && Port == o.Port && Equals(Host, o.Host) && Version == o.Version && CreatedMs == o.CreatedMs &&
                  MetaPartial == o.MetaPartial && Term == o.Term && Meta.Count == o.Meta.Count))
                return false;
            foreach (var kv in Meta)
            {
                string v;
                if (!o.Meta.TryGetValue(kv.Key, out v) || v != kv.Value) return false;
            }
            return true;
        }

        /// <summary>Whether quick-join may pick it: open, with a seat free.</summary>
        public bool Joinable { get { return State == "open" && Players < Capacity; } }

        /// <summary>The lobby as matchmaking reads it: a filter term on a key its
        /// announcement left out is undecided when MetaPartial.</summary>
        public Candidate Candidate()
        {
            return new Candidate { Id = Id, Game = Game, Version = Version, Open = Joinable, Free = Capacity - Players, CreatedMs = CreatedMs,
                Meta = Meta, Partial = MetaPartial };
        }

        internal void SetAttrs(BeaconLobby l)
        {
            Version = l.Version;
            CreatedMs = l.CreatedMs;
            Meta = new Dictionary<string, string>();
            foreach (var kv in l.Meta) Meta[kv.Key] = kv.Value;
            MetaPartial = l.Partial;
            Term = l.Term;
        }

        public override string ToString() { return Id + " " + Game + " " + Players + "/" + Capacity + " " + State + " " + Addr + " " + Name; }
    }

    /// <summary>A coordinator daemon announcing itself on the LAN.</summary>
    public sealed class LanCoordinatorInfo
    {
        public string Id = "", Name = "";
        public IPAddress Host;
        public int Port;
        public string Addr { get { return LanLobbyInfo.HostPort(Host, Port); } }
    }

    public sealed class BrowseEvent
    {
        public const string Added = "added", Updated = "updated", Removed = "removed";
        public string Type;
        public LanLobbyInfo Lobby;
        public override string ToString() { return Type + " " + Lobby; }
    }

    /// <summary>The browser's state, pure: every method takes the time (seconds, monotonic).</summary>
    public sealed class BeaconTable
    {
        public const int StaleWindow = 1024, MaxCoordinators = 64;

        sealed class Entry
        {
            public LanLobbyInfo Info;
            public uint Seq;
            public double Ttl, Expires, HostSeen;
            public bool Gone;
        }

        sealed class Coord
        {
            public LanCoordinatorInfo Info;
            public uint Seq;
            public double Expires;
            public bool Gone;
        }

        readonly string game;
        readonly int maxLobbies;
        readonly double hold; // tombstones with a LAN key: 2 x replay window
        readonly Dictionary<string, Entry> lobbies = new Dictionary<string, Entry>();
        readonly Dictionary<string, Coord> coords = new Dictionary<string, Coord>();
        readonly Dictionary<string, KeyValuePair<double, long>> rtt = new Dictionary<string, KeyValuePair<double, long>>();
        int live;
        double querySent;
        long queryNo;
        public long TableFull, Stale;

        public BeaconTable(string game, int maxLobbies, double hold)
        {
            this.game = game ?? "";
            this.maxLobbies = maxLobbies;
            this.hold = hold;
        }

        public static int HostRank(IPAddress a)
        {
            if (a.AddressFamily == AddressFamily.InterNetwork) return 0;
            return a.IsIPv6LinkLocal ? 2 : 1;
        }

        static int SeqOrder(uint seq, uint last)
        {
            int d = (int)(seq - last);
            if (d == 0) return 0;
            if (d < 0 && d > -StaleWindow) return -1;
            return 1;
        }

        public void Queried(double now)
        {
            querySent = now;
            queryNo++;
        }

        public List<BrowseEvent> Observe(double now, BeaconPacket p, IPAddress host, string iface)
        {
            var evs = new List<BrowseEvent>();
            string hk = host.ToString();
            KeyValuePair<double, long> r;
            bool known = rtt.TryGetValue(hk, out r);
            if ((p.Flags & Beacon.FlagReply) != 0 && querySent > 0 && (!known || r.Value != queryNo) && (known || rtt.Count < maxLobbies))
                rtt[hk] = new KeyValuePair<double, long>(now - querySent, queryNo);
            if (p.Kind == Beacon.KindAnnounce)
                foreach (var l in p.Lobbies)
                {
                    var ev = Announce(now, p.Seq, p.Ttl, l, host, iface);
                    if (ev != null) evs.Add(ev);
                }
            else if (p.Kind == Beacon.KindGoodbye)
                foreach (var l in p.Lobbies)
                {
                    var ev = Goodbye(now, p.Seq, l);
                    if (ev != null) evs.Add(ev);
                }
            else if (p.Kind == Beacon.KindCoordinator) Coordinator(now, p, host);
            return evs;
        }

        LanLobbyInfo View(Entry e)
        {
            var v = e.Info.Clone();
            KeyValuePair<double, long> r;
            // FromTicks: TimeSpan.FromSeconds rounds to whole milliseconds on .NET Framework and Mono.
            v.Rtt = rtt.TryGetValue(v.Host.ToString(), out r) ? TimeSpan.FromTicks((long)(r.Key * TimeSpan.TicksPerSecond)) : TimeSpan.Zero;
            return v;
        }

        BrowseEvent Better(double now, Entry e, IPAddress host, string iface)
        {
            if (e.Gone || HostRank(host) >= HostRank(e.Info.Host)) return null;
            e.Info.Host = host;
            e.Info.Iface = iface;
            e.HostSeen = now;
            return new BrowseEvent { Type = BrowseEvent.Updated, Lobby = View(e) };
        }

        BrowseEvent Announce(double now, uint seq, int ttl, BeaconLobby l, IPAddress host, string iface)
        {
            if (game != "" && l.Game != game) return null;
            Entry e;
            lobbies.TryGetValue(l.Id, out e);
            bool fresh = e == null || e.Gone;
            // Terms: a host still announcing a lobby another coordinator took
            // over (it has not heard yet) is ignored; the first packet of a
            // higher term moves the lobby to its sender at once, whatever its
            // seq (the sender counts its own).
            uint known = e != null && e.Info != null ? e.Info.Term : 0;
            bool higher = e != null && l.Term > known;
            if (!fresh && l.Term < known)
            {
                Stale++;
                return null;
            }
            if (e != null && !higher)
            {
                int o = SeqOrder(seq, e.Seq);
                if (o < 0)
                {
                    Stale++;
                    return Better(now, e, host, iface);
                }
                if (o == 0)
                {
                    if (e.Gone) return null;
                    if (hold > 0) return Better(now, e, host, iface);
                }
            }
            if (fresh && live >= maxLobbies)
            {
                TableFull++;
                return null;
            }
            if (e == null)
            {
                if (lobbies.Count >= 2 * maxLobbies) DropTombstone();
                e = new Entry();
                lobbies[l.Id] = e;
            }
            var old = e.Info;
            IPAddress curHost = host;
            string curIface = iface;
            if (!fresh && e.Info != null)
            {
                curHost = e.Info.Host;
                curIface = e.Info.Iface;
            }
            if (fresh)
            {
                live++;
                e.Gone = false;
                e.HostSeen = now;
            }
            e.Seq = seq;
            e.Ttl = ttl;
            e.Expires = now + ttl;
            if (higher && !fresh)
            {
                curHost = host;
                curIface = iface;
                e.HostSeen = now;
            }
            else if (host.Equals(curHost)) e.HostSeen = now;
            else if (HostRank(host) < HostRank(curHost) || now - e.HostSeen >= ttl)
            {
                curHost = host;
                curIface = iface;
                e.HostSeen = now;
            }
            e.Info = new LanLobbyInfo
            {
                Id = l.Id, Game = l.Game, Name = l.Name, Players = l.Players, Capacity = l.Capacity, State = l.State, Port = l.Port,
                Host = curHost, Iface = curIface,
            };
            e.Info.SetAttrs(l);
            if (fresh) return new BrowseEvent { Type = BrowseEvent.Added, Lobby = View(e) };
            if (old == null || !old.Same(e.Info)) return new BrowseEvent { Type = BrowseEvent.Updated, Lobby = View(e) };
            return null;
        }

        BrowseEvent Goodbye(double now, uint seq, BeaconLobby l)
        {
            Entry e;
            if (!lobbies.TryGetValue(l.Id, out e) || e.Gone) return null;
            // The goodbye of a host that lost the lobby to a higher term does
            // not end it; one of a higher term than heard ends it whatever its seq.
            uint known = e.Info != null ? e.Info.Term : 0;
            if (l.Term < known || l.Term == known && SeqOrder(seq, e.Seq) < 0)
            {
                Stale++;
                return null;
            }
            e.Gone = true;
            e.Seq = seq;
            e.Expires = now + Math.Max(e.Ttl, hold);
            live--;
            return new BrowseEvent { Type = BrowseEvent.Removed, Lobby = View(e) };
        }

        void DropTombstone()
        {
            string victim = null;
            double at = 0;
            foreach (var kv in lobbies)
                if (kv.Value.Gone && (victim == null || kv.Value.Expires < at))
                {
                    victim = kv.Key;
                    at = kv.Value.Expires;
                }
            if (victim != null) lobbies.Remove(victim);
        }

        void Coordinator(double now, BeaconPacket p, IPAddress host)
        {
            var c = p.Coordinator;
            Coord e;
            coords.TryGetValue(c.Id, out e);
            if (e != null && e.Gone)
            {
                int o = SeqOrder(p.Seq, e.Seq);
                if (o < 0) { Stale++; return; }
                if (o == 0) return;
                coords.Remove(c.Id);
                e = null;
            }
            if (e != null && (SeqOrder(p.Seq, e.Seq) < 0 || (hold > 0 && p.Seq == e.Seq)))
            {
                if (p.Ttl > 0 && HostRank(host) < HostRank(e.Info.Host)) e.Info.Host = host;
                return;
            }
            if (p.Ttl == 0)
            {
                if (e != null && hold > 0)
                {
                    e.Gone = true;
                    e.Seq = p.Seq;
                    e.Expires = now + hold;
                }
                else coords.Remove(c.Id);
                return;
            }
            if (e == null)
            {
                if (coords.Count >= MaxCoordinators)
                    foreach (var kv in coords)
                        if (kv.Value.Gone)
                        {
                            coords.Remove(kv.Key);
                            break;
                        }
                if (coords.Count >= MaxCoordinators)
                {
                    TableFull++;
                    return;
                }
                e = new Coord { Info = new LanCoordinatorInfo { Host = host } };
                coords[c.Id] = e;
            }
            if (HostRank(host) <= HostRank(e.Info.Host) || now > e.Expires) e.Info.Host = host;
            e.Info.Id = c.Id;
            e.Info.Name = c.Name;
            e.Info.Port = c.Port;
            e.Seq = p.Seq;
            e.Expires = now + p.Ttl;
        }

        public List<BrowseEvent> Expire(double now)
        {
            var evs = new List<BrowseEvent>();
            var ids = new List<string>(lobbies.Keys);
            ids.Sort(string.CompareOrdinal);
            foreach (var id in ids)
            {
                var e = lobbies[id];
                if (now < e.Expires) continue;
                if (!e.Gone)
                {
                    live--;
                    evs.Add(new BrowseEvent { Type = BrowseEvent.Removed, Lobby = View(e) });
                    if (hold > 0)
                    {
                        e.Gone = true;
                        e.Expires = now + hold;
                        continue;
                    }
                }
                lobbies.Remove(id);
            }
            foreach (var id in new List<string>(coords.Keys))
            {
                var c = coords[id];
                if (now < c.Expires) continue;
                if (c.Gone || hold == 0) coords.Remove(id);
                else
                {
                    c.Gone = true;
                    c.Expires = now + hold;
                }
            }
            return evs;
        }

        public List<LanLobbyInfo> Snapshot()
        {
            var out_ = new List<LanLobbyInfo>();
            foreach (var e in lobbies.Values)
                if (!e.Gone) out_.Add(View(e));
            out_.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
            return out_;
        }

        public List<LanCoordinatorInfo> Coordinators()
        {
            var out_ = new List<LanCoordinatorInfo>();
            foreach (var kv in coords)
                if (!kv.Value.Gone)
                    out_.Add(new LanCoordinatorInfo { Id = kv.Value.Info.Id, Name = kv.Value.Info.Name, Host = kv.Value.Info.Host, Port = kv.Value.Info.Port });
            out_.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
            return out_;
        }
    }

    public sealed class BrowserOptions
    {
        /// <summary>Only this game's lobbies ("" for all); the query carries it.</summary>
        public string Game = "";
        /// <summary>Interfaces to browse on (default: LANLOBBY_INTERFACE, else the automatic choice).</summary>
        public List<string> Interfaces = new List<string>();
        public int Port = Beacon.DefaultPort;
        /// <summary>The LAN key: sign queries, accept only packets signed with it.</summary>
        public LanKey Key;
        public TimeSpan ReplayWindow = Beacon.DefaultReplayWindow;
        public int MaxLobbies = LanBrowser.DefaultMaxLobbies;
        public string Group4 = Beacon.GroupIPv4, Group6 = Beacon.GroupIPv6;
    }

    /// <summary>
    /// Finds lobbies on the LAN by beacon. Start() opens the sockets and
    /// queries; Lobbies/Coordinators are the current view; Events holds the
    /// added/updated/removed changes for the game to drain on its own thread.
    /// </summary>
    public sealed class LanBrowser : IDisposable
    {
        public const int DefaultMaxLobbies = 4096;
        public const int MaxEvents = 4096;
        /// <summary>Delays after Start of the queries that make up for a lost one.</summary>
        public static readonly int[] QueryScheduleMs = { 0, 250, 1000 };
        public const int ExpiryTickMs = 200;

        readonly BrowserOptions opt;
        readonly BeaconTable table;
        readonly object mu = new object();
        readonly List<Socket> socks = new List<Socket>();
        readonly CancellationTokenSource quit = new CancellationTokenSource();
        Socket query4, query6;
        List<NetInterface> v4 = new List<NetInterface>(), v6 = new List<NetInterface>();
        Timer expiry;
        IPAddress group4, group6;
        public readonly EventQueue<BrowseEvent> Events = new EventQueue<BrowseEvent>(MaxEvents);
        public long Packets, Malformed, Unsigned, BadSignature, BadTimestamp;

        public LanBrowser(BrowserOptions options = null)
        {
            opt = options ?? new BrowserOptions();
            opt.Game = (opt.Game ?? "").ToLowerInvariant();
            table = new BeaconTable(opt.Game, opt.MaxLobbies, opt.Key != null ? 2 * opt.ReplayWindow.TotalSeconds : 0);
        }

        static double Now() { return Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency; }

        public List<NetInterface> InterfacesInUse { get { return new List<NetInterface>(v4.Count > 0 ? v4 : v6); } }

        /// <summary>Opens the sockets on every chosen interface and starts querying.</summary>
        public void Start()
        {
            var ifaces = NetInterfaces.Select(opt.Interfaces);
            group4 = IPAddress.Parse(opt.Group4);
            group6 = IPAddress.Parse(opt.Group6);
            foreach (var i in ifaces)
            {
                if (i.IPv4.Count > 0) v4.Add(i);
                if (i.IPv6.Count > 0 && i.Multicast && !i.Loopback && i.Index > 0) v6.Add(i);
            }
            var errs = new List<string>();
            if (v4.Count > 0)
                try { Open4(); }
                catch (Exception e) { errs.Add(e.Message); v4.Clear(); }
            if (v6.Count > 0 && Socket.OSSupportsIPv6)
                try { Open6(); }
                catch (Exception e) { errs.Add(e.Message); v6.Clear(); }
            if (socks.Count == 0)
            {
                Dispose();
                throw new LobbyException("cannot open beacon sockets: " + (errs.Count > 0 ? string.Join("; ", errs.ToArray()) : "no interface with an address"));
            }
            foreach (var s in socks)
            {
                var sock = s;
                new Thread(() => Receive(sock)) { IsBackground = true, Name = "lanlobby-beacon" }.Start();
            }
            expiry = new Timer(_ => Apply(() => table.Expire(Now())), null, ExpiryTickMs, ExpiryTickMs);
            Task.Run(async () =>
            {
                int at = 0;
                foreach (var ms in QueryScheduleMs)
                {
                    try { await Task.Delay(ms - at, quit.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { return; }
                    at = ms;
                    Query();
                }
            });
        }

        void Open4()
        {
            var ls = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socks.Add(ls);
            ls.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            ls.Bind(new IPEndPoint(IPAddress.Any, opt.Port));
            int joined = 0;
            foreach (var i in v4)
                try
                {
                    ls.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(group4, i.IPv4[0]));
                    joined++;
                }
                catch (SocketException) { }
            if (joined == 0) throw new LobbyException("joined the IPv4 beacon group on no interface");
            query4 = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socks.Add(query4);
            query4.Bind(new IPEndPoint(IPAddress.Any, 0));
            query4.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 1);
            query4.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
        }

        void Open6()
        {
            var ls = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                ls.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.IPv6Only, true);
                ls.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                ls.Bind(new IPEndPoint(IPAddress.IPv6Any, opt.Port));
                int joined = 0;
                foreach (var i in v6)
                    try
                    {
                        ls.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(group6, i.Index));
                        joined++;
                    }
                    catch (SocketException) { }
                if (joined == 0) throw new LobbyException("joined the IPv6 beacon group on no interface");
            }
            catch
            {
                ls.Close();
                throw;
            }
            socks.Add(ls);
            query6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
            socks.Add(query6);
            query6.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.IPv6Only, true);
            query6.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
            query6.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 1);
            query6.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastLoopback, true);
        }

        /// <summary>Asks every host to answer at once (every interface and family).</summary>
        public void Query()
        {
            var pkt = Beacon.PadQuery(Beacon.Encode(new BeaconPacket { Kind = Beacon.KindQuery, Seq = (uint)new Random().Next(), Game = opt.Game }), opt.Key != null);
            if (opt.Key != null) pkt = Beacon.Sign(opt.Key, pkt, Beacon.UnixMs(DateTime.UtcNow));
            lock (mu) table.Queried(Now());
            if (query4 != null)
                foreach (var i in v4)
                    try
                    {
                        lock (query4)
                        {
                            query4.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, BitConverter.ToInt32(i.IPv4[0].GetAddressBytes(), 0));
                            query4.SendTo(pkt, new IPEndPoint(group4, opt.Port));
                        }
                    }
                    catch (Exception) { } // one interface failing must not stop the others
            if (query6 != null)
                foreach (var i in v6)
                    try
                    {
                        lock (query6)
                        {
                            query6.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, i.Index);
                            var g = new IPAddress(group6.GetAddressBytes(), i.Index);
                            query6.SendTo(pkt, new IPEndPoint(g, opt.Port));
                        }
                    }
                    catch (Exception) { }
        }

        void Receive(Socket s)
        {
            var buf = new byte[Beacon.MaxPacket + 1];
            while (!quit.IsCancellationRequested)
            {
                EndPoint from = s.AddressFamily == AddressFamily.InterNetwork ? new IPEndPoint(IPAddress.Any, 0) : new IPEndPoint(IPAddress.IPv6Any, 0);
                int n;
                try { n = s.ReceiveFrom(buf, ref from); }
                catch (ObjectDisposedException) { return; }
                catch (SocketException)
                {
                    if (quit.IsCancellationRequested) return;
                    continue; // ICMP errors and the like
                }
                Packet(buf, n, ((IPEndPoint)from).Address);
            }
        }

        void Packet(byte[] b, int n, IPAddress from)
        {
            BeaconPacket p;
            int tail;
            try { p = Beacon.Decode(b, n, out tail); }
            catch (NotBeaconException) { return; }
            catch (BeaconException)
            {
                Interlocked.Increment(ref Malformed);
                return;
            }
            Interlocked.Increment(ref Packets);
            if (p.Kind == Beacon.KindQuery) return; // a browser does not answer queries
            if (opt.Key != null)
                try { Beacon.Verify(opt.Key, b, n, tail, Beacon.UnixMs(DateTime.UtcNow), opt.ReplayWindow); }
                catch (SignatureException e)
                {
                    if (e.Kind == "unsigned") Interlocked.Increment(ref Unsigned);
                    else if (e.Kind == "bad_timestamp") Interlocked.Increment(ref BadTimestamp);
                    else Interlocked.Increment(ref BadSignature);
                    return;
                }
            if (from.IsIPv4MappedToIPv6) from = from.MapToIPv4();
            Apply(() => table.Observe(Now(), p, from, from.AddressFamily == AddressFamily.InterNetworkV6 ? from.ScopeId.ToString() : ""));
        }

        // Apply changes the table and queues the resulting events under one
        // lock: packets of one lobby arrive on several threads (one per socket),
        // and a consumer applying the events in order must end with the
        // table's state (an Added after its Updated would undo the update).
        void Apply(Func<List<BrowseEvent>> change)
        {
            lock (mu)
                foreach (var ev in change()) Events.Push(ev);
        }

        /// <summary>The lobbies visible now, by id.</summary>
        public List<LanLobbyInfo> Lobbies { get { lock (mu) return table.Snapshot(); } }

        /// <summary>The coordinator daemons visible now, by id.</summary>
        public List<LanCoordinatorInfo> Coordinators { get { lock (mu) return table.Coordinators(); } }

        public int DrainEvents(Action<BrowseEvent> handler, int max = int.MaxValue) { return Events.Drain(handler, max); }

        public void Dispose()
        {
            quit.Cancel();
            if (expiry != null) expiry.Dispose();
            foreach (var s in socks)
                try { s.Close(); }
                catch (Exception) { }
            socks.Clear();
            Events.Complete();
        }
    }
}
