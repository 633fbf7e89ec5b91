// Command example is a tiny game that finds its other player on the LAN
// with the lanlobby library, then says hello over UDP at the game address
// the lobby handed out: what a real game does before its own netcode
// takes over.
//
//	example host   # on one machine: host a lobby, wait for a player
//	example join   # on another: quick-join it
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/lanlobby/lanlobby"
	"github.com/lanlobby/lanlobby/lobby"
)

const exampleGame = "lanlobby-example"

func main() {
	port := flag.Int("port", 7777, "UDP port this game listens on")
	iface := flag.String("interface", "", "network interface to use (default: every LAN interface)")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cfg := lanlobby.DefaultConfig()
	if *iface != "" {
		cfg.Interfaces = []string{*iface}
	}
	var err error
	switch flag.Arg(0) {
	case "host":
		err = host(ctx, cfg, *port)
	case "join":
		err = join(ctx, cfg, *port)
	default:
		err = errors.New("usage: example [-port N] host|join")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// host hosts a lobby for two and answers the first hello.
func host(ctx context.Context, cfg lanlobby.Config, port int) error {
	game, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err != nil {
		return err
	}
	defer game.Close()
	s, err := lanlobby.Host(ctx, cfg, lanlobby.HostOptions{Game: exampleGame, Name: "example", Players: 2, Port: port})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("hosting lobby", s.ID(), "on", s.Coordinator())
	for ev := range s.Events() {
		if ev.Kind == lobby.NoticeMemberJoined {
			fmt.Println("player joined from", ev.Member.Addr)
			break
		}
	}
	return answer(ctx, game)
}

// join quick-joins and says hello to every peer.
func join(ctx context.Context, cfg lanlobby.Config, port int) error {
	game, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err != nil {
		return err
	}
	defer game.Close()
	s, err := lanlobby.QuickJoin(ctx, cfg, exampleGame, lanlobby.JoinOptions{Port: port})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("joined lobby", s.ID())
	for _, p := range s.Peers() {
		if err := hello(ctx, game, p.Addr); err != nil {
			return err
		}
	}
	return nil
}

// hello sends a hello to addr until the answer comes (UDP may drop one).
func hello(ctx context.Context, conn *net.UDPConn, addr string) error {
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		if _, err := conn.WriteToUDP([]byte("hello"), to); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := conn.ReadFromUDP(buf)
		if err == nil && strings.HasPrefix(string(buf[:n]), "hello back") {
			fmt.Printf("got %q from %v\n", buf[:n], from)
			return nil
		}
	}
	return ctx.Err()
}

// answer waits for one hello and answers it.
func answer(ctx context.Context, conn *net.UDPConn) error {
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil || string(buf[:n]) != "hello" {
			continue
		}
		fmt.Printf("got %q from %v\n", buf[:n], from)
		_, err = conn.WriteToUDP([]byte("hello back"), from)
		return err
	}
	return ctx.Err()
}
