package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// Header names a receiver relies on.
const (
	SignatureHeader   = "X-Container-Watchdog-Signature"
	EventHeader       = "X-Container-Watchdog-Event"
	IdempotencyHeader = "Idempotency-Key"
)

// Transport posts messages to one webhook URL.
type Transport struct {
	url       string
	secret    []byte
	userAgent string
	client    *http.Client
}

var _ notify.Transport = (*Transport)(nil)

// Validate checks that rawURL is an http(s) URL with a host.
func Validate(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w --url %q: a webhook needs http:// or https:// and a host", watchdog.ErrInvalid, notify.MaskURL(rawURL))
	}
	return nil
}

// New returns a transport for the sink. version goes into the User-Agent.
// Each request is bounded by the context Send gets.
func New(s notify.Sink, version string) (*Transport, error) {
	if err := Validate(s.URL); err != nil {
		return nil, err
	}
	return &Transport{
		url: s.URL, secret: []byte(s.Secret), userAgent: "container-watchdog/" + version,
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: time.Minute, // the per-attempt context is shorter
				IdleConnTimeout:       90 * time.Second,
				MaxIdleConnsPerHost:   2,
			},
			// A redirect is answered, not followed: the body is signed for
			// this URL, and a 3xx is retried like any other non-2xx.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Sign is the signature header's value: "sha256=" and the hex HMAC-SHA256
// of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send implements notify.Transport.
func (t *Transport) Send(ctx context.Context, m notify.Message) error {
	body, err := m.JSON()
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("encode %s: %w", m.Key, err), Permanent: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("request: %w", err), Permanent: true}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", t.userAgent)
	h.Set(IdempotencyHeader, m.Key)
	h.Set(EventHeader, string(m.Type()))
	if len(t.secret) > 0 {
		h.Set(SignatureHeader, Sign(t.secret, body))
	}
	resp, err := t.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL; the caller names the sink
		}
		return &notify.SendError{Err: fmt.Errorf("POST: %w", err)}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	return judge(resp, snippet, time.Now())
}

// judge reads an answer: nil for 2xx, else a SendError saying whether to
// retry and when.
func judge(resp *http.Response, snippet []byte, now time.Time) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	msg := "HTTP " + resp.Status
	if loc := resp.Header.Get("Location"); code >= 300 && code < 400 && loc != "" {
		msg += " (redirect not followed)"
	}
	if s := strings.TrimSpace(string(snippet)); s != "" {
		msg += ": " + strings.Join(strings.Fields(s), " ")
	}
	permanent := code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
	return &notify.SendError{Err: errors.New(msg), Permanent: permanent, RetryAfter: RetryAfter(resp.Header.Get("Retry-After"), now)}
}

// RetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
// It returns 0 when there is none or it cannot be read.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
