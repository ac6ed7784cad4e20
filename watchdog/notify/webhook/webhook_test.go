package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
	"github.com/container-watchdog/container-watchdog/watchdog/notify/webhook"
)

var t0 = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)

// verify is what a receiver does with the signature, written as the
// README tells receivers to: HMAC-SHA256 of the raw body, hex, compared in
// constant time.
func verify(secret string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header))
}

func event() watchdog.Event {
	return watchdog.Event{ID: 42, Time: t0, Type: watchdog.EventMissing, Container: "claude-hooks-dev-a", Agent: "dev", Instance: "a", Detail: "not known to docker"}
}

func TestSendPostsTheSignedEvent(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, must(io.ReadAll(r.Body))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	tr, err := webhook.New(notify.Sink{Name: "ops", URL: srv.URL + "/hook", Secret: "s3cr3t"}, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), notify.SingleMessage("ops", event(), t0)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/hook" {
		t.Errorf("request %s %s, want POST /hook", got.Method, got.URL.Path)
	}
	for h, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "container-watchdog/1.2.3",
		"Idempotency-Key": "42:ops", "X-Container-Watchdog-Event": "container_missing",
	} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	if sig := got.Header.Get(webhook.SignatureHeader); !verify("s3cr3t", body, sig) {
		t.Errorf("signature %q does not verify over the body", sig)
	}
	if verify("other", body, got.Header.Get(webhook.SignatureHeader)) {
		t.Error("signature verifies under the wrong secret")
	}
	var e watchdog.Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID != 42 || e.Type != watchdog.EventMissing || e.Container != "claude-hooks-dev-a" || !e.Time.Equal(t0) {
		t.Errorf("body %s is not the event (%v)", body, err)
	}
}

func TestNoSecretNoSignature(t *testing.T) {
	var sig atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig.Store(r.Header.Values(webhook.SignatureHeader))
	}))
	defer srv.Close()
	tr, _ := webhook.New(notify.Sink{Name: "ops", URL: srv.URL}, "v")
	if err := tr.Send(context.Background(), notify.SingleMessage("ops", event(), t0)); err != nil {
		t.Fatal(err)
	}
	if v := sig.Load().([]string); len(v) != 0 {
		t.Errorf("unsigned sink sent %s: %v", webhook.SignatureHeader, v)
	}
}

// The receiver's answer decides: 2xx delivered, 4xx other than 408 and
// 429 permanent, everything else retried; Retry-After is read either way.
func TestAnswers(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		code       int
		header     map[string]string
		ok         bool
		permanent  bool
		retryAfter time.Duration // at least
	}{
		{code: 200, ok: true},
		{code: 202, ok: true},
		{code: 301, header: map[string]string{"Location": "/elsewhere"}},
		{code: 400, permanent: true},
		{code: 401, permanent: true},
		{code: 404, permanent: true},
		{code: 408},
		{code: 429, header: map[string]string{"Retry-After": "7"}, retryAfter: 7 * time.Second},
		{code: 429, header: map[string]string{"Retry-After": date}, retryAfter: 80 * time.Second},
		{code: 500},
		{code: 503, header: map[string]string{"Retry-After": "120"}, retryAfter: 120 * time.Second},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.code)
				io.WriteString(w, "receiver says no")
			}))
			defer srv.Close()
			tr, _ := webhook.New(notify.Sink{Name: "ops", URL: srv.URL}, "v")
			err := tr.Send(context.Background(), notify.SingleMessage("ops", event(), t0))
			if tt.ok {
				if err != nil {
					t.Fatalf("Send = %v, want delivered", err)
				}
				return
			}
			var se *notify.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v, want a SendError", err)
			}
			if se.Permanent != tt.permanent {
				t.Errorf("Permanent = %v, want %v (%v)", se.Permanent, tt.permanent, err)
			}
			if se.RetryAfter < tt.retryAfter || (tt.retryAfter == 0 && se.RetryAfter != 0) || se.RetryAfter > tt.retryAfter+15*time.Second {
				t.Errorf("RetryAfter = %s, want %s", se.RetryAfter, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), "receiver says no") {
				t.Errorf("error %q does not quote the receiver", err)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d requests: a redirect must not be followed", n)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"soon", 0}, {"30", 30 * time.Second},
		{"Mon, 20 Apr 2026 12:02:00 GMT", 2 * time.Minute},
		{"Mon, 20 Apr 2026 11:00:00 GMT", 0}, // in the past
	} {
		if got := webhook.RetryAfter(tt.v, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

// A receiver that hangs is given up on when the attempt's context ends.
func TestHangingReceiverTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr, _ := webhook.New(notify.Sink{Name: "ops", URL: srv.URL}, "v")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := tr.Send(ctx, notify.SingleMessage("ops", event(), t0))
	var se *notify.SendError
	if !errors.As(err, &se) || se.Permanent || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want a retriable deadline error", err)
	}
}

func TestValidate(t *testing.T) {
	for _, u := range []string{"http://", "https:///path", "ftp://x/y", "notaurl"} {
		if err := webhook.Validate(u); !errors.Is(err, watchdog.ErrInvalid) {
			t.Errorf("Validate(%q) = %v, want ErrInvalid", u, err)
		}
	}
	if err := webhook.Validate("https://user:pw@example.com/hook"); err != nil {
		t.Errorf("Validate refused a good URL: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
