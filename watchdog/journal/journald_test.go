//go:build linux

package journal_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/journal"
)

// publishEnv makes this test binary publish testEvent through journal.New
// and exit: it is the program run next to a private journald.
const publishEnv = "CW_TEST_JOURNALD_PUBLISH"

const journaldBin = "/lib/systemd/systemd-journald"

var testEvent = watchdog.Event{
	ID:        4242,
	Time:      time.Date(2026, 4, 20, 11, 55, 26, 123e6, time.UTC),
	Type:      watchdog.EventMissing,
	Container: "claude-hooks-dev-default",
	Agent:     "dev",
	Instance:  "default",
	Detail:    "not in docker ps -a (journald test)",
}

func TestMain(m *testing.M) {
	if os.Getenv(publishEnv) == "1" {
		s := journal.New(os.Stderr)
		if !s.Journald() {
			fmt.Fprintln(os.Stderr, "journal.New chose the stderr fallback, not journald")
			os.Exit(3)
		}
		s.Publish(testEvent)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// unavailable skips because a real component is missing, except in CI
// (CI=true), where that is a failure.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("real journald test cannot run, and CI=true requires it: %s", msg)
	}
	t.Skipf("skipping real journald test: %s (CI=true makes this fatal)", msg)
}

// TestJournaldFields publishes one container_missing event to a real
// systemd-journald, private to a mount and PID namespace, and reads it back
// with journalctl: every field of the contract must be there, and
// `journalctl -x` must explain it from the shipped catalog.
func TestJournaldFields(t *testing.T) {
	if os.Geteuid() != 0 {
		unavailable(t, "needs root to mount a private /run/systemd (euid %d)", os.Geteuid())
	}
	if _, err := os.Stat(journaldBin); err != nil {
		unavailable(t, "no %s: %v", journaldBin, err)
	}
	for _, tool := range []string{"timeout", "unshare", "journalctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s not on PATH: %v", tool, err)
		}
	}
	if out, err := exec.Command("unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc", "true").CombinedOutput(); err != nil {
		unavailable(t, "unshare --mount --pid does not work here (%v): %s", err, bytes.TrimSpace(out))
	}
	catalog, err := filepath.Abs("../../units/container-watchdog.catalog")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(catalog); err != nil {
		t.Fatalf("the shipped catalog: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()

	// Everything journald and journalctl touch is a tmpfs of this mount
	// namespace: /run/systemd (its sockets), /run/log (the volatile journal),
	// /var/log/journal when the host has one (else journald stays volatile
	// and creates nothing there), and the catalog sources and database
	// (when the host has those folders), so --update-catalog sees only the
	// shipped catalog and writes nothing on the host. The PID
	// namespace keeps journald from switching on the kernel's audit (it may
	// only do that from the initial PID namespace). SYSTEMD_LOG_TARGET=console
	// sends journald's own messages to our stderr instead of the host's
	// kernel log. mount -n writes no /run/mount/utab on the host.
	script := `set -eu
mount -n -t tmpfs -o mode=0755 tmpfs /run/systemd
mount -n -t tmpfs -o mode=0755 tmpfs /run/log
if [ -d /var/log/journal ]; then mount -n -t tmpfs -o mode=0755 tmpfs /var/log/journal; fi
mkdir -p /run/systemd/journal
catalog=0
if [ -d /var/lib/systemd/catalog ] && [ -d /usr/lib/systemd/catalog ]; then
	mount -n -t tmpfs -o mode=0755 tmpfs /usr/lib/systemd/catalog
	mount -n -t tmpfs -o mode=0755 tmpfs /var/lib/systemd/catalog
	cp "$CW_CATALOG" /usr/lib/systemd/catalog/
	catalog=1
fi
SYSTEMD_LOG_TARGET=console ` + journaldBin + ` &
jpid=$!
trap 'kill $jpid 2>/dev/null || true; wait $jpid 2>/dev/null || true' EXIT
i=0
while [ ! -S /run/systemd/journal/socket ]; do
	i=$((i+1)); if [ $i -gt 600 ]; then echo "journald's socket never appeared" >&2; exit 10; fi
	sleep 0.1
done
status=0
CW_TEST_JOURNALD_PUBLISH=1 "$CW_PROG" >"$CW_OUT/prog.out" 2>"$CW_OUT/prog.err" || status=$?
echo "$status" >"$CW_OUT/prog.status"
if [ $catalog = 1 ]; then journalctl --update-catalog; fi
i=0
while :; do
	journalctl --no-pager -o json CONTAINER_EVENT=container_missing >"$CW_OUT/entries.json"
	if [ -s "$CW_OUT/entries.json" ]; then break; fi
	i=$((i+1)); if [ $i -gt 300 ]; then echo "the entry never showed up in journalctl" >&2; exit 11; fi
	sleep 0.1
done
if [ $catalog = 1 ]; then journalctl --no-pager -x -o short CONTAINER_EVENT=container_missing >"$CW_OUT/explained.txt"; fi
`
	var log bytes.Buffer
	cmd := exec.Command("timeout", "-k", "3", "120",
		"unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc",
		"/bin/sh", "-c", script, "cwtest-journald")
	cmd.Env = append(os.Environ(), "CW_CATALOG="+catalog, "CW_PROG="+self, "CW_OUT="+out)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	// timeout, unshare and whatever is left of the namespace (the kernel
	// ends it with its PID 1, the script).
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("journald script: %v\n%s", err, log.String())
	}

	if b := read(t, out, "prog.status"); strings.TrimSpace(b) != "0" {
		t.Fatalf("publishing program exited %s; stderr:\n%s", b, read(t, out, "prog.err"))
	}
	// Publish falls back to logfmt on stderr when sending fails.
	if b := read(t, out, "prog.err"); b != "" {
		t.Fatalf("publishing program wrote to stderr (fallback instead of journald?):\n%s", b)
	}

	var entries []map[string]json.RawMessage
	for _, line := range strings.Split(strings.TrimSpace(read(t, out, "entries.json")), "\n") {
		var e map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("journalctl -o json line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	if len(entries) != 1 {
		t.Fatalf("want exactly one CONTAINER_EVENT=container_missing entry, got %d:\n%s", len(entries), read(t, out, "entries.json"))
	}
	e := entries[0]
	want := map[string]string{
		"MESSAGE":                testEvent.Message(),
		"PRIORITY":               "4",
		"SYSLOG_IDENTIFIER":      "container-watchdog",
		"MESSAGE_ID":             watchdog.EventMissing.MessageID(),
		"CONTAINER_EVENT":        "container_missing",
		"CONTAINER_NAME":         "claude-hooks-dev-default",
		"AGENT_TYPE":             "dev",
		"AGENT_INSTANCE":         "default",
		"CONTAINER_EVENT_ID":     "4242",
		"CONTAINER_EVENT_DETAIL": testEvent.Detail,
	}
	for k, v := range want {
		got, ok := field(t, e, k)
		if !ok {
			t.Errorf("journal entry has no %s (want %q)", k, v)
			continue
		}
		if got != v {
			t.Errorf("journal entry %s = %q, want %q", k, got, v)
		}
	}
	// The catalog (units/container-watchdog.catalog) explains the entry.
	// Without the catalog folders to mount over, --update-catalog would
	// write to the host, so that part is left out there.
	if _, err := os.Stat(filepath.Join(out, "explained.txt")); err != nil {
		t.Logf("no /usr/lib/systemd/catalog or /var/lib/systemd/catalog here: the catalog was not checked")
		return
	}
	x := read(t, out, "explained.txt")
	for _, s := range []string{"Subject: Container claude-hooks-dev-default is missing; recreating it", "Defined-By: container-watchdog"} {
		if !strings.Contains(x, s) {
			t.Errorf("journalctl -x does not show %q from the shipped catalog:\n%s", s, x)
		}
	}
	if t.Failed() {
		t.Logf("journald script output:\n%s", log.String())
	}
}

// field decodes one journalctl JSON field: a string, or an array of bytes
// for values that are not printable UTF-8.
func field(t *testing.T, e map[string]json.RawMessage, k string) (string, bool) {
	t.Helper()
	raw, ok := e[k]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var bs []byte
	var nums []int
	if err := json.Unmarshal(raw, &nums); err != nil {
		t.Fatalf("field %s: neither a string nor bytes: %s", k, raw)
	}
	for _, n := range nums {
		bs = append(bs, byte(n))
	}
	return string(bs), true
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
