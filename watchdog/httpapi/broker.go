package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// frame is one event rendered once as an SSE message, shared by every client.
type frame struct {
	id   int64
	data []byte
}

func render(e watchdog.Event) frame {
	b, err := json.Marshal(e)
	if err != nil {
		// An Event holds only strings, numbers and a time: this cannot fail.
		b = []byte(fmt.Sprintf(`{"id":%d,"type":%q}`, e.ID, e.Type))
	}
	return frame{id: e.ID, data: []byte(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b))}
}

// subscriber is one SSE client's queue.
type subscriber struct {
	ch chan frame
	// gone is closed when the broker drops the client (too slow) or closes.
	gone chan struct{}
}

// Broker fans events out to subscribers. Publish only queues the event;
// Run, on a goroutine of its own, does the fan-out, so the tick's cost
// does not grow with the number of clients. The zero value is not usable;
// use NewBroker, then Run it until the daemon stops.
type Broker struct {
	buffer int

	qmu   sync.Mutex // the queue; Publish takes only this
	queue []frame
	wake  chan struct{}
	done  chan struct{}

	mu      sync.Mutex // subscribers
	subs    map[*subscriber]struct{}
	closed  bool
	dropped int64
}

// maxQueue bounds events waiting for fan-out; past it the fan-out has
// fallen hopelessly behind, and every client is dropped to resume from the
// event log instead.
const maxQueue = 1 << 16

// NewBroker returns a broker giving each client a queue of buffer events.
func NewBroker(buffer int) *Broker {
	if buffer < 1 {
		buffer = 1
	}
	return &Broker{buffer: buffer, subs: map[*subscriber]struct{}{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Run fans published events out until ctx ends, then closes the broker:
// every stream ends, so http.Server.Shutdown does not wait for them.
func (b *Broker) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, b.Close)
	defer stop()
	b.fanout()
	return nil
}

// Publish implements watchdog.Publisher. It never blocks.
func (b *Broker) Publish(e watchdog.Event) {
	f := render(e)
	b.qmu.Lock()
	overflow := len(b.queue) >= maxQueue
	if overflow {
		b.queue = b.queue[:0]
	} else {
		b.queue = append(b.queue, f)
	}
	b.qmu.Unlock()
	if overflow {
		b.dropAll()
		return
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Broker) fanout() {
	for {
		select {
		case <-b.done:
			return
		case <-b.wake:
		}
		b.qmu.Lock()
		q := b.queue
		b.queue = nil
		b.qmu.Unlock()
		b.mu.Lock()
		for _, f := range q {
			for s := range b.subs {
				select {
				case s.ch <- f:
				default: // too slow: drop it rather than wait
					delete(b.subs, s)
					close(s.gone)
					b.dropped++
				}
			}
		}
		b.mu.Unlock()
	}
}

func (b *Broker) dropAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		delete(b.subs, s)
		close(s.gone)
		b.dropped++
	}
}

// subscribe registers a client; ok is false once the broker is closed.
func (b *Broker) subscribe() (*subscriber, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false
	}
	s := &subscriber{ch: make(chan frame, b.buffer), gone: make(chan struct{})}
	b.subs[s] = struct{}{}
	return s, true
}

func (b *Broker) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.gone)
	}
}

// Close ends every stream and refuses new ones (http.Server.Shutdown would
// otherwise wait for them forever), and stops the fan-out.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	close(b.done)
	for s := range b.subs {
		delete(b.subs, s)
		close(s.gone)
	}
}

// Stats reports the connected and dropped client counts.
func (b *Broker) Stats() (subscribers int, dropped int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs), b.dropped
}

var _ watchdog.Publisher = (*Broker)(nil)
