package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// LastEvents completes fakeLog as an httpapi.EventLog: the newest event of
// each container, as sqlite.DB answers it.
func (l *fakeLog) LastEvents(context.Context) ([]watchdog.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastCalls++
	if l.err != nil {
		return nil, l.err
	}
	newest := map[string]int{}
	for i, e := range l.events {
		newest[e.Container] = i
	}
	var out []watchdog.Event
	for i, e := range l.events {
		if newest[e.Container] == i {
			out = append(out, e)
		}
	}
	return out, nil
}

type stateAnswer struct {
	LastEventID    int64  `json:"last_event_id"`
	LastEventError string `json:"last_event_error"`
	Instances      []struct {
		Container string          `json:"container"`
		State     string          `json:"state"`
		LastEvent *watchdog.Event `json:"last_event"`
	} `json:"instances"`
}

func getState(t *testing.T, e *env) stateAnswer {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st stateAnswer
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *env) setInstances(names ...string) {
	rep := watchdog.TickReport{Started: t0, Result: watchdog.TickCompleted}
	for _, n := range names {
		rep.Instances = append(rep.Instances, watchdog.InstanceState{Container: n, State: watchdog.StateRunning})
	}
	e.health.Record(rep, nil, t0)
}

// Each instance in /state carries its container's newest event from the
// log, with its evidence; the log is read in full once, then only for
// what it gained.
func TestStateCarriesEachInstancesLastEvent(t *testing.T) {
	e := newEnv(t, 16, nil)
	at := t0.Add(-time.Minute)
	e.log.append(
		watchdog.Event{ID: 1, Time: at, Type: watchdog.EventMissing, Container: "a"},
		watchdog.Event{ID: 2, Time: at, Type: watchdog.EventRecreated, Container: "a"},
		watchdog.Event{ID: 3, Time: at, Type: watchdog.EventStopped, Container: "b",
			Evidence: map[string]string{"CONTAINER_EXIT_CODE": "137", "CONTAINER_OOM": "true"}},
		watchdog.Event{ID: 4, Time: at, Type: watchdog.EventOrphaned, Container: "gone"},
	)
	e.setInstances("a", "b", "c")

	st := getState(t, e)
	if st.LastEventID != 4 || len(st.Instances) != 3 {
		t.Fatalf("/state = %+v, want last_event_id 4 and three instances", st)
	}
	a, b, c := st.Instances[0], st.Instances[1], st.Instances[2]
	if a.LastEvent == nil || a.LastEvent.ID != 2 || a.LastEvent.Type != watchdog.EventRecreated {
		t.Errorf("a's last event %+v, want id 2 container_recreated", a.LastEvent)
	}
	if b.LastEvent == nil || b.LastEvent.ID != 3 || b.LastEvent.Evidence["CONTAINER_OOM"] != "true" {
		t.Errorf("b's last event %+v, want id 3 with its evidence", b.LastEvent)
	}
	if c.LastEvent != nil {
		t.Errorf("c has no event, got %+v", c.LastEvent)
	}

	// Events stored since (by anyone) show at the next /state.
	e.publish(watchdog.Event{ID: 5, Time: t0, Type: watchdog.EventMissing, Container: "c"},
		watchdog.Event{ID: 6, Time: t0, Type: watchdog.EventMissing, Container: "a"})
	st = getState(t, e)
	if st.LastEventID != 6 || st.Instances[0].LastEvent.ID != 6 || st.Instances[2].LastEvent.ID != 5 || st.Instances[1].LastEvent.ID != 3 {
		t.Errorf("after two events: %+v", st)
	}
	e.log.mu.Lock()
	seeds := e.log.lastCalls
	e.log.mu.Unlock()
	if seeds != 1 {
		t.Errorf("LastEvents called %d times, want once (then the log is followed by id)", seeds)
	}
}

// A log that cannot be read does not take /state down.
func TestStateWithoutTheLog(t *testing.T) {
	e := newEnv(t, 16, nil)
	e.setInstances("a")
	e.log.mu.Lock()
	e.log.err = errors.New("database is locked")
	e.log.mu.Unlock()
	st := getState(t, e)
	if len(st.Instances) != 1 || st.Instances[0].LastEvent != nil || st.LastEventError == "" {
		t.Errorf("/state with a locked log = %+v, want the instance and the error", st)
	}
}
