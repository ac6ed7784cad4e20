package sqlite_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// Sink looks up one sink by name (an unknown one is ErrNotFound); Sinks
// lists them all.
func TestSinkLooksUpOneSinksListsAll(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "r.db"))
	for _, s := range []notify.Sink{
		{Name: "a", URL: "https://a.example/h", MinPriority: 5},
		{Name: "b", URL: "https://b.example/h", MinPriority: 7},
	} {
		if err := db.AddSink(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.Sink(ctx, "b"); err != nil || got.Name != "b" || got.URL != "https://b.example/h" {
		t.Errorf("Sink(b) = %+v, %v", got, err)
	}
	if _, err := db.Sink(ctx, "c"); !errors.Is(err, watchdog.ErrNotFound) {
		t.Errorf("Sink(c) = %v, want ErrNotFound", err)
	}
	all, err := db.Sinks(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Sinks = %+v, %v; want both", all, err)
	}
	names := map[string]bool{all[0].Name: true, all[1].Name: true}
	if !names["a"] || !names["b"] {
		t.Errorf("Sinks = %+v, want a and b", all)
	}
}
