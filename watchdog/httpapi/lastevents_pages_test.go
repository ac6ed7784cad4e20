package httpapi_test

import (
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// /state follows the log page by page: a full page (500 events) means
// there may be more, so it reads on until a page comes back short, and an
// event past the first page still shows.
func TestStateReadsTheLogPastAFullPage(t *testing.T) {
	e := newEnv(t, 16, nil)
	e.setInstances("a", "b")
	if st := getState(t, e); st.LastEventID != 0 {
		t.Fatalf("empty log: last_event_id %d", st.LastEventID)
	}
	const page = 500
	for id := int64(1); id <= page; id++ {
		e.log.append(watchdog.Event{ID: id, Time: t0, Type: watchdog.EventRestarted, Container: "a"})
	}
	e.log.append(watchdog.Event{ID: page + 1, Time: t0, Type: watchdog.EventMissing, Container: "b"})
	st := getState(t, e)
	if st.LastEventID != page+1 {
		t.Errorf("last_event_id %d, want %d (the event after a full page)", st.LastEventID, page+1)
	}
	if b := st.Instances[1].LastEvent; b == nil || b.ID != page+1 {
		t.Errorf("b's last event %+v, want id %d", b, page+1)
	}
	if a := st.Instances[0].LastEvent; a == nil || a.ID != page {
		t.Errorf("a's last event %+v, want id %d", a, page)
	}
}
