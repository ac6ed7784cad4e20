package chaos

// A docker wrapper the daemon runs as its --docker: it logs every call
// (start, end, status), so the suite knows what the daemon was doing when
// it killed it, and it can hang a random share of the calls past
// --docker-timeout. Its path is unique to the run, so a process of it
// still there after its daemon is gone is one the daemon left behind.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wrapperSource is the wrapper: `docker ARGS...` runs $CW_WRAP_REAL ARGS,
// appending "S <pid> <unixnano> <hang> <args>" and "E <pid> <unixnano>
// <status>" to $CW_WRAP_LOG. While the file $CW_WRAP_HANG_FILE exists, a
// share $CW_WRAP_HANG_RATE of the calls sleep $CW_WRAP_HANG_FOR, half of
// them before running docker (it never started) and half after (it did
// the work, then hung). The real docker dies with the wrapper.
const wrapperSource = `package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func logf(format string, args ...any) {
	f, err := os.OpenFile(os.Getenv("CW_WRAP_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, format, args...)
	f.Close()
}

func main() {
	hang := "-"
	if p := os.Getenv("CW_WRAP_HANG_FILE"); p != "" {
		if _, err := os.Stat(p); err == nil {
			rate, _ := strconv.ParseFloat(os.Getenv("CW_WRAP_HANG_RATE"), 64)
			if rand.Float64() < rate {
				hang = "before"
				if rand.IntN(2) == 1 {
					hang = "after"
				}
			}
		}
	}
	sleep, _ := time.ParseDuration(os.Getenv("CW_WRAP_HANG_FOR"))
	logf("S %d %d %s %s\n", os.Getpid(), time.Now().UnixNano(), hang, strings.Join(os.Args[1:], " "))
	if hang == "before" {
		time.Sleep(sleep)
	}
	cmd := exec.Command(os.Getenv("CW_WRAP_REAL"), os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code == 0 {
		code = 127
	}
	if hang == "after" {
		time.Sleep(sleep)
	}
	logf("E %d %d %d\n", os.Getpid(), time.Now().UnixNano(), code)
	os.Exit(code)
}
`

// wrapper is one wrapper binary and its call log.
type wrapper struct {
	path, log, hangFile string
}

// newWrapper builds the wrapper into dir (its name there is docker).
func (w *world) newWrapper(tb testing.TB, dir string) *wrapper {
	tb.Helper()
	src := filepath.Join(dir, "wrapsrc")
	must(tb, os.MkdirAll(src, 0o755))
	must(tb, os.WriteFile(filepath.Join(src, "main.go"), []byte(wrapperSource), 0o644))
	must(tb, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module wrap\n\ngo 1.22\n"), 0o644))
	wr := &wrapper{path: filepath.Join(dir, "bin", "docker"), log: filepath.Join(dir, "docker-calls.log"), hangFile: filepath.Join(dir, "hang")}
	goBuild(tb, src, wr.path, []string{"CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod"}, ".")
	return wr
}

// env is what a daemon needs to run docker through the wrapper; hangs
// happen at rate, for hangFor, while the hang file exists.
func (wr *wrapper) env(real string, rate float64, hangFor time.Duration) []string {
	return []string{"CW_WRAP_REAL=" + real, "CW_WRAP_LOG=" + wr.log, "CW_WRAP_HANG_FILE=" + wr.hangFile,
		"CW_WRAP_HANG_RATE=" + strconv.FormatFloat(rate, 'f', -1, 64), "CW_WRAP_HANG_FOR=" + hangFor.String()}
}

// setHang turns hanging on or off.
func (wr *wrapper) setHang(tb testing.TB, on bool) {
	tb.Helper()
	if on {
		must(tb, os.WriteFile(wr.hangFile, nil, 0o644))
		return
	}
	if err := os.Remove(wr.hangFile); err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
}

// call is one docker call as the wrapper logged it.
type call struct {
	pid        int
	start, end time.Time // end is zero while it runs
	hang       string    // "-", "before" or "after"
	args       string
	status     int
}

func (c call) is(verb string) bool { return strings.HasPrefix(c.args, verb+" ") || c.args == verb }

// tick says the call is a tick's listing (ps of every managed container);
// a repair's look-up lists one name, ending in "$".
func (c call) tick() bool { return c.is("ps") && !strings.Contains(c.args, "$ --format") }

// calls reads the log from byte offset from: every call that started
// there, with its end when it has one, and the offset to read on from.
func (wr *wrapper) calls(tb testing.TB, from int64) ([]call, int64) {
	tb.Helper()
	f, err := os.Open(wr.log)
	if os.IsNotExist(err) {
		return nil, from
	}
	must(tb, err)
	defer f.Close()
	_, err = f.Seek(from, 0)
	must(tb, err)
	var out []call
	byPid := map[int]int{}
	r := bufio.NewReader(f)
	off := from
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // a partial last line is read again next time
		}
		off += int64(len(line))
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 5)
		if len(f) < 4 {
			continue
		}
		pid, _ := strconv.Atoi(f[1])
		ns, _ := strconv.ParseInt(f[2], 10, 64)
		switch f[0] {
		case "S":
			c := call{pid: pid, start: time.Unix(0, ns), hang: f[3]}
			if len(f) == 5 {
				c.args = f[4]
			}
			byPid[pid] = len(out)
			out = append(out, c)
		case "E":
			if i, ok := byPid[pid]; ok {
				out[i].end = time.Unix(0, ns)
				out[i].status, _ = strconv.Atoi(f[3])
			}
		}
	}
	return out, off
}

// processes returns the pids of the wrapper's running processes.
func (wr *wrapper) processes() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == wr.path {
			pids = append(pids, pid)
		}
	}
	return pids
}

// orphans returns the pids of wrapper processes whose parent is not
// parent: calls a daemon that is gone left behind.
func (wr *wrapper) orphans(parent int) []int {
	var out []int
	for _, pid := range wr.processes() {
		if ppid(pid) != parent {
			out = append(out, pid)
		}
	}
	return out
}

// ppid reads a process's parent from /proc (0 when it is gone).
func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// describe says what each wrapper process runs.
func (wr *wrapper) describe(pids []int) string {
	var parts []string
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		parts = append(parts, fmt.Sprintf("pid %d: %s", pid, strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")))
	}
	return strings.Join(parts, "; ")
}

// reap ends wrapper processes by pid; their docker has Pdeathsig.
func (wr *wrapper) reap(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
