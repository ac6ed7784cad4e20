// container-watchdog dashboard. Loads /state, then follows /events; polls
// /state and /healthz for the tick. Rows are keyed by container and updated
// in place; DOM writes are batched once per frame, and the feed keeps at
// most FEED_ROWS rows, so thousands of instances and events stay smooth.

const FEED_ROWS = 200; // rows in the feed's DOM
const FEED_KEEP = 2000; // events kept in memory for re-filtering
const FEED_HISTORY = 200; // events replayed into the feed on load
const POLL_MS = 5000;
const FRAME_BUDGET_MS = 8; // row rendering per frame; the rest waits a frame
const FEED_PAINT_MS = 250; // the feed is redrawn at most this often
const RECONNECT_MS = 2000;

// Every event type the server sends: EventSource dispatches by the `event:`
// field and has no wildcard. A Go test checks this against watchdog.EventTypes.
export const EVENT_TYPES = [
  "container_stopped", "container_missing", "container_recreated", "container_recreate_failed",
  "container_running", "container_restarted", "container_orphaned",
  "container_unhealthy", "container_healthy", "container_unhealthy_restarted",
  "container_unhealthy_restart_failed", "container_unhealthy_gave_up", "container_held", "container_released",
];

// What an event says about its container's state, health or hold.
const IMPLIED = {
  container_missing: { state: "missing" },
  container_recreate_failed: { state: "missing" },
  container_recreated: { state: "running" },
  container_running: { state: "running" },
  container_restarted: { state: "running" },
  container_stopped: { state: "stopped" },
  container_orphaned: { state: "orphaned" },
  container_unhealthy: { health: "unhealthy" },
  container_healthy: { health: "healthy" },
  container_unhealthy_restarted: { state: "running", health: "starting" },
  container_held: { state: "held", held: true },
  container_released: { held: false },
};

const SYMBOL = { running: "●", stopped: "■", missing: "✖", held: "⏸", released: "▶", orphaned: "?", unhealthy: "▲" };

// derive is a row's shown condition: the last tick's, then what each of
// the row's events from that tick on says, in order (a repair reports after
// its tick, and SSE events arrive between polls).
export function derive(tick, tickTime, evs) {
  let out = { ...tick };
  for (const ev of evs) {
    if (Date.parse(ev.time) >= tickTime) out = follow(out, ev);
  }
  return out;
}

function follow(prev, ev) {
  const out = { ...prev };
  const imp = IMPLIED[ev.type];
  if (!imp) return out;
  if (imp.state && imp.state !== out.state) {
    out.state = imp.state;
    out.since = ev.time;
  }
  if (imp.health) {
    out.health = imp.health;
  }
  if (imp.held === false) {
    out.held = false;
    out.hold_reason = "";
    out.hold_until = "";
    if (out.state === "held") {
      out.state = "released";
      out.since = ev.time;
    }
  } else if (imp.held) {
    out.held = true;
  }
  return out;
}

const RECENT = 16; // events a row keeps for derive

// remember adds ev to the row's recent events (ids ascending); false when
// the row already has it or something newer.
function remember(r, ev) {
  const last = r.recent[r.recent.length - 1];
  if (last && ev.id <= last.id) return false;
  r.recent.push(ev);
  if (r.recent.length > RECENT) r.recent.shift();
  return true;
}

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const rows = new Map(); // container -> row record
const feed = { buf: [], type: "", agent: "", unshown: [], paintedAt: 0, timer: 0 };
const agents = new Set();
const ui = { lastId: 0, tickTime: 0, es: null, polling: false, streamUp: false, stateUp: false };
let pending = [];
let dirty = new Set();
let scheduled = false;

// ---------------------------------------------------------------- format

function ago(iso) {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function clock(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString();
}

// evidence turns an event's docker evidence into short labelled chips.
function evidence(ev) {
  const f = (ev && ev.evidence) || {};
  const out = [];
  if (f.CONTAINER_EXIT_CODE) out.push(["exit " + f.CONTAINER_EXIT_CODE, f.CONTAINER_EXIT_CODE !== "0"]);
  if (f.CONTAINER_KILL_SIGNAL) out.push(["signal " + f.CONTAINER_KILL_SIGNAL, true]);
  if (f.CONTAINER_OOM === "true") out.push(["OOM", true]);
  if (f.CONTAINER_CAUSE) out.push([f.CONTAINER_CAUSE, false]);
  return out;
}

function chips(ev) {
  const box = el("span", "chips");
  for (const [text, bad] of evidence(ev)) box.append(el("span", bad ? "chip chip-bad" : "chip", text));
  return box;
}

// ---------------------------------------------------------------- rows

function newRow(container) {
  const tr = el("tr");
  tr.setAttribute("role", "row");
  tr.dataset.container = container;
  const cell = (label, cls) => {
    const td = el("td", cls);
    td.setAttribute("role", "cell");
    td.dataset.label = label;
    tr.append(td);
    return td;
  };
  const r = {
    tr, tick: {}, recent: [], shown: {},
    name: cell("Container", "name"), state: cell("State", "state"), since: cell("Since", "since"),
    health: cell("Health", "health"), hold: cell("Hold", "hold"), last: cell("Last event", "last"),
  };
  return r;
}

// put writes a cell only when what it shows changed.
function put(r, key, text, fill) {
  if (r.shown[key] === text) return;
  r.shown[key] = text;
  fill();
}

function renderRow(r) {
  const v = derive(r.tick, ui.tickTime, r.recent);
  r.view = v;
  r.tr.dataset.state = v.state || "";
  put(r, "name", `${r.tick.container}|${r.tick.agent}|${r.tick.instance}`, () => {
    r.name.replaceChildren(el("code", "", r.tick.container), el("span", "sub", `${r.tick.agent} / ${r.tick.instance}`));
  });
  put(r, "state", v.state, () => {
    const s = v.state || "unknown";
    r.state.replaceChildren(el("span", `badge s-${s}`, `${SYMBOL[s] || "•"} ${s}`));
  });
  put(r, "since", `${v.since}|${ago(v.since)}`, () => {
    r.since.textContent = ago(v.since);
    r.since.title = v.since ? new Date(v.since).toLocaleString() : "";
  });
  put(r, "health", v.health || "", () => {
    r.health.replaceChildren(v.health ? el("span", `badge h-${v.health}`, v.health) : el("span", "muted", "—"));
  });
  const hold = v.held ? `held|${v.hold_reason || ""}|${v.hold_until || ""}` : "";
  put(r, "hold", hold, () => {
    if (!v.held) {
      r.hold.replaceChildren(el("span", "muted", "—"));
      return;
    }
    const parts = [el("span", "badge s-held", "⏸ held")];
    if (v.hold_reason) parts.push(el("span", "sub", v.hold_reason));
    if (v.hold_until) parts.push(el("span", "sub", "until " + new Date(v.hold_until).toLocaleString()));
    r.hold.replaceChildren(...parts);
  });
  const ev = r.recent[r.recent.length - 1];
  put(r, "last", ev ? String(ev.id) : "", () => {
    if (!ev) {
      r.last.replaceChildren(el("span", "muted", "—"));
      return;
    }
    const head = el("span", "ev-type", ev.type.replace(/^container_/, ""));
    const when = el("time", "sub", clock(ev.time));
    when.dateTime = ev.time;
    r.last.replaceChildren(head, " ", when, chips(ev), el("span", "detail", ev.detail || ""));
  });
}

// applyState merges a /state answer: rows come, go and change in place.
function applyState(st) {
  const tick = st.tick;
  showTick(tick);
  if (tick && tick.result !== "completed") {
    // A skipped tick saw nothing (docker unreachable): keep what the last
    // completed one said; events still update the rows.
    return;
  }
  ui.tickTime = tick ? Date.parse(tick.time) : 0;
  const seen = new Set();
  let added = false;
  for (const inst of st.instances) {
    seen.add(inst.container);
    noteAgent(inst.agent);
    let r = rows.get(inst.container);
    const fresh = !r;
    if (fresh) {
      r = newRow(inst.container);
      rows.set(inst.container, r);
      added = true;
    }
    r.tick = inst;
    if (inst.last_event) remember(r, inst.last_event);
    // Events before this tick are in its state already.
    while (r.recent.length > 1 && Date.parse(r.recent[0].time) < ui.tickTime) r.recent.shift();
    if (fresh) {
      renderRow(r); // never shown empty
    } else {
      dirty.add(r); // rendered over the next frames
    }
  }
  for (const [name, r] of rows) {
    if (!seen.has(name)) {
      r.tr.remove();
      rows.delete(name);
      dirty.delete(r);
    }
  }
  schedule();
  if (added) {
    const frag = document.createDocumentFragment();
    for (const inst of st.instances) frag.append(rows.get(inst.container).tr);
    $("rows").append(frag);
  }
  // No rows after a tick: no agents. Before the first tick: wait for it.
  $("empty").hidden = rows.size > 0 || !tick;
  $("table").hidden = rows.size === 0;
  showCounts();
}

function showCounts() {
  const n = {};
  for (const r of rows.values()) {
    const s = r.view && r.view.health === "unhealthy" && r.view.state === "running" ? "unhealthy" : r.view.state;
    n[s] = (n[s] || 0) + 1;
  }
  const parts = ["running", "unhealthy", "stopped", "missing", "held"].filter((s) => n[s]).map((s) => `${n[s]} ${s}`);
  $("counts").textContent = rows.size ? `${rows.size} · ${parts.join(" · ")}` : "";
}

function showTick(tick) {
  $("docker-down").hidden = !tick || tick.result !== "skipped";
  $("docker-error").textContent = tick && tick.error ? tick.error : "";
  $("tick-text").textContent = tick
    ? `Last tick ${clock(tick.time)} (${ago(tick.time)}), ${tick.result}, took ${tick.duration_ms.toFixed(1)} ms`
    : "No tick has run yet.";
}

function showHealth(h) {
  const status = (h && h.status) || "unhealthy";
  const pill = $("tick-health");
  pill.className = `pill pill-${status}`;
  pill.textContent = status === "ok" ? "✔ ok" : `▲ ${status}`;
  pill.title = (h && h.reason) || "";
  $("tick-reason").textContent = status === "ok" ? "" : pill.title;
}

function noteAgent(a) {
  if (!a || agents.has(a)) return;
  agents.add(a);
  $("filter-agent").append(new Option(a, a));
}

// ---------------------------------------------------------------- feed

const matches = (ev) => (!feed.type || ev.type === feed.type) && (!feed.agent || ev.agent === feed.agent);

function feedRow(ev) {
  const li = el("li");
  li.dataset.id = ev.id;
  li.dataset.type = ev.type;
  const when = el("time", "", clock(ev.time));
  when.dateTime = ev.time;
  const body = el("div");
  body.append(el("span", "ev-type", ev.type), " ", el("code", "", ev.container), chips(ev), el("span", "detail", ev.detail || ""));
  li.append(when, body);
  return li;
}

// feedAdd keeps events for filtering and queues the matching ones for the
// next paint; in a burst the feed is redrawn a few times a second, not on
// every frame, and only with the newest FEED_ROWS.
function feedAdd(evs) {
  if (!evs.length) return;
  feed.buf = feed.buf.concat(evs.slice(-FEED_KEEP));
  if (feed.buf.length > FEED_KEEP) feed.buf = feed.buf.slice(-FEED_KEEP);
  feed.unshown = feed.unshown.concat(evs.filter(matches)).slice(-FEED_ROWS);
  feedPaint();
}

function feedPaint() {
  if (!feed.unshown.length || feed.timer) return;
  const wait = feed.paintedAt + FEED_PAINT_MS - performance.now();
  if (wait > 0) {
    feed.timer = setTimeout(() => {
      feed.timer = 0;
      feedPaint();
    }, wait);
    return;
  }
  const shown = feed.unshown.reverse();
  feed.unshown = [];
  feed.paintedAt = performance.now();
  const list = $("feed");
  const frag = document.createDocumentFragment();
  for (const ev of shown) frag.append(feedRow(ev));
  list.prepend(frag);
  while (list.childElementCount > FEED_ROWS) list.lastElementChild.remove();
  $("feed-empty").hidden = true;
}

function feedRender() {
  feed.unshown = [];
  const shown = feed.buf.filter(matches).slice(-FEED_ROWS).reverse();
  $("feed").replaceChildren(...shown.map(feedRow));
  $("feed-empty").hidden = shown.length > 0;
}

// ---------------------------------------------------------------- events

function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(flush);
  setTimeout(flush, 250); // rAF does not run in a background tab
}

// flush applies the events that came since the last frame and renders
// changed rows for at most FRAME_BUDGET_MS, leaving the rest to the next
// frame, so a burst never blocks the page.
function flush() {
  if (!scheduled) return;
  scheduled = false;
  const evs = pending;
  pending = [];
  for (const ev of evs) {
    noteAgent(ev.agent);
    const r = rows.get(ev.container);
    if (r && remember(r, ev)) dirty.add(r);
  }
  feedAdd(evs);
  const until = performance.now() + FRAME_BUDGET_MS;
  for (const r of dirty) {
    renderRow(r);
    dirty.delete(r);
    if (performance.now() > until) break;
  }
  if (dirty.size > 0) schedule();
  showCounts();
}

function onEvent(msg) {
  let ev;
  try {
    ev = JSON.parse(msg.data);
  } catch {
    return;
  }
  if (typeof ev.id !== "number" || ev.id <= ui.lastId) return; // a replay overlap: never shown twice
  ui.lastId = ev.id;
  pending.push(ev);
  schedule();
}

function connect(since) {
  const es = new EventSource(`/events?since=${since}`);
  ui.es = es;
  es.onopen = () => {
    setStream(true);
    poll(); // what changed while we were away
  };
  es.onerror = () => {
    setStream(false);
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (the server answered with an error while
      // stopping): start again from the last event we have.
      es.close();
      setTimeout(() => connect(ui.lastId), RECONNECT_MS);
    }
    // Otherwise the browser retries by itself, sending Last-Event-ID.
  };
  es.onmessage = onEvent;
  for (const t of EVENT_TYPES) es.addEventListener(t, onEvent);
}

function setStream(up) {
  ui.streamUp = up;
  showConnection();
}

function showConnection() {
  $("disconnected").hidden = ui.streamUp && ui.stateUp;
}

// ---------------------------------------------------------------- polling

async function getJSON(path) {
  const res = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
  if (!res.ok && path !== "/healthz") throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function poll() {
  try {
    const [st, h] = await Promise.all([getJSON("/state"), getJSON("/healthz")]);
    applyState(st);
    showHealth(h);
    ui.stateUp = true;
  } catch {
    ui.stateUp = false;
  }
  showConnection();
}

async function start() {
  for (const t of EVENT_TYPES) $("filter-type").append(new Option(t.replace(/^container_/, ""), t));
  $("filter-type").addEventListener("change", (e) => { feed.type = e.target.value; feedRender(); });
  $("filter-agent").addEventListener("change", (e) => { feed.agent = e.target.value; feedRender(); });
  for (;;) {
    try {
      const st = await getJSON("/state");
      applyState(st);
      void $("rows").offsetHeight; // lay the table out before marking it rendered
      performance.mark("cw-first-render");
      document.body.dataset.rendered = String(rows.size);
      ui.stateUp = true;
      connect(Math.max(0, (st.last_event_id || 0) - FEED_HISTORY));
      break;
    } catch {
      ui.stateUp = false;
      showConnection();
      await new Promise((ok) => setTimeout(ok, RECONNECT_MS));
    }
  }
  getJSON("/healthz").then(showHealth, () => {});
  setInterval(() => {
    if (!document.hidden) poll();
  }, POLL_MS);
}

start();
