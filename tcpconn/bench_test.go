package tcpconn

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// BenchmarkLineReader measures frame splitting of a stream of typical
// request-sized lines.
func BenchmarkLineReader(b *testing.B) {
	line := []byte(`{"op":"join","id":123,"lobby":"abcdefghij","port":7777}` + "\n")
	stream := bytes.Repeat(line, 1000)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	r := bytes.NewReader(stream)
	for i := 0; i < b.N; i++ {
		r.Reset(stream)
		lr := NewLineReader(r, 0)
		for {
			if _, err := lr.ReadLine(); errors.Is(err, io.EOF) {
				break
			}
		}
	}
}
