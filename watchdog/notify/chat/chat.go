package chat

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// Transport sends messages through one shoutrrr service.
type Transport struct {
	svc types.Service
	// idle holds a token while no Send runs. shoutrrr's Send takes no
	// context, so one that outlives its deadline is abandoned, and the
	// next Send fails at once instead of piling up behind it.
	idle chan struct{}
}

var _ notify.Transport = (*Transport)(nil)

// Validate checks rawURL with shoutrrr's router and the service's parser.
// It may reach the network for services that log in when set up (matrix);
// ctx bounds that.
func Validate(ctx context.Context, rawURL string) error {
	_, err := open(ctx, rawURL)
	return err
}

// New returns a transport for the sink's URL.
func New(ctx context.Context, s notify.Sink) (*Transport, error) {
	svc, err := open(ctx, s.URL)
	if err != nil {
		return nil, err
	}
	t := &Transport{svc: svc, idle: make(chan struct{}, 1)}
	t.idle <- struct{}{}
	return t, nil
}

// open locates and initializes the service as shoutrrr's router does,
// keeping the service's own error (the router's hides it) and never
// quoting the URL, which holds the credentials.
func open(ctx context.Context, rawURL string) (types.Service, error) {
	masked := notify.MaskURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("%w --url %q: not a URL", watchdog.ErrInvalid, masked)
	}
	var r router.ServiceRouter
	scheme, _, _ := strings.Cut(u.Scheme, "+") // generic+https://... is a custom URL
	svc, err := r.NewService(scheme)
	if errors.Is(err, router.ErrUnknownService) {
		known := r.ListServices()
		slices.Sort(known)
		return nil, fmt.Errorf("%w --url %q: unknown scheme %q: want http, https or a shoutrrr service (%s)",
			watchdog.ErrInvalid, masked, u.Scheme, strings.Join(known, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%w --url %q: %v", watchdog.ErrInvalid, masked, err)
	}
	if scheme != u.Scheme {
		custom, ok := svc.(types.CustomURLService)
		if !ok {
			return nil, fmt.Errorf("%w --url %q: service %q takes no custom URL (%s+...)", watchdog.ErrInvalid, masked, scheme, scheme)
		}
		if u, err = custom.GetConfigURLFromCustom(u); err != nil {
			return nil, fmt.Errorf("%w --url %q: %s", watchdog.ErrInvalid, masked, redact(err, rawURL))
		}
	}
	done := make(chan error, 1)
	go func() { done <- svc.Initialize(u, nil) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("set up %s service: %w", scheme, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("%w --url %q: %s: %s", watchdog.ErrInvalid, masked, scheme, redact(err, rawURL))
	}
	return svc, nil
}

func redact(err error, rawURL string) string {
	return notify.Sink{URL: rawURL}.Redact(err.Error())
}

// Send implements notify.Transport: the message's text (the event's
// journald MESSAGE, its evidence on a second line).
func (t *Transport) Send(ctx context.Context, m notify.Message) error {
	select {
	case <-t.idle:
	default:
		return &notify.SendError{Err: errors.New("the previous send has not returned yet")}
	}
	done := make(chan error, 1)
	go func() {
		defer func() { t.idle <- struct{}{} }()
		done <- t.svc.Send(m.Text(), &types.Params{})
	}()
	select {
	case err := <-done:
		if err != nil {
			return &notify.SendError{Err: err}
		}
		return nil
	case <-ctx.Done():
		return &notify.SendError{Err: fmt.Errorf("%s: %w", t.svc.GetID(), ctx.Err())}
	}
}
