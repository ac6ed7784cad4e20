package systemd

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages. It is a no-op outside systemd.
type Notifier struct{}

// Notify sends one message such as "READY=1" or "STATUS=...". It reports
// whether systemd listens; an error means the socket was there but refused.
func (Notifier) Notify(state string) (bool, error) {
	return daemon.SdNotify(false, state)
}

// WatchdogTimeout is the service's WatchdogSec, or 0 when the watchdog is
// off or meant for another process.
func WatchdogTimeout() (time.Duration, error) {
	return daemon.SdWatchdogEnabled(false)
}

// Listener returns the one stream socket systemd passed (LISTEN_FDS), or
// nil when the process was not socket-activated.
func Listener() (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	if len(ls) == 0 {
		return nil, nil
	}
	var got []net.Listener
	for _, l := range ls {
		if l != nil {
			got = append(got, l)
		}
	}
	if len(got) != 1 || len(ls) != 1 {
		for _, l := range got {
			l.Close()
		}
		return nil, fmt.Errorf("socket activation: want exactly one stream socket, got %d file descriptors of which %d are stream listeners (LISTEN_FDNAMES=%q)",
			len(ls), len(got), strings.TrimSpace(listenNames()))
	}
	return got[0], nil
}
