package journal_test

import (
	"bytes"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	sdjournal "github.com/coreos/go-systemd/v22/journal"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/journal"
)

func event(t watchdog.EventType) watchdog.Event {
	return watchdog.Event{ID: 42, Time: time.Now(), Type: t, Container: "claude-hooks-dev-default", Agent: "dev", Instance: "default"}
}

func TestFields(t *testing.T) {
	e := event(watchdog.EventMissing)
	e.Detail = "not known to docker"
	f := journal.Fields(e)
	want := map[string]string{
		"SYSLOG_IDENTIFIER":      "container-watchdog",
		"MESSAGE_ID":             watchdog.EventMissing.MessageID(),
		"CONTAINER_EVENT":        "container_missing",
		"CONTAINER_NAME":         "claude-hooks-dev-default",
		"AGENT_TYPE":             "dev",
		"AGENT_INSTANCE":         "default",
		"CONTAINER_EVENT_ID":     "42",
		"CONTAINER_EVENT_DETAIL": "not known to docker",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	if len(f) != len(want) {
		t.Errorf("fields %v, want exactly %v", f, want)
	}
	e.Detail = ""
	if _, ok := journal.Fields(e)["CONTAINER_EVENT_DETAIL"]; ok {
		t.Error("CONTAINER_EVENT_DETAIL sent without a detail")
	}
}

func TestMessageIDs(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]watchdog.EventType{}
	for _, typ := range watchdog.EventTypes() {
		id := journal.Fields(event(typ))["MESSAGE_ID"]
		if !hex32.MatchString(id) {
			t.Errorf("%s: MESSAGE_ID %q is not 32 hex digits", typ, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share MESSAGE_ID %s", typ, other, id)
		}
		seen[id] = typ
	}
	for _, typ := range []watchdog.EventType{watchdog.EventStopped, watchdog.EventMissing, watchdog.EventRecreated, watchdog.EventRecreateFailed,
		watchdog.EventUnhealthy, watchdog.EventHealthy, watchdog.EventUnhealthyRestarted, watchdog.EventUnhealthyRestartFailed, watchdog.EventHeld, watchdog.EventReleased} {
		if _, ok := seen[typ.MessageID()]; !ok {
			t.Errorf("contract type %s missing from EventTypes", typ)
		}
	}
}

// The shipped catalog (units/container-watchdog.catalog) explains every
// event type, and lists no id that is none of theirs but the fallback.
func TestCatalogHasAnEntryPerMessageID(t *testing.T) {
	b, err := os.ReadFile("../../units/container-watchdog.catalog")
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{} // MESSAGE_ID -> its entry's text
	var id string
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "-- "); ok {
			id = strings.TrimSpace(rest)
			if _, dup := entries[id]; dup {
				t.Errorf("catalog entry %s twice", id)
			}
			entries[id] = ""
			continue
		}
		if id != "" {
			entries[id] += line + "\n"
		}
	}
	known := map[string]bool{watchdog.EventType("").MessageID(): true}
	for _, typ := range watchdog.EventTypes() {
		known[typ.MessageID()] = true
		text, ok := entries[typ.MessageID()]
		if !ok {
			t.Errorf("%s: no catalog entry for MESSAGE_ID %s", typ, typ.MessageID())
			continue
		}
		if !strings.HasPrefix(text, "Subject: ") || !strings.Contains(text, "Defined-By: container-watchdog\n") {
			t.Errorf("%s: catalog entry lacks Subject or Defined-By:\n%s", typ, text)
		}
	}
	for id := range entries {
		if !known[id] {
			t.Errorf("catalog entry %s is no event type's MESSAGE_ID", id)
		}
	}
}

func TestEvidenceFields(t *testing.T) {
	e := event(watchdog.EventMissing)
	e.Evidence = map[string]string{
		"exit_code":             "137",
		"Signal":                "9",
		"oom_killed":            "false",
		"bad-key":               "x",
		"_PRIVATE":              "x",
		"1LEADING_DIGIT":        "x",
		"with space":            "x",
		"":                      "x",
		strings.Repeat("A", 64): "64 is fine",
		strings.Repeat("B", 65): "x",
		"container_name":        "must not override",
		"é":                     "x",
	}
	f := journal.Fields(e)
	for k, v := range map[string]string{"EXIT_CODE": "137", "SIGNAL": "9", "OOM_KILLED": "false", strings.Repeat("A", 64): "64 is fine"} {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	if f["CONTAINER_NAME"] != "claude-hooks-dev-default" {
		t.Errorf("evidence overrode CONTAINER_NAME: %q", f["CONTAINER_NAME"])
	}
	// What journald would drop must never be sent (see systemd's journal_field_valid).
	valid := regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	for k := range f {
		if !valid.MatchString(k) {
			t.Errorf("invalid journal field %q sent", k)
		}
	}
	if len(f) != 7+4 {
		t.Errorf("fields %v", f)
	}
}

type sent struct {
	msg  string
	prio sdjournal.Priority
	vars map[string]string
}

func TestPublishSendsWithPriority(t *testing.T) {
	for typ, prio := range map[watchdog.EventType]sdjournal.Priority{
		watchdog.EventStopped:        4,
		watchdog.EventMissing:        4,
		watchdog.EventRecreated:      5,
		watchdog.EventRecreateFailed: 3,
		// The contract's health and hold priorities.
		watchdog.EventUnhealthy:              4,
		watchdog.EventUnhealthyRestarted:     5,
		watchdog.EventHeld:                   5,
		watchdog.EventReleased:               5,
		watchdog.EventHealthy:                6,
		watchdog.EventUnhealthyRestartFailed: 3,
	} {
		var got []sent
		var fallback bytes.Buffer
		s := journal.NewWith(func(msg string, p sdjournal.Priority, vars map[string]string) error {
			got = append(got, sent{msg, p, vars})
			return nil
		}, &fallback)
		if !s.Journald() {
			t.Fatal("Journald() = false with a send func")
		}
		e := event(typ)
		e.Detail = "docker said no"
		s.Publish(e)
		if len(got) != 1 || fallback.Len() != 0 {
			t.Fatalf("%s: sent %v, fallback %q", typ, got, fallback.String())
		}
		if got[0].prio != prio || got[0].msg != e.Message() || got[0].vars["CONTAINER_EVENT"] != string(typ) {
			t.Errorf("%s: sent %+v, want priority %d", typ, got[0], prio)
		}
		if !strings.Contains(got[0].msg, e.Container) || !strings.Contains(got[0].msg, e.Detail) {
			t.Errorf("message %q should name the container and the detail", got[0].msg)
		}
		if _, ok := got[0].vars["MESSAGE"]; ok {
			t.Error("MESSAGE passed as a field: go-systemd sets it from the message")
		}
	}
}

func TestPublishFallsBackToLogfmt(t *testing.T) {
	var fallback bytes.Buffer
	calls := 0
	s := journal.NewWith(func(string, sdjournal.Priority, map[string]string) error {
		calls++
		return errors.New("journald socket gone")
	}, &fallback)
	e := event(watchdog.EventRecreateFailed)
	e.Detail = "pull access denied"
	s.Publish(e)
	line := fallback.String()
	if calls != 1 || !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("calls %d, fallback %q", calls, line)
	}
	for _, want := range []string{"PRIORITY=3 ", "CONTAINER_EVENT=container_recreate_failed", "CONTAINER_NAME=claude-hooks-dev-default",
		`CONTAINER_EVENT_DETAIL="pull access denied"`, "CONTAINER_EVENT_ID=42", "SYSLOG_IDENTIFIER=container-watchdog", `MESSAGE="Container claude-hooks-dev-default`} {
		if !strings.Contains(line, want) {
			t.Errorf("fallback %q lacks %q", line, want)
		}
	}

	// Without journald every event goes to the writer.
	fallback.Reset()
	s = journal.NewWith(nil, &fallback)
	if s.Journald() {
		t.Error("Journald() = true without a send func")
	}
	s.Publish(event(watchdog.EventStopped))
	s.Publish(event(watchdog.EventRecreated))
	if lines := strings.Split(strings.TrimSpace(fallback.String()), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "PRIORITY=4 ") || !strings.HasPrefix(lines[1], "PRIORITY=5 ") {
		t.Errorf("fallback %q", fallback.String())
	}
}

func TestLogfmt(t *testing.T) {
	got := journal.Logfmt("Container x stopped", 4, map[string]string{
		"B_PLAIN": "value",
		"A_EMPTY": "",
		"C_SPACE": "a b",
		"D_QUOTE": `say "hi"`,
		"E_EQ":    "k=v",
		"F_NL":    "line1\nline2",
		"G_BS":    `C:\x`,
	})
	want := `PRIORITY=4 MESSAGE="Container x stopped" A_EMPTY="" B_PLAIN=value C_SPACE="a b" D_QUOTE="say \"hi\"" E_EQ="k=v" F_NL="line1\nline2" G_BS="C:\\x"`
	if got != want {
		t.Errorf("Logfmt:\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "\n") {
		t.Error("a logfmt entry spans lines")
	}
}
