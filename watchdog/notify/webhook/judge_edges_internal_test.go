package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// The edges of a receiver's answer: 2xx (200 to 299) delivers; 3xx is a
// redirect, named as not followed when it says where to; 4xx (400 to 499)
// is permanent but for 408 and 429; anything else is retried.
func TestJudgeStatusEdges(t *testing.T) {
	for _, c := range []struct {
		code      int
		location  string
		ok        bool
		permanent bool
		redirect  bool
	}{
		{code: 199},
		{code: 200, ok: true},
		{code: 299, ok: true},
		{code: 300, location: "/x", redirect: true},
		{code: 399, location: "/x", redirect: true},
		{code: 302},
		{code: 400, location: "/x", permanent: true},
		{code: 499, permanent: true},
		{code: 500},
	} {
		resp := &http.Response{StatusCode: c.code, Status: http.StatusText(c.code), Header: http.Header{}}
		if c.location != "" {
			resp.Header.Set("Location", c.location)
		}
		err := judge(resp, nil, time.Now())
		if c.ok {
			if err != nil {
				t.Errorf("%d: %v, want delivered", c.code, err)
			}
			continue
		}
		var se *notify.SendError
		if !errors.As(err, &se) {
			t.Errorf("%d: %v, want a SendError", c.code, err)
			continue
		}
		if se.Permanent != c.permanent {
			t.Errorf("%d: permanent %v, want %v", c.code, se.Permanent, c.permanent)
		}
		if got := strings.Contains(err.Error(), "redirect not followed"); got != c.redirect {
			t.Errorf("%d (Location %q): %q names a redirect: %v, want %v", c.code, c.location, err, got, c.redirect)
		}
	}
}
