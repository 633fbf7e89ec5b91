module github.com/lanlobby/lanlobby

go 1.26.8

require go.uber.org/goleak v1.3.0

require (
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
