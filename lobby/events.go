package lobby

import "sync"

// eventQueue decouples the link's reader from whoever reads Events: pushes
// never block. A push puts the event straight into the channel when it has
// room and nothing older waits; otherwise the event joins the queue, which
// one goroutine (run) feeds to the channel.
type eventQueue struct {
	out chan Event

	mu       sync.Mutex // guards the fields below, and orders sends on out
	queue    []Event
	inflight bool // run holds events taken from queue and not yet sent
	max      int
	dropped  int64
	done     bool          // no more pushes; close out once drained
	wake     chan struct{} // signals run
	quit     chan struct{} // closed by stop: give up delivering
	stopped  chan struct{} // closed when run returns
	once     sync.Once
}

func newEventQueue(buffer, max int) *eventQueue {
	return &eventQueue{out: make(chan Event, buffer), max: max, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), stopped: make(chan struct{})}
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	if q.done {
		q.mu.Unlock()
		return
	}
	if len(q.queue) == 0 && !q.inflight {
		select {
		case q.out <- ev: // in order: nothing older waits
			q.mu.Unlock()
			return
		default:
		}
	}
	if len(q.queue) >= q.max {
		q.queue = q.queue[1:]
		q.dropped++
	}
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// finish marks the end of pushes: run closes out after delivering the rest.
func (q *eventQueue) finish() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	q.signal()
}

// stop abandons undelivered events and waits for run to return.
func (q *eventQueue) stop() {
	q.finish()
	q.once.Do(func() { close(q.quit) })
	<-q.stopped
}

func (q *eventQueue) droppedCount() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

func (q *eventQueue) run() {
	defer close(q.stopped)
	defer close(q.out)
	for {
		q.mu.Lock()
		batch := q.queue
		q.queue = nil
		q.inflight = len(batch) > 0
		done := q.done
		q.mu.Unlock()
		for _, ev := range batch {
			select {
			case q.out <- ev:
			case <-q.quit:
				return
			}
		}
		q.mu.Lock()
		q.inflight = false
		q.mu.Unlock()
		if done && len(batch) == 0 {
			return
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-q.wake:
		case <-q.quit:
			return
		}
	}
}
