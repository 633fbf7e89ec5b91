// Package tcpconn provides the persistent, framed TCP links that lanlobby's
// coordinator holds to every lobby member: newline-delimited frames with a hard
// length limit, a bounded outbound queue drained by one writer goroutine with a
// write deadline, and a heartbeat that drops silent peers.
//
// The package knows nothing about the messages inside the frames: callers
// supply the ping frame and report pongs, so the same link serves the
// coordinator (which pings) and the client (which only watches for silence).
package tcpconn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// DefaultMaxLineLength is the largest frame, in bytes without the trailing
// newline, that a link accepts. It is part of the wire protocol (PROTOCOL.md).
const DefaultMaxLineLength = 64 * 1024

// ErrLineTooLong is returned by LineReader.ReadLine when a frame exceeds the
// maximum length. The stream cannot be resynchronised safely after it, so
// links treat it as a protocol violation and disconnect.
var ErrLineTooLong = errors.New("tcpconn: line exceeds maximum length")

// LineReader splits a byte stream into newline-terminated frames. A "\r"
// before the newline is dropped, so "\r\n" line endings work too. Frames are
// returned without their terminator.
type LineReader struct {
	br   *bufio.Reader
	max  int
	buf  []byte      // assembles frames longer than the bufio buffer
	hold *budgetHold // buf's share of a Budget, or nil

	// With idle set (withIdleRelease), br goes back to pool whenever
	// nothing is buffered, and idle waits for the next bytes before one
	// is taken again: an idle stream holds no read buffer.
	src  io.Reader
	size int
	pool *sync.Pool
	idle func() error
}

// NewLineReader returns a reader of frames of at most max bytes (max <= 0
// means DefaultMaxLineLength).
func NewLineReader(r io.Reader, max int) *LineReader {
	return newLineReaderSize(r, max, 0)
}

func newLineReaderSize(r io.Reader, max, size int) *LineReader {
	lr := newLineReaderNoBuffer(r, max, size)
	lr.br = bufio.NewReaderSize(r, lr.size)
	return lr
}

// newLineReaderNoBuffer is newLineReaderSize without the read buffer yet:
// withIdleRelease takes it from a pool when bytes come.
func newLineReaderNoBuffer(r io.Reader, max, size int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLineLength
	}
	if size <= 0 {
		size = 4096
	}
	if max+1 < size {
		size = max + 1
	}
	if size < 16 {
		size = 16 // bufio's minimum
	}
	return &LineReader{max: max, src: r, size: size}
}

// readerPools holds a pool of idle read buffers (bufio.Readers) per size.
var readerPools sync.Map // int -> *sync.Pool

func readerPool(size int) *sync.Pool {
	if p, ok := readerPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := readerPools.LoadOrStore(size, &sync.Pool{New: func() any { return bufio.NewReaderSize(nil, size) }})
	return p.(*sync.Pool)
}

// withIdleRelease makes the reader hand its read buffer to a pool shared
// by every reader of its size whenever it has nothing buffered, and take
// one back once wait says the stream has bytes again. Thousands of idle
// links then hold a read buffer only while they read.
func (lr *LineReader) withIdleRelease(wait func() error) {
	lr.pool, lr.idle = readerPool(lr.size), wait
	if lr.br != nil {
		lr.br.Reset(nil)
		lr.pool.Put(lr.br)
		lr.br = nil
	}
}

// take gets a read buffer from the pool once the stream has bytes.
func (lr *LineReader) take() error {
	if err := lr.idle(); err != nil {
		return err
	}
	lr.br = lr.pool.Get().(*bufio.Reader)
	lr.br.Reset(lr.src)
	return nil
}

// release gives the read buffer back when it holds nothing.
func (lr *LineReader) release() {
	if lr.idle != nil && lr.br != nil && lr.br.Buffered() == 0 {
		lr.br.Reset(nil)
		lr.pool.Put(lr.br)
		lr.br = nil
	}
}

// withBudget makes the reader take the memory of frames longer than its
// read buffer from b; evict is how b takes it back (it must close the
// stream, so that a blocked read returns).
func (lr *LineReader) withBudget(b *Budget, evict func()) {
	lr.hold = &budgetHold{b: b, evict: evict, pos: -1}
}

// ReadLine returns the next frame. The slice is valid only until the next
// call. It returns ErrLineTooLong as soon as a frame grows past the limit,
// without reading the rest of it, and io.EOF when the stream ends, also when
// it ends inside an unterminated frame (a peer that vanishes mid-frame has
// sent nothing usable). With a budget, a frame that cannot get its memory
// ends the stream with ErrLineBudget.
func (lr *LineReader) ReadLine() ([]byte, error) {
	lr.reset()
	lr.release()
	if lr.br == nil {
		if err := lr.take(); err != nil {
			return nil, err
		}
	}
	for {
		chunk, err := lr.br.ReadSlice('\n')
		switch {
		case err == nil:
			var line []byte
			if len(lr.buf) == 0 {
				line = chunk[:len(chunk)-1]
			} else {
				if err := lr.grow(len(chunk) - 1); err != nil {
					return nil, err
				}
				lr.buf = append(lr.buf, chunk[:len(chunk)-1]...)
				line = lr.buf
			}
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if len(line) > lr.max {
				return nil, ErrLineTooLong
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(lr.buf)+len(chunk) > lr.max+1 { // +1: room for a trailing '\r'
				return nil, ErrLineTooLong
			}
			if err := lr.grow(len(chunk)); err != nil {
				return nil, err
			}
			lr.buf = append(lr.buf, chunk...)
		default:
			if len(lr.buf)+len(chunk) > lr.max+1 {
				return nil, ErrLineTooLong
			}
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
	}
}

// reset forgets the previous frame. With a budget, a buffer that held a
// long frame is dropped and its memory given back: only links in the
// middle of a long frame hold any.
func (lr *LineReader) reset() {
	if lr.hold != nil && lr.buf != nil {
		lr.buf = nil
		lr.hold.release()
	}
	lr.buf = lr.buf[:0]
}

// grow makes room for n more bytes in buf, taking them from the budget.
func (lr *LineReader) grow(n int) error {
	need := len(lr.buf) + n
	if lr.hold == nil || need <= cap(lr.buf) {
		return nil
	}
	// Double, as append would, but never past the largest frame: the
	// budget is charged exactly what is allocated.
	size := max(need, min(max(2*cap(lr.buf), 512), lr.max+2))
	if err := lr.hold.reserve(int64(size - cap(lr.buf))); err != nil {
		return err
	}
	buf := make([]byte, len(lr.buf), size)
	copy(buf, lr.buf)
	lr.buf = buf
	return nil
}

// close gives back what the reader holds, when its stream has ended.
func (lr *LineReader) close() {
	if lr.hold != nil {
		lr.buf = nil
		lr.hold.release()
	}
	if lr.idle != nil && lr.br != nil {
		lr.br.Reset(nil)
		lr.pool.Put(lr.br)
		lr.br = nil
	}
}
