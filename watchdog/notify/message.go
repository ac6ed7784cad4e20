package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// Transport delivers messages to one sink. Send must return when ctx ends.
type Transport interface {
	Send(ctx context.Context, m Message) error
}

// SendError is a failed delivery, as the transport judged it.
type SendError struct {
	Err error
	// Permanent: retrying cannot help (a webhook's 4xx other than 408 and 429).
	Permanent bool
	// RetryAfter is how long the receiver asked us to wait (0: it did not say).
	RetryAfter time.Duration
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Message is what one delivery carries: one event, a summary of a burst,
// or a test.
type Message struct {
	Sink string
	// Key identifies the delivery to the receiver across retries and
	// restarts: "<event id>:<sink>", "<first id>-<last id>:<sink>" for a
	// summary, "test-<unix nanoseconds>:<sink>" for a test.
	Key string
	// Events holds the one event, or every event a summary folds.
	Events []watchdog.Event
	// Summary is set for a folded burst: "12 events in the last minute: ...".
	Summary string
	// Test marks `notify test`.
	Test bool
	Time time.Time
}

// EventTypeSummary and EventTypeTest are the types webhook receivers see
// for a folded burst and for `notify test`.
const (
	EventTypeSummary watchdog.EventType = "notification_summary"
	EventTypeTest    watchdog.EventType = "notification_test"
)

// SingleMessage carries one event.
func SingleMessage(sink string, e watchdog.Event, now time.Time) Message {
	return Message{Sink: sink, Key: fmt.Sprintf("%d:%s", e.ID, sink), Events: []watchdog.Event{e}, Time: now}
}

// SummaryMessage folds events (oldest first, at least one) into one.
func SummaryMessage(sink string, evs []watchdog.Event, now time.Time) Message {
	first, last := evs[0], evs[len(evs)-1]
	return Message{
		Sink: sink, Key: fmt.Sprintf("%d-%d:%s", first.ID, last.ID, sink),
		Events: evs, Summary: summarize(evs, now), Time: now,
	}
}

// TestMessage is what `notify test` sends.
func TestMessage(sink string, now time.Time) Message {
	return Message{Sink: sink, Key: fmt.Sprintf("test-%d:%s", now.UnixNano(), sink), Test: true, Time: now}
}

// testText is the sentence of a test message.
const testText = "container-watchdog test notification: this sink works"

// summarize is "12 events in the last minute: 11 container_missing, 1
// container_recreated", most frequent type first. Events older than a
// minute (a backlog after an outage) say since when instead.
func summarize(evs []watchdog.Event, now time.Time) string {
	counts := map[watchdog.EventType]int{}
	oldest := evs[0].Time
	for _, e := range evs {
		counts[e.Type]++
		if e.Time.Before(oldest) {
			oldest = e.Time
		}
	}
	types := make([]watchdog.EventType, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b watchdog.EventType) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(string(a), string(b))
	})
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%d %s", counts[t], t)
	}
	when := "in the last minute"
	if now.Sub(oldest) > time.Minute {
		when = "since " + oldest.UTC().Format(time.RFC3339)
	}
	noun := "events"
	if len(evs) == 1 {
		noun = "event"
	}
	return fmt.Sprintf("%d %s %s: %s", len(evs), noun, when, strings.Join(parts, ", "))
}

// Text is the message for chat and e-mail: the event's journald MESSAGE
// with its evidence on a second line; a summary with the containers it
// names on a second line.
func (m Message) Text() string {
	switch {
	case m.Test:
		return testText
	case m.Summary != "":
		return m.Summary + "\n" + containersLine(m.Events)
	}
	e := m.Events[0]
	if line := EvidenceLine(e.Evidence); line != "" {
		return e.Message() + "\n" + line
	}
	return e.Message()
}

// EvidenceLine renders an event's evidence fields, sorted, as
// "evidence: cause=... exit_code=137 ..." ("" when there is none).
func EvidenceLine(ev map[string]string) string {
	if len(ev) == 0 {
		return ""
	}
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := ev[k]
		if strings.ContainsAny(v, " \t\n\"") {
			v = strconv.Quote(v)
		}
		parts[i] = strings.ToLower(strings.TrimPrefix(k, "CONTAINER_")) + "=" + v
	}
	return "evidence: " + strings.Join(parts, " ")
}

func containersLine(evs []watchdog.Event) string {
	var names []string
	for _, e := range evs {
		if !slices.Contains(names, e.Container) {
			names = append(names, e.Container)
		}
	}
	slices.Sort(names)
	const show = 5
	line := "containers: " + strings.Join(names[:min(show, len(names))], ", ")
	if len(names) > show {
		line += fmt.Sprintf(" and %d more", len(names)-show)
	}
	return line
}

// summaryJSON is a folded burst as webhook receivers get it: the summary
// sentence and every event it folds, in the contract's event shape.
type summaryJSON struct {
	Type    watchdog.EventType `json:"type"`
	Time    time.Time          `json:"time"`
	Message string             `json:"message"`
	Count   int                `json:"count"`
	FirstID int64              `json:"first_id"`
	LastID  int64              `json:"last_id"`
	Events  []watchdog.Event   `json:"events"`
}

// JSON is the webhook body: the event in the contract's shape; for a
// summary, summaryJSON; for a test, an event of type notification_test
// with id 0.
func (m Message) JSON() ([]byte, error) {
	switch {
	case m.Test:
		return json.Marshal(watchdog.Event{Time: m.Time.UTC(), Type: EventTypeTest, Detail: testText})
	case m.Summary != "":
		return json.Marshal(summaryJSON{
			Type: EventTypeSummary, Time: m.Time.UTC(), Message: m.Summary, Count: len(m.Events),
			FirstID: m.Events[0].ID, LastID: m.Events[len(m.Events)-1].ID, Events: m.Events,
		})
	}
	return json.Marshal(m.Events[0])
}

// Type is the event type the message carries (a summary's or a test's own).
func (m Message) Type() watchdog.EventType {
	switch {
	case m.Test:
		return EventTypeTest
	case m.Summary != "":
		return EventTypeSummary
	}
	return m.Events[0].Type
}
