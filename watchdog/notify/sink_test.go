package notify

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestSinkValidate(t *testing.T) {
	ok := Sink{Name: "ops", URL: "https://example.com/hook", MinPriority: 5}
	bad := []struct {
		name   string
		change func(*Sink)
		want   string // what the error must name
	}{
		{"empty name", func(s *Sink) { s.Name = "" }, `sink name ""`},
		{"upper case name", func(s *Sink) { s.Name = "Ops" }, `"Ops"`},
		{"name with a space", func(s *Sink) { s.Name = "a b" }, `"a b"`},
		{"long name", func(s *Sink) { s.Name = strings.Repeat("a", 64) }, "longer than 63"},
		{"priority below 0", func(s *Sink) { s.MinPriority = -1 }, "--min-priority -1"},
		{"priority above 7", func(s *Sink) { s.MinPriority = 8 }, "--min-priority 8"},
		{"unknown event type", func(s *Sink) { s.Events = []watchdog.EventType{"container_exploded"} }, `"container_exploded"`},
		{"no scheme", func(s *Sink) { s.URL = "example.com/hook" }, "--url"},
		{"secret on a chat URL", func(s *Sink) { s.URL = "ntfy://ntfy.sh/topic"; s.Secret = "x" }, "--secret"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid sink refused: %v", err)
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			s := ok
			b.change(&s)
			err := s.Validate()
			if !errors.Is(err, watchdog.ErrInvalid) || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("Validate = %v, want ErrInvalid naming %s", err, b.want)
			}
		})
	}
}

func TestSinkMatches(t *testing.T) {
	all := Sink{MinPriority: DefaultMinPriority}
	for _, tt := range []struct {
		s    Sink
		t    watchdog.EventType
		want bool
	}{
		{all, watchdog.EventMissing, true},        // 4
		{all, watchdog.EventRecreated, true},      // 5
		{all, watchdog.EventRecreateFailed, true}, // 3
		{all, watchdog.EventRunning, false},       // 6: quieter than 5
		{Sink{MinPriority: 6}, watchdog.EventRunning, true},
		{Sink{MinPriority: 3}, watchdog.EventMissing, false},
		{Sink{MinPriority: 7, Events: []watchdog.EventType{watchdog.EventMissing}}, watchdog.EventMissing, true},
		{Sink{MinPriority: 7, Events: []watchdog.EventType{watchdog.EventMissing}}, watchdog.EventStopped, false},
		{Sink{MinPriority: 3, Events: []watchdog.EventType{watchdog.EventMissing}}, watchdog.EventMissing, false},
	} {
		if got := tt.s.Matches(tt.t); got != tt.want {
			t.Errorf("sink %+v Matches(%s) = %v, want %v", tt.s, tt.t, got, tt.want)
		}
	}
}

func TestMaskURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com/****"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/"},
		{"https://user:pa55word@example.com/hook?token=abc123&x=1", "https://****@example.com/****?token=****&x=****"},
		{"slack://hook:T000-B000-XXXXSECRET@webhook", "slack://****@webhook"},
		{"telegram://123456:ABCDEF@telegram?chats=@mychannel", "telegram://****@telegram?chats=****"},
		{"ntfy://ntfy.sh/my-secret-topic", "ntfy://ntfy.sh/****"},
		{"gotify://gotify.example.com/AbCdEfToken", "gotify://gotify.example.com/****"},
		{"smtp://me:hunter22@mail.example.com:587/?from=a@b.c&to=d@e.f", "smtp://****@mail.example.com:587/?from=****&to=****"},
		{"::not a url secret", "****"},
		{"hooks.example.com/secret", "****"},
	} {
		if got := MaskURL(tt.in); got != tt.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	s := Sink{URL: "https://user:pa55word@example.com/services/T000/XXXXSECRET?token=abc123", Secret: "s3cr3t-key"}
	text := `Post "https://user:pa55word@example.com/services/T000/XXXXSECRET?token=abc123": dial tcp: refused; ` +
		`login user:pa55word; path /services/T000/XXXXSECRET; token=abc123; key s3cr3t-key; escaped pa55word%21`
	got := s.Redact(text)
	for _, secret := range []string{"pa55word", "XXXXSECRET", "abc123", "s3cr3t-key"} {
		if strings.Contains(got, secret) {
			t.Errorf("Redact left %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "example.com") || !strings.Contains(got, "dial tcp: refused") {
		t.Errorf("Redact took too much: %q", got)
	}
}

// A query value is masked as written in the URL too, not only decoded
// ("a+b/cd" decodes to "a b/cd").
func TestRedactRawQueryValue(t *testing.T) {
	s := Sink{URL: "https://example.com/hook?token=a+b/cd&x=1"}
	got := s.Redact("the receiver said: bad token a+b/cd")
	if strings.Contains(got, "a+b/cd") {
		t.Errorf("Redact left the raw query value in %q", got)
	}
	if !strings.Contains(got, "the receiver said: bad token") {
		t.Errorf("Redact took too much: %q", got)
	}
}

func TestMessageText(t *testing.T) {
	e := watchdog.Event{ID: 7, Type: watchdog.EventMissing, Container: "claude-hooks-dev-a", Detail: "not known to docker",
		Evidence: map[string]string{"CONTAINER_EXIT_CODE": "137", "CONTAINER_CAUSE": "forced removal"}}
	got := SingleMessage("ops", e, t0).Text()
	want := e.Message() + "\nevidence: cause=\"forced removal\" exit_code=137"
	if got != want {
		t.Errorf("Text =\n%q, want\n%q", got, want)
	}
	e.Evidence = nil
	if got := SingleMessage("ops", e, t0).Text(); got != e.Message() {
		t.Errorf("Text without evidence = %q, want the MESSAGE alone", got)
	}
}

func TestSummary(t *testing.T) {
	var evs []watchdog.Event
	for i := 0; i < 12; i++ {
		typ := watchdog.EventMissing
		if i == 11 {
			typ = watchdog.EventRecreated
		}
		evs = append(evs, watchdog.Event{ID: int64(40 + i), Type: typ, Container: "c" + string(rune('a'+i)), Time: t0.Add(-30 * time.Second)})
	}
	m := SummaryMessage("ops", evs, t0)
	if m.Summary != "12 events in the last minute: 11 container_missing, 1 container_recreated" {
		t.Errorf("Summary = %q", m.Summary)
	}
	if m.Key != "40-51:ops" {
		t.Errorf("Key = %q, want 40-51:ops", m.Key)
	}
	if want := m.Summary + "\ncontainers: ca, cb, cc, cd, ce and 7 more"; m.Text() != want {
		t.Errorf("Text = %q, want %q", m.Text(), want)
	}
	var body struct {
		Type   string           `json:"type"`
		Count  int              `json:"count"`
		First  int64            `json:"first_id"`
		Last   int64            `json:"last_id"`
		Events []watchdog.Event `json:"events"`
	}
	b, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "notification_summary" || body.Count != 12 || body.First != 40 || body.Last != 51 || len(body.Events) != 12 || body.Events[11].ID != 51 {
		t.Errorf("summary JSON = %s", b)
	}
	old := SummaryMessage("ops", evs, t0.Add(2*time.Minute))
	if !strings.HasPrefix(old.Summary, "12 events since 2026-04-20T11:59:30Z: ") {
		t.Errorf("backlog Summary = %q, want since when", old.Summary)
	}
}

func TestSingleJSONIsTheContractsEvent(t *testing.T) {
	e := watchdog.Event{ID: 42, Time: t0, Type: watchdog.EventMissing, Container: "c", Agent: "dev", Instance: "default", Detail: "d"}
	b, err := SingleMessage("ops", e, t0).JSON()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(e)
	if string(b) != string(want) {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}
