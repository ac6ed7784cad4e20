package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageRow is an instance row as the page shows it.
type pageRow struct {
	Container string `json:"container"`
	State     string `json:"state"`
	Name      string `json:"name"`
	Last      string `json:"last"`
}

const rowsJS = `[...document.querySelectorAll('#rows tr')].map(tr => ({
	container: tr.dataset.container, state: tr.dataset.state,
	name: tr.querySelector('td.name').textContent, last: tr.querySelector('td.last').textContent}))`

// sameRows says the page shows exactly these instances, in order, each
// with its state and agent / instance.
func sameRows(rows []pageRow, want []struct{ Container, Agent, Instance, State string }) bool {
	if len(rows) != len(want) {
		return false
	}
	for i, in := range want {
		r := rows[i]
		if r.Container != in.Container || r.State != in.State || !strings.Contains(r.Name, in.Agent+" / "+in.Instance) {
			return false
		}
	}
	return true
}

// feedIDs is the feed's event ids, top (newest) first.
const feedIDsJS = `[...document.querySelectorAll('#feed li')].map(li => Number(li.dataset.id))`

// The dashboard in Debian's chromium, against the real daemon and the fake
// docker: the empty state, rows that match /state, a removal shown as
// missing then running with no reload, the disconnected banner while the
// daemon is down, and a resume that neither loses nor repeats an event.
// Whatever the page does, the CSP must produce no console error.
func TestDashboardInABrowser(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	d := newDaemonProc(t)
	// docker run takes 0.4 s, as on a real engine (0.3-0.45 s here): with
	// the fake's instant run, missing and recreated could reach the page in
	// one frame, and the row would never show missing.
	slow := d.slowRunDocker(400 * time.Millisecond)
	d.start("--docker", slow)

	// A fresh daemon with no agents: a friendly empty state.
	b.do(30*time.Second, chromedp.Navigate(d.url("/")))
	b.waitFor("the empty state", `!document.getElementById('empty').hidden`, 10*time.Second)
	if text := eval[string](b, `document.getElementById('empty').textContent`); !strings.Contains(text, "container-watchdog agent add NAME --image IMG") {
		t.Errorf("empty state %q does not say how to add an agent", text)
	}
	b.screenshot("dashboard-empty.png")
	eval[bool](b, `window.cwSamePage = true`) // gone if the page reloads

	// Agents come; their rows appear by themselves.
	d.run("container-watchdog", "agent", "add", "dev", "--image", "agent:1", "--instance", "a", "--instance", "b")
	d.run("container-watchdog", "agent", "add", "ops", "--image", "agent:1")
	// The rows match /state (the page polls it every 5 s; the daemon may
	// still be settling the new containers, so compare until both agree).
	var st struct {
		Instances []struct{ Container, Agent, Instance, State string } `json:"instances"`
	}
	var rows []pageRow
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d.getJSON("/state", &st)
		rows = eval[[]pageRow](b, rowsJS)
		if len(st.Instances) == 3 && sameRows(rows, st.Instances) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page rows %+v never matched /state %+v", rows, st.Instances)
		}
	}
	if !eval[bool](b, `document.getElementById('empty').hidden`) {
		t.Error("the empty state stays with three instances")
	}

	// Removed behind the watchdog's back: missing, then running, no reload.
	victim := "claude-hooks-dev-a"
	eval[bool](b, fmt.Sprintf(`window.cwSeen = [];
		new MutationObserver(ms => { for (const m of ms) if (m.target.dataset.container === %q) cwSeen.push(m.target.dataset.state) })
			.observe(document.getElementById('rows'), {subtree: true, attributes: true, attributeFilter: ['data-state']});
		true`, victim))
	d.run("docker", "fake-rm", victim)
	b.waitFor("the row missing, then running", `(() => { const m = cwSeen.indexOf('missing'); return m >= 0 && cwSeen.indexOf('running', m) > m })()`, 2*time.Second)
	if !eval[bool](b, `window.cwSamePage === true`) {
		t.Error("the page reloaded")
	}
	b.waitFor("the last event in the row", fmt.Sprintf(`document.querySelector('tr[data-container=%q] td.last').textContent.includes('recreated')`, victim), 5*time.Second)
	b.waitFor("the feed", `document.querySelector('#feed li[data-type=container_recreated]') !== null`, 5*time.Second)
	missing := eval[string](b, `document.querySelector('#feed li[data-type=container_missing]').textContent`)
	for _, want := range []string{victim, "signal 9", "exit 137", "likely removed by force"} {
		if !strings.Contains(missing, want) {
			t.Errorf("the feed's container_missing %q lacks %q (its evidence)", missing, want)
		}
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors (CSP or script): %v", errs)
	}
	b.screenshot("dashboard.png")

	// The daemon stops: the banner says so. A container goes meanwhile.
	d.stop()
	b.waitFor("the disconnected banner", `!document.getElementById('disconnected').hidden`, 10*time.Second)
	b.screenshot("dashboard-disconnected.png")
	d.run("docker", "fake-rm", "claude-hooks-ops-default")
	before := d.loggedEvents()

	// Back: the page resumes by itself; every event of the log is in the
	// feed exactly once, newest first, those from the restart included.
	d.start("--docker", slow)
	recreated := d.waitEvent(before[len(before)-1].ID, "container_recreated", "claude-hooks-ops-default", 15*time.Second)
	b.waitFor("the banner gone", `document.getElementById('disconnected').hidden`, 15*time.Second)
	b.waitFor("the restart's events", fmt.Sprintf(`document.querySelector('#feed li[data-id="%d"]') !== null`, recreated), 10*time.Second)
	var logged []int64
	for _, e := range d.loggedEvents() {
		logged = append(logged, e.ID)
	}
	shown := eval[[]int64](b, feedIDsJS)
	sort.Slice(logged, func(i, j int) bool { return logged[i] > logged[j] })
	if fmt.Sprint(shown) != fmt.Sprint(logged) {
		t.Errorf("feed ids %v, want every logged event once, newest first: %v", shown, logged)
	}
	if !eval[bool](b, `window.cwSamePage === true`) {
		t.Error("the page reloaded")
	}
	b.waitFor("the ops row running", `document.querySelector('tr[data-container="claude-hooks-ops-default"]').dataset.state === 'running'`, 10*time.Second)
	// While the daemon was down, the browser logs refused connections
	// (network); nothing else may have gone wrong.
	if errs := b.errors("network"); len(errs) > 0 {
		t.Errorf("console errors besides refused connections: %v", errs)
	}
}
