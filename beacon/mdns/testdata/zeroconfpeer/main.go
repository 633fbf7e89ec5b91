// Command zeroconfpeer publishes one service with libp2p/zeroconf/v2, as
// an independent mDNS responder for the lab tests. It runs as its own
// process (inside a lab host's namespace) because zeroconf's SetText
// races with its receive goroutines, which the race detector would
// report against the test binary.
//
// It prints "registered" once the service is registered, "text set"
// after SIGUSR1 switched the TXT record to -txt2, and exits after
// SIGTERM or SIGINT, sending goodbyes (Shutdown).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/libp2p/zeroconf/v2"
)

func main() {
	instance := flag.String("instance", "", "instance name")
	service := flag.String("service", "_lanlobby._tcp", "service type")
	port := flag.Int("port", 0, "port")
	host := flag.String("host", "", "host name (RegisterProxy)")
	ips := flag.String("ips", "", "comma-separated addresses")
	iface := flag.String("iface", "lan0", "interface")
	txt := flag.String("txt", "", "comma-separated TXT strings")
	txt2 := flag.String("txt2", "", "comma-separated TXT strings set on SIGUSR1")
	flag.Parse()
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		log.Fatal(err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	srv, err := zeroconf.RegisterProxy(*instance, *service, "local.", *port, *host,
		strings.Split(*ips, ","), strings.Split(*txt, ","), []net.Interface{*ifi})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered")
	for s := range sigs {
		if s == syscall.SIGUSR1 {
			srv.SetText(strings.Split(*txt2, ","))
			fmt.Println("text set")
			continue
		}
		srv.Shutdown()
		fmt.Println("shut down")
		return
	}
}
