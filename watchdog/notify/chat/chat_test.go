package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
	"github.com/container-watchdog/container-watchdog/watchdog/notify/chat"
)

var t0 = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)

func event() watchdog.Event {
	return watchdog.Event{ID: 7, Time: t0, Type: watchdog.EventMissing, Container: "claude-hooks-dev-a", Agent: "dev", Instance: "a",
		Detail: "not known to docker", Evidence: map[string]string{"CONTAINER_EXIT_CODE": "137", "CONTAINER_KILL_SIGNAL": "9"}}
}

// shoutrrr's generic:// service against a real HTTP receiver: the JSON
// template carries the message, which is the event's MESSAGE and, on a
// second line, its evidence.
func TestGenericToHTTPReceiver(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	url := "generic://" + host + "/hook?template=json&disabletls=yes"
	tr, err := chat.New(context.Background(), notify.Sink{Name: "gen", URL: url})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := tr.Send(context.Background(), notify.SingleMessage("gen", event(), t0)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := event().Message() + "\nevidence: exit_code=137 kill_signal=9"
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || bodies[0]["message"] != want {
		t.Fatalf("receiver got %v, want message %q", bodies, want)
	}
}

func TestGenericReceiverFailingIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	url := "generic+" + srv.URL + "/hook"
	tr, err := chat.New(context.Background(), notify.Sink{Name: "gen", URL: url})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = tr.Send(context.Background(), notify.SingleMessage("gen", event(), t0))
	var se *notify.SendError
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("Send = %v, want a retriable SendError", err)
	}
}

// A service that does not answer in time is abandoned, and the next send
// refuses at once rather than piling up behind it.
func TestHangingServiceIsAbandoned(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	tr, err := chat.New(context.Background(), notify.Sink{Name: "gen", URL: "generic+" + srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := tr.Send(ctx, notify.SingleMessage("gen", event(), t0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want the deadline", err)
	}
	if err := tr.Send(context.Background(), notify.SingleMessage("gen", event(), t0)); err == nil || !strings.Contains(err.Error(), "previous send") {
		t.Fatalf("second Send = %v, want a refusal while the first hangs", err)
	}
}

func TestValidate(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ url, want string }{
		{"slak://hook:SECRETTOKEN@webhook", `unknown scheme "slak"`},
		{"smtp://user:SECRETPASS@mail.example.com:587/?fromaddress=a@b.c&toaddresses=d@e.f&auth=bogus", "smtp"},
		{"telegram://SECRETTOKEN@telegram", "telegram"}, // no chats
		{"discord+https://x/SECRETPATH", "custom URL"},
	} {
		err := chat.Validate(ctx, tt.url)
		if !errors.Is(err, watchdog.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%q) = %v, want ErrInvalid naming %s", tt.url, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("Validate(%q) error shows the secret: %v", tt.url, err)
		}
	}
	for _, ok := range []string{
		"slack://hook:T00000000-B00000000-XXXXXXXXXXXXXXXXXXXXXXXX@webhook",
		"ntfy://ntfy.sh/my-topic",
		"gotify://gotify.example.com/AbCdEfGhIjK",
		"discord://token@123456",
		"telegram://123456:ABC-DEF@telegram?chats=@channel",
		"smtp://user:pass@mail.example.com:587/?fromaddress=a@b.c&toaddresses=d@e.f",
		"generic://example.com/hook?template=json",
		"generic+https://example.com/hook",
	} {
		if err := chat.Validate(ctx, ok); err != nil {
			t.Errorf("Validate(%q) = %v, want ok", ok, err)
		}
	}
}

// smtp:// against a real SMTP server (go-smtp, in the test): the message
// arrives, with the event's MESSAGE and evidence in its body.
func TestSMTPMessageArrives(t *testing.T) {
	got := make(chan mail, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{got: got}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	url := "smtp://127.0.0.1:" + strconv.Itoa(port) + "/?fromaddress=watchdog@example.com&toaddresses=ops@example.com" +
		"&auth=None&encryption=None&usestarttls=No&subject=container-watchdog"
	tr, err := chat.New(context.Background(), notify.Sink{Name: "mail", URL: url})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Send(ctx, notify.SingleMessage("mail", event(), t0)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	select {
	case m := <-got:
		if m.from != "watchdog@example.com" || len(m.to) != 1 || m.to[0] != "ops@example.com" {
			t.Errorf("envelope from %q to %v", m.from, m.to)
		}
		body := strings.ReplaceAll(m.data, "\r\n", "\n")
		for _, want := range []string{"Subject: container-watchdog", event().Message(), "evidence: exit_code=137 kill_signal=9"} {
			if !strings.Contains(body, want) {
				t.Errorf("mail lacks %q:\n%s", want, body)
			}
		}
	case <-ctx.Done():
		t.Fatal("no mail arrived")
	}
}

type mail struct {
	from string
	to   []string
	data string
}

// session is the SMTP receiver's side of one connection.
type session struct {
	got chan<- mail
	m   mail
}

func (s *session) Reset()        { s.m = mail{} }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.m.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.data = string(b)
	s.got <- s.m
	return nil
}
