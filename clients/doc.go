// Package clients holds lanlobby's SDKs for games not written in Go, and the
// Go tests that drive them against the real coordinator:
//
//   - csharp/: the C# SDK for Unity and .NET (Runtime/ is the library,
//     Samples/ a sample, Tests~/ its test program). The tests compile it with
//     Mono's mcs and run it with mono.
//   - python/: the Python SDK (pip install ./clients/python). The tests run
//     its unittest suite with python3 and install it into a fresh venv.
//   - conformance/: one script the Go, C# and Python clients follow through
//     their drivers (godriver/ is the Go one), run by TestConformance on a
//     proxy that checks every line against PROTOCOL.md (wirecheck_test.go).
//
// Loopback tests pin LAN discovery to lo (LANLOBBY_INTERFACE=lo) and run
// coordinators with --announce=false; the lab tests multicast only inside
// network namespaces (internal/netlab). There is no Go API here.
package clients
