package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPLimits: what an abusive client can hold of the server is
// bounded. A request header past the limit is refused (431) without the
// handler; one within it is served; a keep-alive connection left idle
// and one that stops mid-header are closed by the server.
func TestHTTPLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := httpLimits{readHeader: 200 * time.Millisecond, idle: 200 * time.Millisecond, maxHeaderBytes: serverLimits.maxHeaderBytes}
	task := newHTTPTask(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), lim)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- task.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := ln.Addr().String()

	for _, tc := range []struct {
		header int
		want   string
	}{{32 << 10, "HTTP/1.1 200"}, {1 << 20, "HTTP/1.1 431"}} {
		c := dial(t, addr)
		go io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nX-Big: "+strings.Repeat("a", tc.header)+"\r\n\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, tc.want) {
			t.Errorf("a %d KiB header: %q, %v; want %q", tc.header>>10, line, err, tc.want)
		}
		c.Close()
	}
	for _, send := range []string{
		"GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", // answered, then idle
		"GET / HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: ",
	} {
		c := dial(t, addr)
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		// Read until the server closes; the deadline only turns a hang
		// into a failure.
		_ = c.SetReadDeadline(time.Now().Add(realWait))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("after %q: %v; want the server to close the connection", send, err)
		}
		c.Close()
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
