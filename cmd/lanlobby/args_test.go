package main

import (
	"io"
	"slices"
	"testing"
)

func TestInterspersedArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	cases := []struct{ in, want []string }{
		{[]string{"ll", "join", "ID", "--port", "7777", "--json"}, []string{"ll", "join", "--port", "7777", "--json", "ID"}},
		{[]string{"ll", "join", "--json", "ID", "-p", "1"}, []string{"ll", "join", "--json", "-p", "1", "ID"}},
		{[]string{"ll", "join", "--port=1", "ID"}, []string{"ll", "join", "--port=1", "ID"}},
		{[]string{"ll", "join", "ID", "--", "--weird"}, []string{"ll", "join", "ID", "--", "--weird"}},
		{[]string{"ll", "bench", "latency", "--rounds", "5"}, []string{"ll", "bench", "latency", "--rounds", "5"}},
		{[]string{"ll", "nosuch", "x", "--y"}, []string{"ll", "nosuch", "x", "--y"}},
		{[]string{"ll"}, []string{"ll"}},
	}
	for _, tc := range cases {
		if got := interspersed(app, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q -> %q, want %q", tc.in, got, tc.want)
		}
	}
}
