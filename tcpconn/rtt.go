package tcpconn

import "time"

// PongRTT records the answer to ping seq, as Pong does, and returns the
// round trip it measured: from the ping leaving (queued to the socket) to
// this call. ok is false for an answer to an older ping, or when no ping
// was sent: then the RTT is left as it was. A coordinator feeds the
// result to its round-trip histogram.
func (c *Conn) PongRTT(seq uint64) (rtt time.Duration, ok bool) {
	now := time.Duration(monoNow())
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if seq != c.pingSeq || c.pingSentAt <= 0 {
		return 0, false
	}
	rtt = now - c.pingSentAt
	c.rtt.Store(int64(rtt))
	c.pingSentAt = 0 // one measurement per ping: a duplicate answer is not another
	return rtt, true
}
