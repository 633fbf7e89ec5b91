package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// lineConn is a raw protocol connection with a small read buffer.
type lineConn struct {
	c    net.Conn
	br   *bufio.Reader
	id   string // member id from hello
	long []byte // assembles lines longer than br's buffer
	out  []byte // pong scratch
}

const maxReplyLine = 64 << 20

// readLine returns the next line without its newline, valid until the next
// call. Replies can be long (a list reply), pushes are not.
func (l *lineConn) readLine() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if err == nil {
		return trimEOL(line), nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	l.long = append(l.long[:0], line...)
	for {
		line, err = l.br.ReadSlice('\n')
		l.long = append(l.long, line...)
		switch {
		case err == nil:
			return trimEOL(l.long), nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		case len(l.long) > maxReplyLine:
			return nil, errors.New("bench: line over 64 MiB")
		}
	}
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

var pingPrefix = []byte(`{"event":"ping","seq":`)

// answerPing recognises the coordinator's ping by its prefix, as the Go
// client does, and echoes its seq in a pong without decoding anything.
func (l *lineConn) answerPing(line []byte) (bool, error) {
	if !bytes.HasPrefix(line, pingPrefix) || line[len(line)-1] != '}' {
		return false, nil
	}
	l.out = append(l.out[:0], `{"op":"pong","seq":`...)
	l.out = append(l.out, line[len(pingPrefix):len(line)-1]...)
	l.out = append(l.out, "}\n"...)
	_, err := l.c.Write(l.out)
	return true, err
}

var idPrefix = []byte(`{"id":`)

// replyID reads the integer id at the start of a reply ({"id":N,...}).
func replyID(line []byte) (int64, bool) {
	if !bytes.HasPrefix(line, idPrefix) {
		return 0, false
	}
	rest := line[len(idPrefix):]
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return id, err == nil
}

var okTrue = []byte(`,"ok":true`)

// replyOK reports whether a reply says ok: the coordinator writes "ok"
// right after "id".
func replyOK(line []byte) bool {
	i := bytes.IndexByte(line, ',')
	return i >= 0 && bytes.HasPrefix(line[i:], okTrue)
}

func replyError(line []byte) error {
	var r struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(line, &r) != nil || r.Error == nil {
		return fmt.Errorf("unexpected reply %.200s", line)
	}
	return fmt.Errorf("%s: %s", r.Error.Code, r.Error.Message)
}

// stringField returns the string value that follows key (which ends with
// the opening quote) in line; ids never contain escapes.
func stringField(line []byte, key string) string {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
