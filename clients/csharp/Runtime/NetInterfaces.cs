// Which network interfaces LAN discovery uses: the Go side's policy (up,
// multicast-capable, not point-to-point, not loopback, not a container, VM or
// VPN bridge by name), or exactly the interfaces named (the Interfaces option
// or LANLOBBY_INTERFACE, comma-separated), loopback included.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace LanLobby
{
    public sealed class NetInterface
    {
        public string Name = "";
        /// <summary>The OS interface index (IPv6 scope id, multicast joins).</summary>
        public int Index;
        public bool Loopback, Multicast;
        public List<IPAddress> IPv4 = new List<IPAddress>();
        public List<IPAddress> IPv4Masks = new List<IPAddress>();
        /// <summary>Global addresses first, then link-local.</summary>
        public List<IPAddress> IPv6 = new List<IPAddress>();

        public override string ToString() { return Name + "#" + Index; }
    }

    public static class NetInterfaces
    {
        public const string EnvInterface = "LANLOBBY_INTERFACE";

        static readonly string[] VirtualPrefixes =
        {
            "docker", "br-", "veth", "virbr", "vnet", "lxcbr", "lxdbr", "podman", "cni", "flannel", "cali", "weave", "vxlan",
            "kube-", "genev", "tun", "utun", "wg", "tailscale", "awdl", "llw", "anpi", "vEthernet",
        };

        public static bool IsVirtualName(string name)
        {
            foreach (var p in VirtualPrefixes)
                if (name.StartsWith(p, StringComparison.Ordinal)) return true;
            return false;
        }

        /// <summary>Every interface of this host.</summary>
        public static List<NetInterface> All()
        {
            var out_ = new List<NetInterface>();
            foreach (var n in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (n.OperationalStatus != OperationalStatus.Up && n.OperationalStatus != OperationalStatus.Unknown) continue;
                var it = new NetInterface
                {
                    Name = n.Name, Loopback = n.NetworkInterfaceType == NetworkInterfaceType.Loopback,
                    Multicast = n.SupportsMulticast && n.NetworkInterfaceType != NetworkInterfaceType.Ppp &&
                                n.NetworkInterfaceType != NetworkInterfaceType.Tunnel,
                };
                var ll = new List<IPAddress>();
                IPInterfaceProperties props = null;
                try { props = n.GetIPProperties(); } catch (Exception) { }
                if (props != null)
                    foreach (var a in props.UnicastAddresses)
                    {
                        var ip = a.Address;
                        if (ip.AddressFamily == AddressFamily.InterNetwork)
                        {
                            if (IPAddress.IsLoopback(ip) && !it.Loopback) continue;
                            it.IPv4.Add(ip);
                            IPAddress mask = null;
                            try { mask = a.IPv4Mask; } catch (Exception) { }
                            it.IPv4Masks.Add(mask ?? IPAddress.Broadcast);
                        }
                        else if (ip.AddressFamily == AddressFamily.InterNetworkV6)
                        {
                            if (ip.IsIPv6LinkLocal)
                            {
                                if (ip.ScopeId > 0) it.Index = (int)ip.ScopeId;
                                ll.Add(ip);
                            }
                            else if (!ip.IsIPv6Multicast && !ip.Equals(IPAddress.IPv6Any) && (it.Loopback || !IPAddress.IsLoopback(ip))) it.IPv6.Add(ip);
                        }
                    }
                it.IPv6.AddRange(ll);
                if (it.Index == 0) it.Index = IndexOf(n, props);
                out_.Add(it);
            }
            return out_;
        }

        // The interface index without GetIPv6Properties (Mono throws
        // NotImplementedException there): a link-local address's scope id (set
        // above), the IPv4 properties, or Linux's /sys.
        static int IndexOf(NetworkInterface n, IPInterfaceProperties props)
        {
            try
            {
                var v4 = props != null ? props.GetIPv4Properties() : null;
                if (v4 != null && v4.Index > 0) return v4.Index;
            }
            catch (Exception) { }
            try { return int.Parse(File.ReadAllText("/sys/class/net/" + n.Name + "/ifindex").Trim()); }
            catch (Exception) { return 0; }
        }

        /// <summary>The interfaces to discover on: those named (or in
        /// LANLOBBY_INTERFACE), else the automatic choice.</summary>
        public static List<NetInterface> Select(IList<string> names = null)
        {
            if (names == null || names.Count == 0)
            {
                var env = Environment.GetEnvironmentVariable(EnvInterface) ?? "";
                var l = new List<string>();
                foreach (var s in env.Split(','))
                    if (s.Trim() != "") l.Add(s.Trim());
                names = l;
            }
            var all = All();
            var out_ = new List<NetInterface>();
            if (names.Count > 0)
            {
                foreach (var name in names)
                {
                    var it = all.Find(x => x.Name == name);
                    if (it == null) throw new LobbyException("unknown or down network interface \"" + name + "\"");
                    if (it.IPv4.Count == 0 && it.IPv6.Count == 0) throw new LobbyException("interface \"" + name + "\" has no address");
                    if (!out_.Contains(it)) out_.Add(it);
                }
                return out_;
            }
            foreach (var it in all)
                if (!it.Loopback && it.Multicast && !IsVirtualName(it.Name) && (it.IPv4.Count > 0 || it.IPv6.Count > 0)) out_.Add(it);
            if (out_.Count == 0) throw new LobbyException("no usable network interface for LAN discovery");
            return out_;
        }
    }
}
