package chaos

// A stand-in for systemd's notify socket, in the test process: every
// sd_notify message with its sender's pid and arrival time.

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notice is one sd_notify assignment ("WATCHDOG=1", "STATUS=...").
type notice struct {
	pid  int
	at   time.Time
	text string
}

// notifySink is a unixgram socket with SO_PASSCRED, as systemd's is.
type notifySink struct {
	path string
	conn *net.UnixConn

	mu      sync.Mutex
	notices []notice
	changed chan struct{}
}

func newNotifySink(tb testing.TB) *notifySink {
	tb.Helper()
	dir, err := os.MkdirTemp("", "cwc-notify-") // short: a socket path has 108 bytes
	must(tb, err)
	s := &notifySink{path: filepath.Join(dir, "notify.sock"), changed: make(chan struct{})}
	s.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	must(tb, err)
	raw, err := s.conn.SyscallConn()
	must(tb, err)
	must(tb, raw.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}))
	must(tb, err)
	done := make(chan struct{})
	go s.read(done)
	tb.Cleanup(func() {
		s.conn.Close()
		<-done
		os.RemoveAll(dir)
	})
	return s
}

func (s *notifySink) read(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 64*1024)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		pid := 0
		if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if cred, err := syscall.ParseUnixCredentials(&m); err == nil {
					pid = int(cred.Pid)
				}
			}
		}
		now := time.Now()
		s.mu.Lock()
		for _, line := range strings.Split(strings.TrimRight(string(buf[:n]), "\n"), "\n") {
			s.notices = append(s.notices, notice{pid: pid, at: now, text: line})
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
}

// env is what a daemon needs to talk to the sink, with the systemd
// watchdog on (WATCHDOG_PID unset: "this process").
func (s *notifySink) env(watchdog time.Duration) []string {
	return []string{"NOTIFY_SOCKET=" + s.path, "WATCHDOG_USEC=" + strconv.FormatInt(watchdog.Microseconds(), 10)}
}

// from returns the notices pid sent whose text starts with prefix.
func (s *notifySink) from(pid int, prefix string) []notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notice
	for _, n := range s.notices {
		if n.pid == pid && strings.HasPrefix(n.text, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// wait waits until pid has sent at least n notices starting with prefix,
// or until stop is closed, or timeout; it returns the count.
func (s *notifySink) wait(pid int, prefix string, n int, timeout time.Duration, stop <-chan struct{}) int {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if got := len(s.from(pid, prefix)); got >= n {
			return got
		}
		select {
		case <-ch:
		case <-stop:
			return len(s.from(pid, prefix))
		case <-deadline.C:
			return len(s.from(pid, prefix))
		}
	}
}

// maxGap is the longest time between two consecutive notices of pid with
// prefix, and between the last one and until.
func maxGap(ns []notice, until time.Time) time.Duration {
	var gap time.Duration
	for i := 1; i < len(ns); i++ {
		gap = max(gap, ns[i].at.Sub(ns[i-1].at))
	}
	if len(ns) > 0 && !until.IsZero() {
		gap = max(gap, until.Sub(ns[len(ns)-1].at))
	}
	return gap
}
