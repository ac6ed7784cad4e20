package httpapi

import (
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

// Broker fans events out to subscribers. The zero value is not usable; use NewBroker.
type Broker struct {
	buffer int

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	closed  bool
	dropped int64
}

// NewBroker returns a broker giving each client a queue of buffer events.
func NewBroker(buffer int) *Broker {
	if buffer < 1 {
		buffer = 1
	}
	return &Broker{buffer: buffer, subs: map[*subscriber]struct{}{}}
}

// Publish implements watchdog.Publisher. It never blocks: a client whose
// queue is full is dropped.
func (b *Broker) Publish(e watchdog.Event) {
	f := render(e)
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- f:
		default:
			delete(b.subs, s)
			close(s.gone)
			b.dropped++
		}
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

// Close ends every stream and refuses new ones: http.Server.Shutdown would
// otherwise wait for them forever.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
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
