// Switchback inspector page. Plain browser JavaScript, no build step, no
// libraries: it reads the messages of src/daemon/inspector/messages.ts from
// /inspector/ws and draws them. Read-only: it never sends anything.

// The timeline and small charts show the last 5 minutes, or less while the
// page has not seen that much (never less than 30 s), so a fresh page is not
// a sliver at the right edge.
const WINDOW_MS = 5 * 60_000;
const MIN_WINDOW_MS = 30_000;
const MAX_LOG_ROWS = 300;
const RECONNECT = { baseMs: 250, capMs: 5_000 };
/** The chart is never drawn so small that its smallest text is under this (100 % zoom). */
const MIN_TEXT_PX = 10;

const token = new URLSearchParams(location.search).get('token');
const withToken = (path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);
const $ = (id) => document.getElementById(id);
const SVG_NS = 'http://www.w3.org/2000/svg';

const model = {
  status: null,
  transitions: [], // oldest first
  samples: [], // { at, peers: [{ peer, path, rttMs, loss }] }
  selected: null,
  clockOffset: 0, // server time - page time
  shownState: null,
};

// Read by tests (test/support/inspector-page.ts): every state the chart has
// highlighted for the selected peer, in order.
window.__inspector = { highlights: [], connected: false, messages: 0 };

const serverNow = () => Date.now() + model.clockOffset;

function windowMs() {
  const earliest = Math.min(
    model.samples[0]?.at ?? Number.POSITIVE_INFINITY,
    model.transitions[0]?.at ?? Number.POSITIVE_INFINITY,
  );
  const seen = serverNow() - earliest;
  return Number.isFinite(seen)
    ? Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, seen * 1.05))
    : MIN_WINDOW_MS;
}

function windowLabel(ms) {
  return ms >= 60_000
    ? `last ${Math.round(ms / 6_000) / 10} min`
    : `last ${Math.round(ms / 1000)} s`;
}

// ---- the chart ------------------------------------------------------------

let chartReady = false;
/** The chart could not be loaded: the page says so, and goes live without it. */
let chartFailed = false;

async function loadChart() {
  const response = await fetch(withToken('/inspector/assets/connection.svg'));
  if (!response.ok) throw new Error(`chart: HTTP ${response.status}`);
  const text = await response.text();
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = doc.documentElement;
  const naturalWidth = Number(svg.getAttribute('width')) || svg.viewBox.baseVal.width;
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  // Fill the panel, but never shrink below the scale at which the smallest
  // text is MIN_TEXT_PX: a narrow window scrolls the chart instead.
  const sizes = [...svg.querySelectorAll('text[font-size]')].map((t) =>
    Number(t.getAttribute('font-size')),
  );
  const smallest = Math.min(MIN_TEXT_PX, ...sizes.filter((size) => size > 0));
  svg.style.minWidth = `${Math.ceil((naturalWidth * MIN_TEXT_PX) / smallest)}px`;
  const holder = $('chart');
  holder.replaceChildren(document.importNode(svg, true));
  chartReady = true;
  render();
  markLiveWhenShown();
}

const within = (ancestor, path) => path === ancestor || path.startsWith(`${ancestor}.`);

function highlightState(state) {
  const chart = $('chart');
  for (const el of chart.querySelectorAll('.state.active, .state.active-ancestor')) {
    el.classList.remove('active', 'active-ancestor');
  }
  if (!state) return;
  for (const el of chart.querySelectorAll('.state[data-state]')) {
    const path = el.getAttribute('data-state');
    if (path === state) el.classList.add('active');
    else if (within(path, state)) el.classList.add('active-ancestor');
  }
  keepActiveInView();
}

/** A chart wider than its panel scrolls sideways: keep the live state in view. */
function keepActiveInView() {
  const chart = $('chart');
  const active = chart.querySelector('.state.active');
  if (!active || chart.scrollWidth <= chart.clientWidth) return;
  const box = active.getBoundingClientRect();
  const view = chart.getBoundingClientRect();
  if (box.left < view.left || box.right > view.right) {
    chart.scrollLeft += box.left - view.left - (view.width - box.width) / 2;
  }
}

/** The arrows drawn for a change from `from` to `to`: the most specific one, plus initial arrows inside. */
function edgesFor(from, to) {
  const edges = [...$('chart').querySelectorAll('.transition-edge[data-transition]')];
  let best = null;
  let bestScore = -1;
  for (const el of edges) {
    const source = el.getAttribute('data-source');
    const target = el.getAttribute('data-target');
    if (!source || source === '*' || !target) continue;
    if (!within(source, from) || !within(target, to)) continue;
    const score = source.length * 1000 + target.length;
    if (score > bestScore) {
      best = el;
      bestScore = score;
    }
  }
  if (!best && within('stopped', to))
    best = edges.find((el) => el.getAttribute('data-source') === '*') ?? null;
  const names = best ? [best.getAttribute('data-transition')] : [];
  // Entering a compound state walks its initial arrows down to `to`.
  const entered = best ? best.getAttribute('data-target') : null;
  if (entered) {
    for (const el of edges) {
      const target = el.getAttribute('data-target');
      if (
        el.getAttribute('data-source') === '' &&
        target !== entered &&
        within(entered, target) &&
        within(target, to)
      ) {
        names.push(el.getAttribute('data-transition'));
      }
    }
  }
  return names;
}

function flashTransition(from, to) {
  const chart = $('chart');
  for (const el of chart.querySelectorAll('.flash, .last')) el.classList.remove('flash', 'last');
  for (const name of edgesFor(from, to)) {
    for (const el of chart.querySelectorAll('[data-transition]')) {
      if (el.getAttribute('data-transition') !== name) continue;
      el.classList.add('flash');
      if (el.classList.contains('transition-edge')) el.classList.add('last');
    }
  }
  setTimeout(() => {
    for (const el of chart.querySelectorAll('.flash')) el.classList.remove('flash');
  }, 1600);
}

// ---- helpers ---------------------------------------------------------------

function clock(at) {
  const d = new Date(at);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "xstate.after.suspectInterval.connection.usingDirect.healthy" -> "after suspectInterval". */
function shortEvent(event) {
  let m = /^xstate\.after\.([^.]+)/.exec(event);
  if (m) return `after ${m[1]}`;
  m = /^xstate\.(done|error)\.actor\.([^.]+)/.exec(event);
  if (m) return `${m[2]} ${m[1]}`;
  if (event === '' || event === 'xstate.init') return event === '' ? 'always' : 'start';
  return event;
}

/**
 * `text` with line-break opportunities only where a reader expects them:
 * after the dots of a dotted state path and at spaces, never inside a name
 * (the CSS forbids breaking anywhere else).
 */
function breakable(tag, attrs, text) {
  const node = el(tag, attrs);
  const parts = text.split(/(?<=\.)/);
  parts.forEach((part, i) => {
    if (i > 0) node.append(document.createElement('wbr'));
    node.append(part);
  });
  return node;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const selectedPeer = () => model.status?.peers.find((p) => p.name === model.selected) ?? null;

// ---- rendering -------------------------------------------------------------

function renderPeers() {
  const select = $('peer-select');
  const names = (model.status?.peers ?? []).map((p) => p.name);
  if (!names.includes(model.selected)) model.selected = names[0] ?? null;
  const current = [...select.options].map((o) => o.value);
  if (current.join('\n') !== names.join('\n')) {
    select.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
  }
  if (model.selected !== null) select.value = model.selected;
}

function renderHeader() {
  const s = model.status;
  if (!s) return;
  $('node-summary').textContent =
    `node ${s.publicKey.slice(0, 16)}… · up ${ago(s.uptime * 1000)} · device ${s.device.name} (${s.device.kind}) · listen ${s.listen ?? '—'}`;
}

function renderCurrent() {
  const peer = selectedPeer();
  const state = peer?.state ?? null;
  // Before the first snapshot nothing is known: not even that there is no peer.
  $('current-state').textContent = state ?? (model.status ? 'no peer' : '—');
  const pill = $('current-path');
  pill.textContent = peer ? peer.path : '—';
  pill.className = `path-pill ${peer ? peer.path : ''}`;
  $('current-reason').textContent = peer ? peer.reason : '';
  $('current-since').textContent = peer ? `for ${ago(serverNow() - peer.since)}` : '';
  if (chartReady && state !== model.shownState) {
    highlightState(state);
    model.shownState = state;
    if (state !== null) window.__inspector.highlights.push(state);
  }
  document.body.dataset.state = state ?? '';
}

function renderFacts() {
  const peer = selectedPeer();
  const facts = $('peer-facts');
  if (!peer) return facts.replaceChildren(el('dt', {}, 'peer'), el('dd', {}, 'none configured'));
  const fmt = (v, unit = '') => (v === null || v === undefined ? '—' : `${v}${unit}`);
  const ms = (v) => (v === null ? '—' : `${v.toFixed(1)} ms`);
  const pct = (v) => (v === null ? '—' : `${(v * 100).toFixed(0)} %`);
  const rows = [
    ['key', `${peer.publicKey.slice(0, 22)}…`],
    ['endpoint', fmt(peer.endpoint)],
    ['paired', peer.paired ? 'yes' : 'no'],
    ['transitions', `${peer.transitions} (upgrades ${peer.upgrades}, fallbacks ${peer.fallbacks})`],
    ['relay', `rtt ${ms(peer.paths.relay.rttMs)} · loss ${pct(peer.paths.relay.loss)}`],
    ['direct', `rtt ${ms(peer.paths.direct.rttMs)} · loss ${pct(peer.paths.direct.loss)}`],
  ];
  facts.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function renderRelay() {
  const relay = model.status?.relay;
  const top = relay ? relay.state.split('.')[0] : '';
  for (const li of $('relay-steps').children) {
    li.classList.toggle('active', li.getAttribute('data-relay-state') === top);
  }
  $('relay-detail').textContent = relay
    ? `${relay.state} · ${relay.reason} · seen as ${relay.observed ?? '—'}`
    : '—';
  // The relays of the list, the one in use marked; a failed one says why.
  const relays = relay?.relays ?? [];
  $('relay-list').replaceChildren(
    ...(relays.length > 1 ? relays : []).map((r) =>
      el(
        'li',
        { class: `relay-${r.state}`, 'data-relay-url': r.url, 'data-state': r.state },
        r.state === 'current'
          ? `${r.url} · in use`
          : r.state === 'failed'
            ? `${r.url} · failed (${r.lastError})`
            : r.url,
      ),
    ),
  );
  const move = relay?.lastSwitch;
  $('relay-move').textContent = move
    ? `last move: ${move.from} → ${move.to}, ${move.reason}, ${ago(serverNow() - move.at)} ago · ${relay.switches} so far`
    : '';
}

/** (time, path) change points for the selected peer, from samples and transitions. */
function pathPoints(peerName, from) {
  const points = [];
  for (const s of model.samples) {
    const p = s.peers.find((x) => x.peer === peerName);
    if (p) points.push([s.at, p.path]);
  }
  for (const r of model.transitions) {
    if (r.peer === peerName && r.machine === 'connection' && r.transport)
      points.push([r.at, r.transport]);
  }
  points.sort((a, b) => a[0] - b[0]);
  // Keep the last point before the window: it says what the window starts with.
  const firstInside = points.findIndex(([at]) => at >= from);
  return firstInside > 0
    ? points.slice(firstInside - 1)
    : firstInside === 0
      ? points
      : points.slice(-1);
}

function renderTimeline() {
  const svg = $('timeline');
  const now = serverNow();
  const span = windowMs();
  const from = now - span;
  const W = 520;
  const x = (t) => ((Math.max(from, t) - from) / span) * W;
  for (const label of document.querySelectorAll('.window-label'))
    label.textContent = windowLabel(span);
  const peer = selectedPeer();
  const parts = [];
  if (peer) {
    const points = pathPoints(peer.name, from);
    points.push([now, peer.path]);
    for (let i = 0; i + 1 < points.length; i++) {
      const [t0, path] = points[i];
      const t1 = points[i + 1][0];
      if (t1 <= from) continue;
      const x0 = x(t0);
      const w = Math.max(0.5, x(t1) - x0);
      // One lane per path, top to bottom: direct, both, relay.
      const y = path === 'direct' ? 3 : path === 'both' ? 21 : 39;
      parts.push(svgEl('rect', { x: x0, y, width: w, height: 14, class: `seg-${path}` }));
    }
  }
  for (const frac of [0.25, 0.5, 0.75]) {
    parts.push(
      svgEl('line', {
        x1: frac * W,
        y1: 0,
        x2: frac * W,
        y2: 56,
        stroke: '#dee2e6',
        'stroke-width': 1,
      }),
    );
  }
  svg.replaceChildren(...parts);
}

/** A small two-series line chart (relay, direct) of the last 5 minutes. */
function renderSpark(id, pick, { unit, scale = 1, minMax, fixedMax }) {
  const svg = $(id);
  const now = serverNow();
  const span = windowMs();
  const from = now - span;
  const W = 520;
  const H = 124;
  const left = 40;
  const top = 24; // the legend sits above the plot
  const bottom = 104;
  const peer = model.selected;
  const series = { relay: [], direct: [] };
  for (const s of model.samples) {
    if (s.at < from) continue;
    const p = s.peers.find((x) => x.peer === peer);
    if (!p) continue;
    for (const name of ['relay', 'direct']) {
      const v = pick(p)[name];
      series[name].push([s.at, v === null || v === undefined ? null : v * scale]);
    }
  }
  const values = [...series.relay, ...series.direct].map(([, v]) => v).filter((v) => v !== null);
  let max = fixedMax ?? Math.max(minMax, ...values);
  if (fixedMax === undefined) {
    const step = 10 ** Math.floor(Math.log10(max));
    max = Math.ceil((max * 1.1) / step) * step;
  }
  const x = (t) => left + ((t - from) / span) * (W - left - 4);
  const y = (v) => bottom - (v / max) * (bottom - top);
  const parts = [
    svgEl('line', { x1: left, y1: bottom, x2: W - 4, y2: bottom, stroke: '#adb5bd' }),
    svgEl('line', { x1: left, y1: top, x2: left, y2: bottom, stroke: '#adb5bd' }),
    svgEl('line', { x1: left, y1: top, x2: W - 4, y2: top, stroke: '#e9ecef' }),
    svgEl('text', { x: left - 4, y: top + 4, 'text-anchor': 'end' }, `${max}`),
    svgEl('text', { x: left - 4, y: bottom + 4, 'text-anchor': 'end' }, '0'),
    svgEl('text', { x: left, y: H - 3 }, `−${windowLabel(span).slice(5)}`),
    svgEl('text', { x: W - 4, y: H - 3, 'text-anchor': 'end' }, 'now'),
  ];
  for (const name of ['relay', 'direct']) {
    let d = '';
    let pen = false;
    for (const [t, v] of series[name]) {
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    if (d)
      parts.push(svgEl('path', { d, fill: 'none', 'stroke-width': 2, class: `series-${name}` }));
    const last = [...series[name]].reverse().find(([, v]) => v !== null);
    const label = `${name} ${last ? `${last[1].toFixed(unit === '%' ? 0 : 1)} ${unit}` : '—'}`;
    parts.push(
      svgEl(
        'text',
        { x: name === 'relay' ? left : left + 190, y: 13, class: `series-${name}` },
        `● ${label}`,
      ),
    );
  }
  svg.replaceChildren(...parts);
}

function logRow(record, fresh) {
  const tr = el('tr', {
    'data-peer': record.peer,
    'data-from': record.from,
    'data-to': record.to,
    'data-event': record.event,
    'data-reason': record.reason,
  });
  if (fresh) tr.className = 'new';
  const change = el('td', { class: 'change' });
  change.append(
    breakable('div', { class: 'from' }, record.from),
    breakable('div', { class: 'to' }, `→ ${record.to}`),
  );
  // The relay link moved to another relay of the list: say from where to where.
  if (record.relay) {
    change.append(
      breakable('div', { class: 'relay-moved' }, `${record.relay.from} → ${record.relay.to}`),
    );
  }
  const reason = el('td', { class: 'reason' });
  reason.append(
    el('div', { class: 'reason-code' }, record.reason),
    breakable('div', { class: 'event', title: record.event }, shortEvent(record.event)),
  );
  tr.append(
    el('td', { class: 'time' }, clock(record.at)),
    el('td', { class: 'chart-name' }, record.machine === 'relayLink' ? 'relay' : record.peer),
    change,
    reason,
  );
  return tr;
}

const showInLog = (record) => record.machine === 'relayLink' || record.peer === model.selected;

function renderLog() {
  const rows = model.transitions.filter(showInLog).slice(-MAX_LOG_ROWS).reverse();
  $('event-log').tBodies[0].replaceChildren(...rows.map((r) => logRow(r, false)));
}

function render() {
  renderPeers();
  renderHeader();
  renderCurrent();
  renderFacts();
  renderRelay();
  renderTimeline();
  renderSpark('rtt-chart', (p) => p.rttMs, { unit: 'ms', minMax: 1 });
  renderSpark('loss-chart', (p) => p.loss, { unit: '%', scale: 100, fixedMax: 100 });
}

// ---- the stream ------------------------------------------------------------

function prune() {
  const from = serverNow() - WINDOW_MS;
  while (model.samples.length > 0 && model.samples[0].at < from) model.samples.shift();
  if (model.transitions.length > 2 * MAX_LOG_ROWS)
    model.transitions.splice(0, model.transitions.length - 2 * MAX_LOG_ROWS);
}

function onMessage(message) {
  window.__inspector.messages++;
  switch (message.type) {
    case 'snapshot':
      model.clockOffset = message.now - Date.now();
      model.status = message.status;
      model.transitions = message.transitions.slice();
      model.samples = message.samples.slice();
      render();
      renderLog();
      snapshotShown = true;
      markLiveWhenShown();
      break;
    case 'transition': {
      const record = message.record;
      model.transitions.push(record);
      if (model.status && record.machine === 'connection') {
        // Move the chart now; the next status fills in the figures.
        const peer = model.status.peers.find((p) => p.name === record.peer);
        if (peer) {
          peer.state = record.to;
          peer.reason = record.reason;
          peer.since = record.at;
          if (record.transport) peer.path = record.transport;
        }
      } else if (model.status && record.machine === 'relayLink') {
        model.status.relay.state = record.to;
        model.status.relay.reason = record.reason;
        if (record.relay) {
          model.status.relay.url = record.relay.to;
          for (const r of model.status.relay.relays ?? []) {
            if (r.state === 'current') r.state = 'failed';
            if (r.url === record.relay.to) r.state = 'current';
          }
        }
      }
      if (record.machine === 'connection' && record.peer === model.selected && chartReady) {
        flashTransition(record.from, record.to);
      }
      renderCurrent();
      renderRelay();
      if (showInLog(record)) $('event-log').tBodies[0].prepend(logRow(record, true));
      break;
    }
    case 'status':
      model.clockOffset = message.now - Date.now();
      model.status = message.status;
      model.samples.push(message.sample);
      prune();
      render();
      break;
  }
}

let attempt = 0;
let countdown = null;
/** The current connection's first snapshot is on the page (reset on every reconnect). */
let snapshotShown = false;

/**
 * "live" means the page shows the daemon's state now: the socket is open, its
 * first snapshot has been drawn, and the chart is there to highlight it. An
 * open socket alone is not enough: the view would still be empty or stale.
 */
function markLiveWhenShown() {
  if (!snapshotShown || !(chartReady || chartFailed)) return;
  if (document.body.dataset.connection === 'live') return;
  $('banner').hidden = true;
  setConnection('live', 'live');
}

function setConnection(state, text) {
  document.body.dataset.connection = state;
  window.__inspector.connected = state === 'live';
  $('link-badge').textContent = text;
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}${withToken('/inspector/ws')}`);
  setConnection('connecting', attempt === 0 ? 'connecting…' : `reconnecting… (attempt ${attempt})`);
  snapshotShown = false;
  ws.onopen = () => {
    attempt = 0;
    // Open, but nothing drawn yet: "live" waits for the first snapshot.
    setConnection('loading', 'loading…');
  };
  ws.onmessage = (event) => {
    try {
      onMessage(JSON.parse(event.data));
    } catch (error) {
      console.error('inspector: bad message', error);
    }
  };
  ws.onclose = () => {
    snapshotShown = false;
    // The daemon went away (restart, stop): say so, and try again with backoff.
    const delay =
      Math.min(RECONNECT.capMs, RECONNECT.baseMs * 2 ** attempt) * (0.8 + 0.4 * Math.random());
    attempt++;
    setConnection('disconnected', 'disconnected');
    const banner = $('banner');
    banner.hidden = false;
    const due = Date.now() + delay;
    clearInterval(countdown);
    const tick = () => {
      const left = Math.max(0, due - Date.now());
      banner.textContent = `Disconnected from the daemon — the view below is frozen. Reconnecting in ${(left / 1000).toFixed(1)} s (attempt ${attempt}).`;
    };
    tick();
    countdown = setInterval(tick, 200);
    setTimeout(() => {
      clearInterval(countdown);
      connect();
    }, delay);
  };
}

document.addEventListener('DOMContentLoaded', () => {
  $('peer-select').addEventListener('change', (event) => {
    model.selected = event.target.value;
    model.shownState = null;
    window.__inspector.highlights = [];
    render();
    renderLog();
  });
  loadChart().catch((error) => {
    chartFailed = true;
    $('chart').textContent = `could not load the chart: ${error.message}`;
    markLiveWhenShown();
  });
  connect();
  window.addEventListener('resize', keepActiveInView);
  // Ages ("for 12 s") and the time axis move even when nothing happens.
  setInterval(() => {
    if (model.status) {
      renderCurrent();
      renderTimeline();
    }
  }, 1000);
});
