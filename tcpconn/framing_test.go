package tcpconn

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, lr *LineReader) ([]string, error) {
	t.Helper()
	var got []string
	for {
		line, err := lr.ReadLine()
		if err != nil {
			return got, err
		}
		got = append(got, string(line))
	}
}

func TestLineReaderTable(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		name  string
		in    string
		max   int
		want  []string
		final error
	}{
		{"empty", "", 0, nil, io.EOF},
		{"one", "{}\n", 0, []string{"{}"}, io.EOF},
		{"crlf", "a\r\nb\n", 0, []string{"a", "b"}, io.EOF},
		{"blank lines kept", "\n\na\n", 0, []string{"", "", "a"}, io.EOF},
		{"unterminated tail dropped", "a\nbc", 0, []string{"a"}, io.EOF},
		{"exactly max", long + "\n", 100, []string{long}, io.EOF},
		{"exactly max with cr", long + "\r\n", 100, []string{long}, io.EOF},
		{"one over max", long + "x\n", 100, nil, ErrLineTooLong},
		{"over max unterminated", long + long, 100, nil, ErrLineTooLong},
		{"long lines over bufio size", strings.Repeat("y", 9000) + "\n", 10000, []string{strings.Repeat("y", 9000)}, io.EOF},
		{"too long over bufio size", strings.Repeat("y", 9000) + "\n", 5000, nil, ErrLineTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, NewLineReader(strings.NewReader(tc.in), tc.max))
			if !errors.Is(err, tc.final) {
				t.Fatalf("final error = %v, want %v", err, tc.final)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("lines = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLineReaderSplitEveryByte feeds the same stream cut at every possible
// point, and one byte at a time, and expects identical frames.
func TestLineReaderSplitEveryByte(t *testing.T) {
	stream := `{"op":"hello","v":1}` + "\n" + `{"op":"join","lobby":"ab\u00e9"}` + "\r\n" + strings.Repeat("z", 300) + "\n"
	want, err := readAll(t, NewLineReader(strings.NewReader(stream), 512))
	if !errors.Is(err, io.EOF) || len(want) != 3 {
		t.Fatalf("baseline: %q %v", want, err)
	}
	for cut := 0; cut <= len(stream); cut++ {
		r := io.MultiReader(strings.NewReader(stream[:cut]), strings.NewReader(stream[cut:]))
		got, err := readAll(t, NewLineReader(r, 512))
		if !errors.Is(err, io.EOF) || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("cut at %d: %q %v", cut, got, err)
		}
	}
	got, err := readAll(t, NewLineReader(iotest.OneByteReader(strings.NewReader(stream)), 512))
	if !errors.Is(err, io.EOF) || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("one byte reader: %q %v", got, err)
	}
	got, err = readAll(t, NewLineReader(iotest.HalfReader(strings.NewReader(stream)), 512))
	if !errors.Is(err, io.EOF) || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("half reader: %q %v", got, err)
	}
}

func TestLineReaderPropagatesReadError(t *testing.T) {
	boom := errors.New("boom")
	lr := NewLineReader(iotest.ErrReader(boom), 0)
	if _, err := lr.ReadLine(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"op\":\"hello\"}\n"), uint16(3))
	f.Add([]byte("a\r\n\nb"), uint16(1))
	f.Add(bytes.Repeat([]byte("q"), 200), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		const max = 64
		whole, errWhole := readAll(t, NewLineReader(bytes.NewReader(data), max))
		cut := int(split) % (len(data) + 1)
		r := io.MultiReader(bytes.NewReader(data[:cut]), iotest.OneByteReader(bytes.NewReader(data[cut:])))
		parts, errParts := readAll(t, NewLineReader(r, max))
		if !errors.Is(errWhole, errParts) && errWhole != errParts {
			t.Fatalf("errors differ: %v vs %v", errWhole, errParts)
		}
		if strings.Join(whole, "\n") != strings.Join(parts, "\n") || len(whole) != len(parts) {
			t.Fatalf("frames differ: %q vs %q", whole, parts)
		}
		for _, l := range whole {
			if len(l) > max || strings.Contains(l, "\n") {
				t.Fatalf("bad frame %q", l)
			}
		}
	})
}

// TestLineReaderReleasesIdleBuffer: with idle release, the reader waits
// for bytes only when it has nothing buffered, and then without a buffer;
// frames already buffered are read without a wait.
func TestLineReaderReleasesIdleBuffer(t *testing.T) {
	lr := newLineReaderSize(strings.NewReader("a\nb\n"), 0, 64)
	waits := 0
	lr.withIdleRelease(func() error {
		waits++
		if lr.br != nil {
			t.Errorf("wait %d with a read buffer held", waits)
		}
		return nil
	})
	for i, want := range []string{"a", "b"} {
		line, err := lr.ReadLine()
		if err != nil || string(line) != want {
			t.Fatalf("line %d: %q, %v", i, line, err)
		}
		if waits != 1 {
			t.Fatalf("after line %d: %d waits, want 1 (the second frame was buffered)", i, waits)
		}
	}
	if _, err := lr.ReadLine(); err != io.EOF || waits != 2 {
		t.Fatalf("end: %v after %d waits", err, waits)
	}
	lr.close()
	if lr.br != nil {
		t.Fatal("the buffer was not given back at the end")
	}
	// A wait that fails ends the stream with its error.
	lr = newLineReaderSize(strings.NewReader("a\n"), 0, 64)
	lr.withIdleRelease(func() error { return io.ErrClosedPipe })
	if _, err := lr.ReadLine(); err != io.ErrClosedPipe {
		t.Fatalf("failed wait: %v", err)
	}
}
