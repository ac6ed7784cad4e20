package main

// Custom commands of the scripts in testdata (Params.Cmds in main_test.go,
// run in-process):
//
//	waitfor [-count N | -gt N] [-exists] FILE [REGEX] [TIMEOUT]
//	countstable [-set VAR] FILE REGEX DURATION [TIMEOUT]
//	httpget [-want CODE] [-poll TIMEOUT] URL
//	envfile VAR FILE
//	freeport VAR
//	signal SIG PIDFILE
//
// Scripts poll with deadlines; nothing here sleeps and then asserts. The
// helper programs the scripts run are in script_programs_test.go.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// A script's wait ends after defaultWait unless it says otherwise, and
// looks again every pollEvery.
const (
	defaultWait = 20 * time.Second
	pollEvery   = 25 * time.Millisecond
)

// countLines returns how many lines of path match re (0 when it is missing).
func countLines(ts *testscript.TestScript, path string, re *regexp.Regexp) (int, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			ts.Fatalf("%v", err)
		}
		return 0, ""
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if re.MatchString(l) {
			n++
		}
	}
	return n, string(b)
}

func parseTimeout(ts *testscript.TestScript, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		ts.Fatalf("bad duration %q", s)
	}
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// cmdWaitfor is `waitfor [-count N | -gt N] FILE REGEX [TIMEOUT]` or
// `waitfor -exists FILE [TIMEOUT]`: it polls FILE until at least N (default
// 1; with -gt, more than N) of its lines match REGEX, or until FILE exists,
// and fails after TIMEOUT (default 20s) showing the end of the file.
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! waitfor (waiting for something not to happen is a sleep)")
	}
	want, strict, exists := 1, false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-count", "-gt":
			if len(args) < 2 {
				ts.Fatalf("waitfor: %s needs a number", args[0])
			}
			n, err := strconv.Atoi(args[1])
			if err != nil {
				ts.Fatalf("waitfor: %s %q: not a number", args[0], args[1])
			}
			want, strict = n, args[0] == "-gt"
			args = args[2:]
		case "-exists":
			exists = true
			args = args[1:]
		default:
			ts.Fatalf("waitfor: unknown flag %s", args[0])
		}
	}
	timeout := defaultWait
	if exists {
		if len(args) < 1 || len(args) > 2 {
			ts.Fatalf("usage: waitfor -exists FILE [TIMEOUT]")
		}
		if len(args) == 2 {
			timeout = parseTimeout(ts, args[1])
		}
		path := ts.MkAbs(args[0])
		deadline := time.Now().Add(timeout)
		for {
			if _, err := os.Stat(path); err == nil {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("waitfor: %s did not appear within %s", args[0], timeout)
			}
			time.Sleep(pollEvery)
		}
	}
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waitfor [-count N | -gt N] FILE REGEX [TIMEOUT]")
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("waitfor: %v", err)
	}
	if len(args) == 3 {
		timeout = parseTimeout(ts, args[2])
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(timeout)
	for {
		n, content := countLines(ts, path, re)
		if n > want || (!strict && n == want) {
			ts.Logf("waitfor: %d lines of %s match %q", n, args[0], args[1])
			return
		}
		if time.Now().After(deadline) {
			what := "at least"
			if strict {
				what = "more than"
			}
			ts.Fatalf("waitfor: %d lines of %s match %q after %s, want %s %d; file ends:\n%s",
				n, args[0], args[1], timeout, what, want, tail(content, 2000))
		}
		time.Sleep(pollEvery)
	}
}

// cmdCountstable is `countstable [-set VAR] FILE REGEX DURATION [TIMEOUT]`:
// it succeeds once the number of lines of FILE matching REGEX has not
// changed for DURATION, and fails when that has not happened within TIMEOUT
// (default 20s). With a steady producer (a ping every second) a DURATION of
// a few periods can only be met when the producer has stopped. -set VAR
// stores the settled count in VAR, for a later `waitfor -gt $VAR`.
func cmdCountstable(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! countstable")
	}
	setVar := ""
	if len(args) >= 2 && args[0] == "-set" {
		setVar, args = args[1], args[2:]
	}
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: countstable [-set VAR] FILE REGEX DURATION [TIMEOUT]")
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("countstable: %v", err)
	}
	stable := parseTimeout(ts, args[2])
	timeout := defaultWait
	if len(args) == 4 {
		timeout = parseTimeout(ts, args[3])
	}
	path := ts.MkAbs(args[0])
	start := time.Now()
	last, _ := countLines(ts, path, re)
	var content string
	since := start
	changes := 0
	for {
		time.Sleep(pollEvery)
		n, c := countLines(ts, path, re)
		content = c
		now := time.Now()
		if n != last {
			ts.Logf("countstable: %s: %d -> %d matches of %q after %s", args[0], last, n, args[1], now.Sub(start).Round(time.Millisecond))
			last, since = n, now
			changes++
			continue
		}
		if now.Sub(since) >= stable {
			ts.Logf("countstable: %d lines of %s match %q, unchanged for %s (%d changes before)", n, args[0], args[1], stable, changes)
			if setVar != "" {
				ts.Setenv(setVar, strconv.Itoa(n))
			}
			return
		}
		if now.Sub(start) > timeout {
			ts.Fatalf("countstable: the number of lines of %s matching %q changed %d times in %s and never stayed put for %s (now %d); file ends:\n%s",
				args[0], args[1], changes, timeout, stable, n, tail(content, 2000))
		}
	}
}

// cmdHTTPGet is `httpget [-want CODE] [-poll TIMEOUT] URL`: one GET (with
// -poll, repeated until the status is CODE or TIMEOUT passes; connection
// errors count as a wrong status). It prints the status code on the first
// line of stdout, then the body; with -want it fails on another status.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! httpget; use -want")
	}
	want, poll := 0, time.Duration(0)
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-want":
			n, err := strconv.Atoi(args[1])
			if err != nil {
				ts.Fatalf("httpget: -want %q: not a number", args[1])
			}
			want = n
		case "-poll":
			poll = parseTimeout(ts, args[1])
		default:
			ts.Fatalf("httpget: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: httpget [-want CODE] [-poll TIMEOUT] URL")
	}
	if poll > 0 && want == 0 {
		ts.Fatalf("httpget: -poll needs -want")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(poll)
	for {
		code, body, err := func() (int, []byte, error) {
			resp, err := client.Get(args[0])
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return resp.StatusCode, b, err
		}()
		if err == nil && (want == 0 || code == want) {
			fmt.Fprintf(ts.Stdout(), "%d\n%s", code, body)
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				ts.Fatalf("httpget %s: %v", args[0], err)
			}
			ts.Fatalf("httpget %s: status %d, want %d; body:\n%s", args[0], code, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdEnvfile is `envfile VAR FILE`: VAR becomes FILE's content, trimmed.
func cmdEnvfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// cmdFreeport is `freeport VAR`: VAR becomes a TCP port on 127.0.0.1 that
// was free a moment ago.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ts.Check(ln.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdSignal is `signal SIG PIDFILE`: it sends SIG (TERM, INT, KILL, HUP,
// STOP, CONT) to the pid written in PIDFILE (see pidexec).
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal SIG PIDFILE")
	}
	sigs := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL,
		"HUP": syscall.SIGHUP, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT}
	sig, ok := sigs[strings.TrimPrefix(strings.ToUpper(args[0]), "SIG")]
	if !ok {
		ts.Fatalf("signal: unknown signal %s", args[0])
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[1])))
	if err != nil || pid <= 1 {
		ts.Fatalf("signal: %s holds no pid", args[1])
	}
	ts.Check(syscall.Kill(pid, sig))
}
