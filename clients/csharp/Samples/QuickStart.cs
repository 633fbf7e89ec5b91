// The lanlobby SDK in a game, in a few lines. In Unity, LobbyGame is what a
// MonoBehaviour holds: call HostOnLan or QuickJoinOnLan from Start (await them
// in an async method), and Update() from the MonoBehaviour's Update, so every
// lobby event reaches the game on its main thread:
//
//   public class Lobby : MonoBehaviour {
//       readonly LobbyGame game = new LobbyGame();
//       async void Start() { await game.QuickJoinOnLan("demo", 7777, "Bob"); }
//       void Update() { game.Update(); }
//       void OnDestroy() { game.Dispose(); }
//   }
using System;
using System.Collections.Generic;
using System.Threading.Tasks;

namespace LanLobby.Samples
{
    public sealed class LobbyGame : IDisposable
    {
        LobbyClient client;
        HostedLobby hosted;
        public readonly List<string> Log = new List<string>();

        /// <summary>Host: a coordinator daemon on the LAN if there is one, else the
        /// lanlobby binary shipped beside the game; the lobby is announced on the LAN.</summary>
        public async Task HostOnLan(string game, string name, int players, int gamePort, string player)
        {
            var o = new HostOptions();
            o.Lan.Client.Player = player;
            hosted = await Lan.HostAsync(new CreateOptions { Game = game, Name = name, Capacity = players, Port = gamePort }, o);
            client = hosted.Client;
            Log.Add("hosting " + hosted.LobbyId);
        }

        /// <summary>Quick-join the lobby of game closest to starting, found by beacon.</summary>
        public async Task QuickJoinOnLan(string game, int gamePort, string player)
        {
            var o = new LanOptions();
            o.Client.Player = player;
            var j = await Lan.QuickJoinAsync(game, new JoinOptions { Port = gamePort }, o);
            client = j.Client;
            foreach (var p in j.Joined.Peers) Log.Add("connect to " + p.Name + " at " + p.Addr); // your game's own transport
        }

        /// <summary>Once a frame, on the game's thread.</summary>
        public void Update()
        {
            if (client != null) client.DrainEvents(OnEvent);
        }

        void OnEvent(LobbyEvent ev)
        {
            switch (ev.Kind)
            {
                case EventKind.MemberJoined: Log.Add("member_joined " + ev.Member.Name + " " + ev.Member.Addr); break;
                case EventKind.MemberLeft: Log.Add("member_left " + ev.Member.Name + " (" + ev.Reason + ")"); break;
                case EventKind.Started: Log.Add("started with " + ev.Peers.Count); break;
                // The host's game died or the link dropped: say so at once;
                // the SDK reconnects, or follows the lobby to its successor.
                case EventKind.CoordinatorLost: Log.Add("reconnecting (" + ev.Next + ")"); break;
                case EventKind.Reconnecting: Log.Add("still reconnecting, " + (int)ev.Elapsed.TotalSeconds + " s"); break;
                case EventKind.TakenOver: Log.Add(ev.Member.Name + " left; " + ev.Lobby.Owner + " hosts now"); break; // drop ev.Member, hand host authority over
                case EventKind.Error: Log.Add("lost the coordinator: " + ev.Error.Message); break;
                default: Log.Add(ev.Kind); break;
            }
        }

        public void Dispose()
        {
            if (hosted != null) hosted.Dispose();
            else if (client != null) client.Dispose();
        }
    }

    public static class QuickStart
    {
        /// <summary>The same game against a known coordinator (what the SDK's
        /// tests run): one player creates, another quick-joins, and the frame
        /// loop sees the notice.</summary>
        public static async Task<List<string>> RunAgainst(string coordinator)
        {
            using (var owner = await LobbyClient.ConnectAsync(coordinator, new ClientOptions { Player = "Alice" }))
            using (var player = await LobbyClient.ConnectAsync(coordinator, new ClientOptions { Player = "Bob" }))
            {
                var log = new List<string>();
                await owner.CreateAsync(new CreateOptions { Game = "sample", Name = "Alice's game", Capacity = 2, Port = 7777 });
                var j = await player.QuickJoinAsync("sample", new JoinOptions { Port = 7778 });
                foreach (var p in j.Peers) log.Add("connect to " + p.Name + " at " + p.Addr);
                for (int frame = 0; frame < 300 && !log.Exists(l => l.StartsWith("member_joined")); frame++)
                {
                    owner.DrainEvents(ev => log.Add(ev.Kind + " " + (ev.Member != null ? ev.Member.Name : "")));
                    await Task.Delay(10); // the next frame
                }
                return log;
            }
        }
    }
}
