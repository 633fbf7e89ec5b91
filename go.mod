module github.com/lanlobby/lanlobby

go 1.26.8

require (
	github.com/hashicorp/mdns v1.0.7
	github.com/libp2p/zeroconf/v2 v2.2.0
	github.com/miekg/dns v1.1.73
	github.com/urfave/cli/v2 v2.27.7
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
)
