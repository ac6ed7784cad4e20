package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	wnotify "github.com/container-watchdog/container-watchdog/watchdog/notify"
	"github.com/container-watchdog/container-watchdog/watchdog/notify/chat"
	"github.com/container-watchdog/container-watchdog/watchdog/notify/webhook"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// NotifyCmd groups the notification sink commands.
type NotifyCmd struct {
	Add  NotifyAddCmd  `cmd:"" help:"Add a notification sink: a webhook (http, https) or a shoutrrr service URL."`
	Ls   NotifyLsCmd   `cmd:"" help:"List sinks with their queue and last error (secrets masked)."`
	Rm   NotifyRmCmd   `cmd:"" help:"Remove a sink and what is queued for it."`
	Test NotifyTestCmd `cmd:"" help:"Send a test message through a sink now; exit 1 unless it was delivered."`
}

// openTimeout bounds checking a URL (some services log in when set up).
const openTimeout = 10 * time.Second

// openTransport is the wnotify.Opener: a webhook for http(s), else shoutrrr.
func openTransport(ctx context.Context, s wnotify.Sink) (wnotify.Transport, error) {
	if wnotify.IsWebhook(s.URL) {
		return webhook.New(s, version())
	}
	return chat.New(ctx, s)
}

// NotifyAddCmd is `notify add`.
type NotifyAddCmd struct {
	Name        string   `arg:"" name:"name" help:"Sink name: [a-z0-9][a-z0-9_-]*, at most 63 characters."`
	URL         string   `name:"url" required:"" placeholder:"URL" help:"http(s):// webhook, or a shoutrrr URL (slack://, discord://, telegram://, ntfy://, gotify://, smtp://, generic://, ...)."`
	Event       []string `sep:"none" placeholder:"TYPE" help:"Only these event types (repeatable; default: all)."`
	MinPriority int      `default:"5" placeholder:"N" help:"Only events of this journald priority or more severe (0-7; 5: up to container_recreated)."`
	Secret      string   `placeholder:"S" help:"Sign webhook bodies: X-Container-Watchdog-Signature: sha256=<HMAC-SHA256>."`
}

// Run implements the command. Everything is checked, the URL by the
// transport that will send to it, before the registry is opened.
func (c *NotifyAddCmd) Run(ctx context.Context, e *env) error {
	s := wnotify.Sink{Name: c.Name, URL: c.URL, MinPriority: c.MinPriority, Secret: c.Secret, CreatedAt: e.clock.Now()}
	for _, t := range c.Event {
		s.Events = append(s.Events, watchdog.EventType(t))
	}
	if err := s.Validate(); err != nil {
		return err
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if _, err := openTransport(octx, s); err != nil {
		return err
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.AddSink(ctx, s); err != nil {
		return err
	}
	privateRegistryFolder(e)
	fmt.Fprintf(e.stdout, "added %s %s\n", s.Name, s.MaskedURL())
	return nil
}

// NotifyLsCmd is `notify ls`.
type NotifyLsCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

// sinkJSON is one sink as `notify ls --json` prints it: secrets masked.
type sinkJSON struct {
	Name        string               `json:"name"`
	URL         string               `json:"url"`
	Events      []watchdog.EventType `json:"events"`
	MinPriority int                  `json:"min_priority"`
	Secret      string               `json:"secret"`
	CreatedAt   time.Time            `json:"created_at"`
	wnotify.SinkStats
}

// Run implements the command.
func (c *NotifyLsCmd) Run(ctx context.Context, e *env) error {
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := listSinks(ctx, db)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL\tEVENTS\tMIN-PRIORITY\tSECRET\tQUEUE\tDELIVERED\tFAILED\tDROPPED\tLAST-ERROR")
	for _, s := range list {
		events := "all"
		if len(s.Events) > 0 {
			names := make([]string, len(s.Events))
			for i, t := range s.Events {
				names[i] = string(t)
			}
			events = strings.Join(names, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.URL, events, s.MinPriority,
			orDash(s.Secret), s.Queue, s.Delivered, s.Failed, s.Dropped, orDash(s.LastError))
	}
	return tw.Flush()
}

// listSinks joins each sink with its stats, secrets masked.
func listSinks(ctx context.Context, db *sqlite.DB) ([]sinkJSON, error) {
	sinks, err := db.Sinks(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := db.Stats(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string]wnotify.SinkStats{}
	for _, st := range stats {
		by[st.Sink] = st
	}
	out := []sinkJSON{}
	for _, s := range sinks {
		j := sinkJSON{Name: s.Name, URL: s.MaskedURL(), Events: s.Events, MinPriority: s.MinPriority,
			CreatedAt: s.CreatedAt, SinkStats: by[s.Name]}
		if j.Events == nil {
			j.Events = []watchdog.EventType{}
		}
		if s.Secret != "" {
			j.Secret = "****"
		}
		j.Sink = s.Name
		j.LastError = s.Redact(j.LastError) // stored redacted; belt and braces
		out = append(out, j)
	}
	return out, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// NotifyRmCmd is `notify rm`.
type NotifyRmCmd struct {
	Name string `arg:"" name:"name" help:"Sink to remove."`
}

// Run implements the command.
func (c *NotifyRmCmd) Run(ctx context.Context, e *env) error {
	if err := wnotify.ValidateSinkName(c.Name); err != nil {
		return err
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	queued, err := db.RemoveSink(ctx, c.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed %s (%d queued notifications discarded)\n", c.Name, queued)
	return nil
}

// NotifyTestCmd is `notify test`.
type NotifyTestCmd struct {
	Name    string        `arg:"" name:"name" help:"Sink to test."`
	Timeout time.Duration `default:"10s" placeholder:"DUR" help:"Longest the delivery may take."`
}

// Run implements the command: it sends at once through the sink's real
// transport, not through the queue, and says whether it was delivered.
func (c *NotifyTestCmd) Run(ctx context.Context, e *env) error {
	if err := wnotify.ValidateSinkName(c.Name); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%w --timeout %s: must be positive", watchdog.ErrInvalid, c.Timeout)
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := db.Sink(ctx, c.Name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	tr, err := openTransport(ctx, s)
	if err == nil {
		err = tr.Send(ctx, wnotify.TestMessage(s.Name, e.clock.Now()))
	}
	if err != nil {
		return withCode(exitFailed, fmt.Errorf("%s: test message not delivered to %s: %s", s.Name, s.MaskedURL(), s.Redact(err.Error())))
	}
	fmt.Fprintf(e.stdout, "delivered a test message to %s %s\n", s.Name, s.MaskedURL())
	return nil
}

// NotifyOptions are the daemon's delivery settings (`run --notify-...`).
type NotifyOptions struct {
	NotifyTimeout      time.Duration `default:"10s" placeholder:"DUR" help:"Longest one notification attempt may take."`
	NotifyRetryInitial time.Duration `default:"2s" placeholder:"DUR" help:"Wait after a failed notification; doubles with each failure."`
	NotifyRetryMax     time.Duration `default:"5m" placeholder:"DUR" help:"Longest wait between two attempts of a notification."`
	NotifyGiveUp       time.Duration `default:"24h" placeholder:"DUR" help:"Drop (and count) a notification undelivered for this long."`
	NotifyPoll         time.Duration `default:"5s" placeholder:"DUR" help:"How often the queue is looked at without a new event."`
}

func (o NotifyOptions) validate() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--notify-timeout", o.NotifyTimeout}, {"--notify-retry-initial", o.NotifyRetryInitial},
		{"--notify-retry-max", o.NotifyRetryMax}, {"--notify-give-up", o.NotifyGiveUp}, {"--notify-poll", o.NotifyPoll}} {
		if d.v <= 0 {
			return fmt.Errorf("%w %s %s: must be positive", watchdog.ErrInvalid, d.flag, d.v)
		}
	}
	return nil
}

// sender is the daemon's delivery task over the registry's outbox.
func (o NotifyOptions) sender(e *env, db *sqlite.DB) *wnotify.Sender {
	return &wnotify.Sender{
		Outbox: db, Open: openTransport, Log: e.log, Clock: e.clock,
		Timeout: o.NotifyTimeout, Poll: o.NotifyPoll,
		Policy: wnotify.Policy{RetryInitial: o.NotifyRetryInitial, RetryMax: o.NotifyRetryMax, GiveUp: o.NotifyGiveUp},
	}
}

// privateRegistryFolder makes the default registry folder 0700 (it holds
// credentials) and warns when a --db folder is open to others: a folder
// the operator chose is not ours to change.
func privateRegistryFolder(e *env) {
	path, err := e.g.dbPath()
	if err != nil {
		return
	}
	dir := filepath.Dir(path)
	if e.g.DB == "" {
		if err := os.Chmod(dir, 0o700); err != nil {
			e.log.Warn("cannot make the registry folder private", "folder", dir, "err", err)
		}
		return
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		e.log.Warn("the registry folder is open to others; the registry holds notification credentials (it is 0600 itself)",
			"folder", dir, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
}
