package notify

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// DefaultMinPriority lets through everything up to notice (5): nothing
// quieter than a recreation.
const DefaultMinPriority = 5

// mask replaces every secret part that is shown.
const mask = "****"

var sinkNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Sink is one notification target and the events it wants.
type Sink struct {
	Name string
	URL  string
	// Events the sink wants; empty means every type.
	Events []watchdog.EventType
	// MinPriority is a journald priority: events whose priority is this or
	// more severe (a lower number) are sent.
	MinPriority int
	// Secret signs webhook bodies (HMAC-SHA256); empty means unsigned.
	Secret    string
	CreatedAt time.Time
}

// ValidateSinkName checks a sink name: [a-z0-9][a-z0-9_-]*, at most 63
// characters (it becomes a metric label and an Idempotency-Key part).
func ValidateSinkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w sink name %q: must not be empty", watchdog.ErrInvalid, name)
	case len(name) > 63:
		return fmt.Errorf("%w sink name %q: longer than 63 characters", watchdog.ErrInvalid, name)
	case !sinkNameRe.MatchString(name):
		return fmt.Errorf("%w sink name %q: must match [a-z0-9][a-z0-9_-]*", watchdog.ErrInvalid, name)
	}
	return nil
}

// Validate checks everything but whether a service answers to the URL's
// scheme (the transports know that). Errors never show the URL unmasked.
func (s Sink) Validate() error {
	if err := ValidateSinkName(s.Name); err != nil {
		return err
	}
	if s.MinPriority < 0 || s.MinPriority > 7 {
		return fmt.Errorf("%w --min-priority %d: must be a journald priority, 0 (emerg) to 7 (debug)", watchdog.ErrInvalid, s.MinPriority)
	}
	for _, t := range s.Events {
		if !slices.Contains(watchdog.EventTypes(), t) {
			return fmt.Errorf("%w --event %q: unknown event type (known: %s)", watchdog.ErrInvalid, t, knownTypes())
		}
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%w --url %q: not a URL with a scheme (http://, https:// or a shoutrrr service such as slack://)", watchdog.ErrInvalid, s.MaskedURL())
	}
	if s.Secret != "" && !IsWebhook(s.URL) {
		return fmt.Errorf("%w --secret: only http(s) webhooks are signed; %s:// is a shoutrrr service", watchdog.ErrInvalid, u.Scheme)
	}
	return nil
}

func knownTypes() string {
	names := make([]string, len(watchdog.EventTypes()))
	for i, t := range watchdog.EventTypes() {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// IsWebhook says whether the URL is delivered as a webhook (http, https);
// any other scheme names a shoutrrr service.
func IsWebhook(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	s := strings.ToLower(u.Scheme)
	return s == "http" || s == "https"
}

// Matches says whether the sink wants an event of type t.
func (s Sink) Matches(t watchdog.EventType) bool {
	if t.Priority() > s.MinPriority {
		return false
	}
	return len(s.Events) == 0 || slices.Contains(s.Events, t)
}

// MaskedURL is the URL with every part that may carry a credential masked:
// the user info, the path and the query values (keys stay, to tell sinks
// apart). Chat services keep tokens in any of these (slack://hook:T@webhook,
// gotify://host/TOKEN, a Slack https webhook's path), so all are masked
// rather than guessed at. Scheme, host and port are shown.
func (s Sink) MaskedURL() string { return MaskURL(s.URL) }

// MaskURL masks rawURL as Sink.MaskedURL does. A URL that does not parse
// shows its scheme at most.
func MaskURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		if i := strings.Index(rawURL, "://"); i > 0 && !strings.ContainsAny(rawURL[:i], "/@?#") {
			return rawURL[:i] + "://" + mask
		}
		return mask
	}
	out := u.Scheme + "://"
	if u.User != nil {
		out += mask + "@"
	}
	out += u.Host
	if p := u.EscapedPath(); p != "" && p != "/" {
		out += "/" + mask
	} else {
		out += p
	}
	if u.RawQuery != "" {
		q := u.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, url.QueryEscape(k)+"="+mask)
		}
		slices.Sort(keys)
		out += "?" + strings.Join(keys, "&")
	}
	if u.Fragment != "" {
		out += "#" + mask
	}
	return out
}

// Redact removes the sink's secrets from text that may quote them (an
// error from an HTTP client or a chat service): the URL in its forms, its
// user info, path segments and query values, and the signing secret.
func (s Sink) Redact(text string) string {
	if text == "" {
		return text
	}
	// The URL whole becomes its masked form, so errors still name the host.
	whole := []string{s.URL}
	secrets := []string{s.Secret}
	if u, err := url.Parse(s.URL); err == nil {
		whole = append(whole, u.String(), u.Redacted())
		if u.User != nil {
			p, _ := u.User.Password()
			secrets = append(secrets, u.User.String(), u.User.Username(), p)
		}
		secrets = append(secrets, u.EscapedPath(), u.Path, u.RawQuery)
		secrets = append(secrets, strings.Split(u.Path, "/")...)
		for _, vs := range u.Query() {
			secrets = append(secrets, vs...)
		}
		// And each value as written in the URL: "a+b" decodes to "a b",
		// and a receiver or transport quoting the URL shows the raw form.
		for _, kv := range strings.Split(u.RawQuery, "&") {
			if _, v, ok := strings.Cut(kv, "="); ok {
				secrets = append(secrets, v)
			}
		}
		if u.Fragment != "" {
			secrets = append(secrets, u.Fragment)
		}
	}
	for _, w := range whole {
		text = strings.ReplaceAll(text, w, s.MaskedURL())
	}
	// Longest first, so a part goes before its own parts; parts of fewer
	// than three characters would only garble the text.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, v := range secrets {
		if len(v) >= 3 {
			text = strings.ReplaceAll(text, v, mask)
			if esc := url.QueryEscape(v); esc != v {
				text = strings.ReplaceAll(text, esc, mask)
			}
		}
	}
	return text
}
