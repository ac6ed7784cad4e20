package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestLastEventsIsTheNewestOfEachContainer(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "registry.db"))
	if evs, err := db.LastEvents(ctx); err != nil || len(evs) != 0 {
		t.Fatalf("LastEvents of an empty log = %v, %v", evs, err)
	}
	for _, e := range []watchdog.Event{
		{Type: watchdog.EventMissing, Container: "a"},
		{Type: watchdog.EventMissing, Container: "b"},
		{Type: watchdog.EventRecreated, Container: "a", Evidence: map[string]string{"CONTAINER_EXIT_CODE": "137"}},
		{Type: watchdog.EventStopped, Container: "c"},
		{Type: watchdog.EventRecreateFailed, Container: "b", Detail: "no such image"},
	} {
		if err := db.AppendEvent(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := db.LastEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Container+" "+string(e.Type)+" "+e.Detail+" "+e.Evidence["CONTAINER_EXIT_CODE"])
	}
	want := []string{"a container_recreated  137", "c container_stopped  ", "b container_recreate_failed no such image "}
	if len(got) != len(want) {
		t.Fatalf("LastEvents = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("LastEvents[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if evs[0].ID != 3 || evs[2].ID != 5 || evs[0].Time.IsZero() {
		t.Errorf("ids/times not read back: %+v", evs)
	}
}
