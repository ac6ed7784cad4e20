package main

// Helper programs of the scripts in testdata (daemon_*.txtar), registered
// with testscript.Main (main_test.go), so each runs as its own process
// found through PATH, like systemd and a dashboard would be:
//
//	notifysink SOCKPATH LOGFILE
//	    a stand-in for systemd's notify socket: binds a unixgram socket and
//	    appends every datagram to LOGFILE (one line per assignment).
//	activate ADDR NAME -- PROG [ARG...]
//	    socket activation the way systemd does it: binds ADDR, writes the
//	    bound address to $WORK/activated.addr, puts the socket at fd 3 and
//	    execs PROG in the same process with LISTEN_FDS=1, LISTEN_FDNAMES=NAME
//	    and LISTEN_PID set to its own (and so PROG's) pid.
//	pidexec PIDFILE -- PROG [ARG...]
//	    writes its pid to PIDFILE and execs PROG in the same process, so a
//	    script can signal a background command (testscript's kill only knows
//	    INT and KILL; systemd stops services with TERM).
//	sseclient URL OUTFILE [-n N] [-last-event-id ID] [-timeout 20s]
//	    a strict Server-Sent Events client: see sseclientMain.
//
// The scripts' custom commands are in script_commands_test.go.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The helper programs, for testscript.Main.
func notifysinkProgram() { os.Exit(notifysinkMain(os.Args[1:])) }
func activateProgram()   { os.Exit(activateMain(os.Args[1:])) }
func pidexecProgram()    { os.Exit(pidexecMain(os.Args[1:])) }
func sseclientProgram()  { os.Exit(sseclientMain(os.Args[1:])) }

func progFail(prog string, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, prog+": "+format+"\n", args...)
	return 1
}

// notifysinkMain is `notifysink SOCKPATH LOGFILE`. Each datagram is one
// sd_notify message of newline-separated assignments; it is appended to
// LOGFILE as one line per assignment, in arrival order, written before the
// next datagram is read. The socket has SO_PASSCRED on, as systemd's has;
// with NOTIFYSINK_PIDS=1 each line is prefixed with the sender's pid.
func notifysinkMain(args []string) int {
	if len(args) != 2 {
		return progFail("notifysink", "usage: notifysink SOCKPATH LOGFILE")
	}
	sock, logPath := args[0], args[1]
	if len(sock) >= 108 {
		return progFail("notifysink", "socket path %q is too long for a unix socket (%d bytes)", sock, len(sock))
	}
	_ = os.Remove(sock)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return progFail("notifysink", "%v", err)
	}
	defer os.Remove(sock)
	raw, err := conn.SyscallConn()
	if err == nil {
		_ = raw.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
		})
	}
	if err != nil {
		return progFail("notifysink", "SO_PASSCRED: %v", err)
	}
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return progFail("notifysink", "%v", err)
	}
	defer out.Close()
	withPid := os.Getenv("NOTIFYSINK_PIDS") == "1"
	buf := make([]byte, 64*1024)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return progFail("notifysink", "read: %v", err)
		}
		pid := int32(0)
		if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if cred, err := syscall.ParseUnixCredentials(&m); err == nil {
					pid = cred.Pid
				}
			}
		}
		var b strings.Builder
		for _, line := range strings.Split(strings.TrimRight(string(buf[:n]), "\n"), "\n") {
			if withPid {
				fmt.Fprintf(&b, "%d ", pid)
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
		if _, err := out.WriteString(b.String()); err != nil {
			return progFail("notifysink", "write: %v", err)
		}
	}
}

// splitExec splits "HEAD... -- PROG ARG..." and resolves PROG on PATH.
func splitExec(prog string, args []string, nhead int) (head []string, path string, argv []string, err error) {
	i := -1
	for j, a := range args {
		if a == "--" {
			i = j
			break
		}
	}
	if i != nhead || len(args) < i+2 {
		return nil, "", nil, fmt.Errorf("usage: %s: want %d arguments, then -- PROG [ARG...]", prog, nhead)
	}
	path, err = exec.LookPath(args[i+1])
	if err != nil {
		return nil, "", nil, err
	}
	return args[:i], path, args[i+1:], nil
}

// activateMain is `activate ADDR NAME -- PROG [ARG...]`.
func activateMain(args []string) int {
	head, path, argv, err := splitExec("activate", args, 2)
	if err != nil {
		return progFail("activate", "%v", err)
	}
	addr, name := head[0], head[1]
	// Raw syscalls, not net.Listen: the socket must not be registered with
	// the Go poller (and must lose O_NONBLOCK/CLOEXEC) before it is handed on.
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return progFail("activate", "%v", err)
	}
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s := &syscall.SockaddrInet4{Port: ta.Port}
		if ip4 != nil {
			copy(s.Addr[:], ip4)
		}
		sa = s
	} else {
		family = syscall.AF_INET6
		s := &syscall.SockaddrInet6{Port: ta.Port}
		copy(s.Addr[:], ta.IP.To16())
		sa = s
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return progFail("activate", "socket: %v", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return progFail("activate", "SO_REUSEADDR: %v", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return progFail("activate", "bind %s: %v", addr, err)
	}
	if err := syscall.Listen(fd, 128); err != nil {
		return progFail("activate", "listen: %v", err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		return progFail("activate", "getsockname: %v", err)
	}
	var got string
	switch b := bound.(type) {
	case *syscall.SockaddrInet4:
		got = net.JoinHostPort(net.IP(b.Addr[:]).String(), strconv.Itoa(b.Port))
	case *syscall.SockaddrInet6:
		got = net.JoinHostPort(net.IP(b.Addr[:]).String(), strconv.Itoa(b.Port))
	}
	work := os.Getenv("WORK")
	if work == "" {
		work = "."
	}
	if err := writeAtomicRaw(filepath.Join(work, "activated.addr"), got+"\n"); err != nil {
		return progFail("activate", "%v", err)
	}
	// fd 3, without close-on-exec. Nothing above touched the os package's
	// files or the network poller, so the lowest free descriptor, 3, is
	// normally ours already; if not, Dup3 replaces whatever is there.
	if fd != 3 {
		if err := syscall.Dup3(fd, 3, 0); err != nil {
			return progFail("activate", "dup3: %v", err)
		}
	} else if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, 3, syscall.F_SETFD, 0); e != 0 {
		return progFail("activate", "fcntl: %v", e)
	}
	env := withoutEnv(os.Environ(), "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
	env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES="+name, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	err = syscall.Exec(path, argv, env)
	return progFail("activate", "exec %s: %v", path, err)
}

// pidexecMain is `pidexec PIDFILE -- PROG [ARG...]`.
func pidexecMain(args []string) int {
	head, path, argv, err := splitExec("pidexec", args, 1)
	if err != nil {
		return progFail("pidexec", "%v", err)
	}
	if err := writeAtomic(head[0], strconv.Itoa(os.Getpid())+"\n"); err != nil {
		return progFail("pidexec", "%v", err)
	}
	err = syscall.Exec(path, argv, os.Environ())
	return progFail("pidexec", "exec %s: %v", path, err)
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// writeAtomicRaw is writeAtomic with bare system calls: in activate, an
// os.File could start the Go network poller, whose descriptors might then
// sit where the socket has to go.
func writeAtomicRaw(path, content string) error {
	tmp := path + ".tmp"
	fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", tmp, err)
	}
	_, werr := syscall.Write(fd, []byte(content))
	cerr := syscall.Close(fd)
	if werr != nil || cerr != nil {
		return fmt.Errorf("write %s: %v %v", tmp, werr, cerr)
	}
	return syscall.Rename(tmp, path)
}

func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sseclientMain is `sseclient URL OUTFILE [-n N] [-last-event-id ID]
// [-timeout 20s]`. It GETs URL, insists on 200 and text/event-stream, and
// parses the stream strictly: every event must carry id, event and data;
// data must be one JSON object whose "id" and "type" equal the id and event
// fields; ids must increase (so a replay never repeats or reorders, and
// never goes back to or before -last-event-id). It appends to OUTFILE one
// line per event, "ID TYPE CONTAINER", and "retry N" when the server sends
// a retry field (right after subscribing, so scripts can wait for it before
// making events). It exits 0 after N events (N=0: when the server ends the
// stream) and 1 on a timeout, a protocol error or an early end.
func sseclientMain(args []string) int {
	fs := flag.NewFlagSet("sseclient", flag.ContinueOnError)
	n := fs.Int("n", 0, "exit after this many events (0: read until the stream ends)")
	lastID := fs.String("last-event-id", "", "send Last-Event-ID")
	timeout := fs.Duration("timeout", defaultWait, "give up after this long")
	var pos []string
	for rest := args; len(rest) > 0; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos, rest = append(pos, rest[0]), rest[1:]
		}
	}
	if len(pos) != 2 {
		return progFail("sseclient", "usage: sseclient URL OUTFILE [-n N] [-last-event-id ID] [-timeout DUR]")
	}
	url, outPath := pos[0], pos[1]
	out, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return progFail("sseclient", "%v", err)
	}
	defer out.Close()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return progFail("sseclient", "%v", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return progFail("sseclient", "GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return progFail("sseclient", "GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return progFail("sseclient", "Content-Type %q, want text/event-stream", ct)
	}
	prev := int64(-1)
	if *lastID != "" {
		prev, err = strconv.ParseInt(*lastID, 10, 64)
		if err != nil {
			return progFail("sseclient", "-last-event-id %q: %v", *lastID, err)
		}
	}
	got := 0
	err = readSSE(resp.Body, func(f sseFrame) error {
		if f.retry != "" {
			if _, err := strconv.Atoi(f.retry); err != nil {
				return fmt.Errorf("retry %q is not a number", f.retry)
			}
			if _, err := fmt.Fprintf(out, "retry %s\n", f.retry); err != nil {
				return err
			}
		}
		if !f.hasData {
			if f.id != "" || f.event != "" {
				return fmt.Errorf("id/event without data: %+v", f)
			}
			return nil
		}
		id, err := strconv.ParseInt(f.id, 10, 64)
		if err != nil {
			return fmt.Errorf("event without a numeric id: %+v", f)
		}
		if f.event == "" {
			return fmt.Errorf("event %d without an event field", id)
		}
		if id <= prev {
			return fmt.Errorf("event id %d after %d: ids must increase", id, prev)
		}
		prev = id
		var data struct {
			ID        *int64 `json:"id"`
			Type      string `json:"type"`
			Container string `json:"container"`
			Time      string `json:"time"`
		}
		dec := json.NewDecoder(strings.NewReader(f.data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return fmt.Errorf("event %d: data is not JSON: %v: %q", id, err, f.data)
		}
		if data.ID == nil || *data.ID != id {
			return fmt.Errorf("event %d: data id %v differs from the id field", id, data.ID)
		}
		if data.Type != f.event {
			return fmt.Errorf("event %d: data type %q differs from the event field %q", id, data.Type, f.event)
		}
		if data.Container == "" || data.Time == "" {
			return fmt.Errorf("event %d: data lacks container or time: %s", id, f.data)
		}
		if _, err := fmt.Fprintf(out, "%d %s %s\n", id, data.Type, data.Container); err != nil {
			return err
		}
		got++
		if *n > 0 && got >= *n {
			return errDone
		}
		return nil
	})
	switch {
	case errors.Is(err, errDone):
		return 0
	case err == nil && *n == 0:
		return 0
	case err == nil:
		return progFail("sseclient", "stream ended after %d of %d events", got, *n)
	case ctx.Err() != nil:
		return progFail("sseclient", "timed out after %s with %d of %d events", *timeout, got, *n)
	}
	return progFail("sseclient", "%v", err)
}

var (
	errDone         = errors.New("done")
	errUnknownField = errors.New("unknown field")
)

type sseFrame struct {
	id, event, data, retry string
	hasData                bool
	comments               []string
}

// readSSE parses an event stream (the WHATWG grammar, strictly: unknown
// fields are errors) and calls fn for every frame ended by a blank line.
func readSSE(r io.Reader, fn func(sseFrame) error) error {
	br := bufio.NewReader(r)
	var f sseFrame
	empty := true
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				return nil
			}
			return err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if !empty {
				if err := fn(f); err != nil {
					return err
				}
			}
			f, empty = sseFrame{}, true
			continue
		}
		empty = false
		if strings.HasPrefix(line, ":") {
			f.comments = append(f.comments, line[1:])
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			f.id = value
		case "event":
			f.event = value
		case "data":
			if f.hasData {
				f.data += "\n"
			}
			f.data += value
			f.hasData = true
		case "retry":
			f.retry = value
		default:
			return fmt.Errorf("%w %q in line %q", errUnknownField, field, line)
		}
	}
}
