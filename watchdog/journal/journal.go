package journal

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// Identifier is the SYSLOG_IDENTIFIER of every entry.
const Identifier = "container-watchdog"

// SendFunc is go-systemd's journal.Send, or a stand-in in tests.
type SendFunc func(message string, priority journal.Priority, vars map[string]string) error

// Sink is a watchdog.Publisher that writes each event as one journal entry.
type Sink struct {
	send     SendFunc // nil: write logfmt to fallback
	fallback io.Writer
	mu       sync.Mutex // one logfmt line at a time
}

// New returns a Sink on journald when its socket answers, else on w.
// It looks once: journal.Enabled dials the socket on every call.
func New(w io.Writer) *Sink {
	if journal.Enabled() {
		return &Sink{send: journal.Send, fallback: w}
	}
	return &Sink{fallback: w}
}

// NewWith returns a Sink that sends through send (nil for logfmt on w).
func NewWith(send SendFunc, w io.Writer) *Sink { return &Sink{send: send, fallback: w} }

// Journald says whether entries go to journald.
func (s *Sink) Journald() bool { return s.send != nil }

// Publish implements watchdog.Publisher.
func (s *Sink) Publish(e watchdog.Event) {
	fields := Fields(e)
	if s.send != nil {
		if err := s.send(e.Message(), journal.Priority(e.Type.Priority()), fields); err == nil {
			return
		}
		// journald went away: fall through so the event is not lost.
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(s.fallback, Logfmt(e.Message(), e.Type.Priority(), fields))
}

// journald (journal_field_valid) refuses a leading digit or underscore.
var fieldRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// Fields are the journal fields of e other than MESSAGE and PRIORITY.
func Fields(e watchdog.Event) map[string]string {
	f := map[string]string{
		"SYSLOG_IDENTIFIER":  Identifier,
		"MESSAGE_ID":         e.Type.MessageID(),
		"CONTAINER_EVENT":    string(e.Type),
		"CONTAINER_NAME":     e.Container,
		"AGENT_TYPE":         e.Agent,
		"AGENT_INSTANCE":     e.Instance,
		"CONTAINER_EVENT_ID": strconv.FormatInt(e.ID, 10),
	}
	if e.Detail != "" {
		f["CONTAINER_EVENT_DETAIL"] = e.Detail
	}
	for k, v := range e.Evidence {
		// journald silently drops malformed names; never send one.
		if k = strings.ToUpper(k); fieldRe.MatchString(k) {
			if _, taken := f[k]; !taken {
				f[k] = v
			}
		}
	}
	return f
}

// Logfmt renders one entry as a logfmt line, fields sorted.
func Logfmt(message string, priority int, fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("PRIORITY=" + strconv.Itoa(priority) + " MESSAGE=" + quote(message))
	for _, k := range keys {
		b.WriteString(" " + k + "=" + quote(fields[k]))
	}
	return b.String()
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\r\"=\\") {
		return s
	}
	return strconv.Quote(s)
}

var _ watchdog.Publisher = (*Sink)(nil)
