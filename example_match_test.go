package lanlobby_test

import (
	"context"
	"fmt"

	"github.com/lanlobby/lanlobby"
)

// A party leader quick-joins "version 1.4, map dunes, 3 seats for me and
// my friends" in one call, then hands the lobby id and the reservation's
// token to its friends, who claim their seats within the window.
func ExampleQuickJoin_party() {
	ctx := context.Background()
	cfg := lanlobby.DefaultConfig()
	cfg.PlayerKey = "a key the game made once with lanlobby.NewPlayerKey and keeps"
	s, err := lanlobby.QuickJoin(ctx, cfg, "demo", lanlobby.JoinOptions{Port: 7777, Seats: 3,
		Filter: lanlobby.Filter{Version: "1.4", Meta: map[string]string{"map": "dunes"}}})
	if err != nil {
		fmt.Println("no lobby for the party:", err)
		return
	}
	defer s.Close()
	invite := s.Reservation().Token // with s.ID(), through the game's own party channel

	// On each friend's machine:
	friend, err := lanlobby.Join(ctx, lanlobby.DefaultConfig(), s.ID(), lanlobby.JoinOptions{Port: 7777, Reservation: invite})
	if err == nil {
		defer friend.Close()
	}
}

// A host marks the metadata players filter on, so that the LAN carries it.
func ExampleHost_filterable() {
	s, err := lanlobby.Host(context.Background(), lanlobby.DefaultConfig(), lanlobby.HostOptions{
		Game: "demo", Name: "Alice's game", Players: 4, Port: 7777,
		Version: "1.4.2", Meta: map[string]string{"map": "dunes", "mode": "ctf", "motd": "hi all"},
		Filterable: []string{"map", "mode"}})
	if err == nil {
		defer s.Close()
	}
}
