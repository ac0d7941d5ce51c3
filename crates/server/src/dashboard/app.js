// powerslot dashboard: reads the coordinator's public HTTP API only, draws inline SVG,
// listens to /api/events and re-reads what changed. No framework, nothing from the network.
'use strict';

// Errors are collected where a test (or a curious operator) can read them: window errors,
// failed resources, rejected promises and console.error.
const pageErrors = [];
window.__powerslotErrors = pageErrors;
window.addEventListener('error', (e) => {
  const t = e.target;
  pageErrors.push(t && t !== window ? 'failed to load ' + (t.src || t.href || t.tagName) : String(e.message));
}, true);
window.addEventListener('unhandledrejection', (e) => pageErrors.push('unhandled: ' + String(e.reason)));
document.addEventListener('securitypolicyviolation', (e) => pageErrors.push(`blocked by the page's policy: ${e.violatedDirective} ${e.blockedURI}`));
const consoleError = console.error.bind(console);
console.error = (...args) => { pageErrors.push(args.map(String).join(' ')); consoleError(...args); };

const TOKEN_KEY = 'powerslot.token';
const PAST = 48;   // slots of history on the charts
const AHEAD = 48;  // slots of plan
const ACCURACY_WINDOW = 96;
const CLASSES = ['low', 'normal', 'high', 'critical'];
const SVG = 'http://www.w3.org/2000/svg';

const S = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  health: null,
  circuits: [],
  devices: [],
  waiting: [],
  awards: [],
  accuracy: new Map(),
  accuracySlot: -1,
  log: [],
  logAfter: 0,
  filter: 'all',
  selected: '',
  window: { from: 0, to: 0 },
  refreshedAt: 0,
};

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const kw = (mw, digits = 2) => (mw === null || mw === undefined ? '–' : (mw / 1e6).toFixed(digits));
const slotTime = (slot) => {
  const ms = slot * (S.health ? S.health.slot_ms : 60000);
  return new Date(ms).toISOString().slice(11, 16);
};
const slotDate = (slot) => new Date(slot * (S.health ? S.health.slot_ms : 60000)).toISOString().slice(0, 16).replace('T', ' ');

// ----- API ---------------------------------------------------------------------------------

// The coordinator is away (restarting): shown in the header, not an error of the page.
class Unreachable extends Error {}

async function get(path, okStatuses = [200]) {
  let r;
  try {
    r = await fetch(path, { cache: 'no-store' });
  } catch (e) {
    throw new Unreachable(path + ': ' + e.message);
  }
  if (!okStatuses.includes(r.status)) {
    if (r.status === 503) throw new Unreachable(path + ': ' + (await reason(r)));
    throw new Error(path + ': ' + r.status + ' ' + (await reason(r)));
  }
  return r.json();
}

async function reason(r) {
  try {
    const j = await r.json();
    return j.error || JSON.stringify(j);
  } catch (_) {
    return r.statusText;
  }
}

function say(text, bad = false) {
  const m = $('#message');
  m.textContent = text;
  m.className = 'message' + (bad ? ' bad' : ' good');
}

// An operator action: POST with the token; the result is said, the page re-reads.
async function act(what, path, body) {
  if (!S.token) {
    say(what + ': enter the API token first (top of the page).', true);
    $('#token').focus();
    return false;
  }
  const init = { method: 'POST', headers: { Authorization: 'Bearer ' + S.token } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    say(what + ': the coordinator is not reachable (' + e.message + ')', true);
    return false;
  }
  if (!r.ok) {
    say(what + ' refused (' + r.status + '): ' + (await reason(r)), true);
    return false;
  }
  say(what + ': done.');
  schedule();
  return true;
}

// ----- refreshing --------------------------------------------------------------------------

let timer = null;
let running = false;
let again = false;
let full = true;

// Re-reads soon; changes arriving meanwhile are folded into one read.
function schedule(everything = false) {
  if (everything) full = true;
  if (running) { again = true; return; }
  if (timer) return;
  const wait = Math.max(0, 120 - (performance.now() - S.refreshedAt));
  timer = setTimeout(run, wait);
}

async function run() {
  timer = null;
  running = true;
  const everything = full;
  full = false;
  try {
    await refresh(everything);
    setLive(true);
  } catch (e) {
    if (e instanceof Unreachable) {
      setLive(false, e.message);
      full = true;
    } else {
      console.error('dashboard: ' + (e && e.stack ? e.stack : e));
    }
  } finally {
    running = false;
    S.refreshedAt = performance.now();
    if (again) { again = false; schedule(); }
  }
}

async function refresh(everything) {
  const health = await get('/api/health', [200, 503]);
  // A degraded coordinator still says where it is; one shutting down says only why.
  if (typeof health.slot !== 'number') throw new Unreachable(health.error || 'no status');
  S.health = health;
  const now = health.slot;
  S.window = { from: Math.max(0, now - PAST), to: now + AHEAD };
  const w = `from=${S.window.from}&to=${S.window.to}`;
  if (everything || S.circuits.length === 0) {
    const circuits = await get('/api/circuits');
    // Rebuilt only when the tree changed, so that a limit being typed survives a reconnection.
    if (JSON.stringify(circuits) !== JSON.stringify(S.circuits)) {
      S.circuits = circuits;
      buildCircuits();
    }
  }
  const logQuery = S.logAfter > 0 ? `/api/log?after=${S.logAfter}&limit=1000` : '/api/log?tail=true&limit=200';
  const wantAccuracy = everything || S.accuracySlot !== now;
  const [devices, waiting, awards, series, log, accuracy] = await Promise.all([
    get('/api/devices'),
    get('/api/waiting'),
    get('/api/awards?' + w),
    Promise.all(S.circuits.map((c) => get(`/api/circuits/${encodeURIComponent(c.name)}/series?${w}`))),
    get(logQuery),
    wantAccuracy ? get('/api/accuracy?window=' + ACCURACY_WINDOW) : Promise.resolve(null),
  ]);
  S.devices = devices;
  S.waiting = waiting;
  S.awards = awards;
  if (accuracy) {
    S.accuracy = new Map(accuracy.map((a) => [a.device, a]));
    S.accuracySlot = now;
  }
  if (log.length) {
    S.log = S.log.concat(log).slice(-500);
    S.logAfter = log[log.length - 1].id;
  }
  if (!S.selected && devices.length) S.selected = devices[0].id;
  const deviceSeries = S.selected
    ? await get(`/api/devices/${encodeURIComponent(S.selected)}/series?${w}`).catch((e) => {
      if (e instanceof Unreachable) throw e;
      return null; // a device removed meanwhile
    })
    : null;

  renderHeader();
  series.forEach(renderCircuit);
  renderDevices();
  renderGantt();
  renderDevicePick();
  renderDeviceChart(deviceSeries);
  renderLog();
}

// ----- live connection ---------------------------------------------------------------------

let source = null;

function setLive(ok, why) {
  const l = $('#live');
  const text = ok ? 'live' : 'reconnecting…';
  if (l.textContent !== text) l.textContent = text;
  l.className = 'live ' + (ok ? 'on' : 'off');
  l.title = ok ? 'receiving changes as they happen' : (why || 'the coordinator is not reachable');
}

function connect() {
  if (source) source.close();
  source = new EventSource('/api/events');
  source.addEventListener('change', (e) => {
    let n = null;
    try { n = JSON.parse(e.data); } catch (_) { /* a malformed notice: re-read anyway */ }
    const changes = n && Array.isArray(n.changes) ? n.changes : [];
    // After a (re)connection or a gap, read everything again.
    schedule(changes.includes('hello') || changes.includes('lagged'));
  });
  source.onerror = () => {
    setLive(false, 'the event stream broke; reconnecting');
    // The browser retries by itself; if it gave up, start again.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  };
}

// ----- rendering: header and counters ------------------------------------------------------

function renderHeader() {
  const h = S.health;
  $('#site').textContent = h.site;
  const speed = h.speed !== 1 ? ` · clock ×${h.speed}` : '';
  $('#now').textContent = `${slotDate(h.now_ms / h.slot_ms)} UTC · slot ${h.slot} · ${h.slot_ms / 60000} min slots${speed}` +
    (h.status !== 'ok' ? ` · ${h.status}: ${h.ledger_error || (h.mqtt_connected ? '' : 'broker lost')}` : '');
  const st = h.stats;
  const items = [
    ['Requests', st.requests], ['Awards', st.awards], ['Rejects', st.rejects],
    ['Negotiation rounds (batches)', st.batches], ['Preemptions (sheds, scaling)', st.preemptions],
    ['Overloads', st.overloads], ['Security rejections', st.security_rejects],
    ['Waiting now', h.waiting], ['Live grants', h.live_awards], ['Devices', h.devices],
  ];
  $('#stats').innerHTML = items.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd data-stat="${esc(k)}">${esc(v)}</dd></div>`).join('');
}

// ----- charts ------------------------------------------------------------------------------

function niceStep(max, ticks) {
  const raw = max / ticks;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

// A slot-axis chart: `series` hold one value (mW or null) per slot of [from, to); kinds are
// 'band' (lo/hi pairs), 'area', 'step' and 'line'. Returns SVG markup.
function slotChart({ width, height, from, to, nowSlot, series, label }) {
  const m = { l: 52, r: 10, t: 10, b: 42 };
  const W = Math.max(280, Math.round(width));
  const H = height;
  const n = Math.max(1, to - from);
  const x = (s) => m.l + ((s - from) / n) * (W - m.l - m.r);
  let max = 0;
  for (const s of series) for (const v of s.values) {
    const vs = Array.isArray(v) ? v : [v];
    for (const u of vs) if (u !== null && u !== undefined && u > max) max = u;
  }
  max = Math.max(max, 1000) * 1.08;
  const stepMw = niceStep(max, 4);
  const top = Math.ceil(max / stepMw) * stepMw;
  const y = (v) => m.t + (1 - v / top) * (H - m.t - m.b);
  const out = [];
  out.push(`<svg xmlns="${SVG}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}" data-from="${from}" data-to="${to}">`);
  out.push(`<title>${esc(label)}</title>`);
  // Grid and y axis (kW).
  for (let v = 0; v <= top + 1e-9; v += stepMw) {
    out.push(`<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/>`);
    out.push(`<text class="tick" x="${m.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${(v / 1e6).toFixed(stepMw < 1e5 ? 2 : stepMw < 1e6 ? 1 : 0)}</text>`);
  }
  out.push(`<text class="axis-title" transform="translate(13 ${((H - m.b + m.t) / 2).toFixed(0)}) rotate(-90)" text-anchor="middle">power (kW)</text>`);
  timeAxis(out, x, from, to, W, H, m, false);
  out.push(`<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}"/>`);
  for (const s of series) {
    const data = s.values.map((v) => (Array.isArray(v) ? v.map((u) => (u === null ? '' : u)).join('/') : v === null || v === undefined ? '' : v)).join(',');
    let d = '';
    if (s.kind === 'band' || s.kind === 'area') {
      // One closed shape per run of known values.
      let run = [];
      const flush = () => {
        if (!run.length) return;
        const upper = run.map(([k, lo, hi]) => `${x(k).toFixed(1)},${y(hi).toFixed(1)} ${x(k + 1).toFixed(1)},${y(hi).toFixed(1)}`);
        const lower = run.slice().reverse().map(([k, lo]) => `${x(k + 1).toFixed(1)},${y(lo).toFixed(1)} ${x(k).toFixed(1)},${y(lo).toFixed(1)}`);
        d += 'M' + upper.join(' L') + ' L' + lower.join(' L') + 'Z';
        run = [];
      };
      s.values.forEach((v, i) => {
        const [lo, hi] = s.kind === 'band' ? (v || [null, null]) : [0, v];
        if (lo === null || hi === null || lo === undefined || hi === undefined) flush();
        else run.push([from + i, lo, hi]);
      });
      flush();
    } else {
      let open = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { open = false; return; }
        const k = from + i;
        if (s.kind === 'step') {
          d += `${open ? 'L' : 'M'}${x(k).toFixed(1)},${y(v).toFixed(1)} H${x(k + 1).toFixed(1)}`;
        } else {
          d += `${open ? 'L' : 'M'}${x(k + 0.5).toFixed(1)},${y(v).toFixed(1)}`;
        }
        open = true;
      });
    }
    out.push(`<path class="series ${s.cls}" d="${d || 'M0,0'}" data-series="${s.name}" data-mw="${data}"><title>${esc(s.title)}</title></path>`);
  }
  if (nowSlot !== null && nowSlot >= from && nowSlot <= to) {
    out.push(`<line class="now" x1="${x(nowSlot).toFixed(1)}" x2="${x(nowSlot).toFixed(1)}" y1="${m.t}" y2="${H - m.b}"/>`);
    out.push(`<text class="now-label" x="${(x(nowSlot) + 4).toFixed(1)}" y="${m.t + 10}">now</text>`);
  }
  out.push('</svg>');
  return out.join('');
}

// The time axis under a chart: a label every ~70 px at slot starts (with grid lines up to the
// top margin when `grid`), and its title.
function timeAxis(out, x, from, to, W, H, m, grid) {
  const n = Math.max(1, to - from);
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor((W - m.l - m.r) / 70))));
  for (let s = Math.ceil(from / every) * every; s < to; s += every) {
    const xs = x(s).toFixed(1);
    out.push(grid
      ? `<line class="grid" x1="${xs}" x2="${xs}" y1="${m.t}" y2="${H - m.b}"/>`
      : `<line class="tickmark" x1="${xs}" x2="${xs}" y1="${H - m.b}" y2="${H - m.b + 4}"/>`);
    out.push(`<text class="tick" x="${xs}" y="${H - m.b + 16}" text-anchor="middle">${slotTime(s)}</text>`);
  }
  out.push(`<text class="axis-title" x="${((W + m.l) / 2).toFixed(0)}" y="${H - 4}" text-anchor="middle">time (site clock, UTC)</text>`);
}

function legend(items) {
  return '<ul class="legend">' + items.map(([cls, text]) => `<li><span class="swatch ${cls}" aria-hidden="true"></span>${esc(text)}</li>`).join('') + '</ul>';
}

// ----- circuits ----------------------------------------------------------------------------

function buildCircuits() {
  const box = $('#circuits');
  box.innerHTML = S.circuits.map((c) => `
    <article class="circuit" data-circuit="${esc(c.name)}">
      <h3>${esc(c.name)} <small>rated ${kw(c.rating_mw, 1)} kW${c.parent ? ', under ' + esc(c.parent) : ''} · ${c.devices.length} devices</small></h3>
      <p class="now-figures" data-now></p>
      <div class="chart-box" data-chart></div>
      ${legend([['cap', 'budget'], ['band', 'budget forecast range'], ['alloc', 'allocated'], ['meas', 'measured']])}
      <form class="inline-form" data-limit>
        <label for="limit-${esc(c.name)}">Limit from now (kW)</label>
        <input id="limit-${esc(c.name)}" type="number" min="0" step="0.1" required>
        <button type="submit">Set limit</button>
      </form>
    </article>`).join('');
  box.querySelectorAll('form[data-limit]').forEach((f) => {
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = f.closest('[data-circuit]').dataset.circuit;
      const v = parseFloat(f.querySelector('input').value);
      if (!(v >= 0)) { say('The limit must be a number of kW, at least 0.', true); return; }
      act(`Limit of ${name}`, `/api/circuits/${encodeURIComponent(name)}/limit`, { limit_mw: Math.round(v * 1e6) });
    });
  });
}

function renderCircuit(sr) {
  const art = document.querySelector(`[data-circuit="${CSS.escape(sr.circuit)}"]`);
  if (!art) return;
  const from = sr.slots.length ? sr.slots[0].slot : S.window.from;
  const to = from + sr.slots.length;
  const pick = (f) => sr.slots.map((s) => s[f]);
  const box = art.querySelector('[data-chart]');
  box.innerHTML = slotChart({
    width: box.clientWidth || 600,
    height: 250,
    from,
    to,
    nowSlot: S.health.now_ms / S.health.slot_ms,
    label: `Circuit ${sr.circuit}: budget, allocated and measured power per slot, kW`,
    series: [
      { name: 'band', kind: 'band', cls: 'band', title: 'budget forecast range', values: sr.slots.map((s) => (s.budget_low_mw === null ? null : [s.budget_low_mw, s.budget_high_mw])) },
      { name: 'committed', kind: 'area', cls: 'alloc', title: 'allocated', values: pick('committed_mw') },
      { name: 'capacity', kind: 'step', cls: 'cap', title: 'budget', values: pick('capacity_mw') },
      { name: 'measured', kind: 'line', cls: 'meas', title: 'measured', values: pick('measured_mw') },
    ],
  });
  const now = sr.slots.find((s) => s.slot === sr.now_slot);
  const prev = sr.slots.find((s) => s.slot === sr.now_slot - 1);
  const p = art.querySelector('[data-now]');
  if (now) {
    p.innerHTML = `Now: budget <b data-now-field="capacity_mw" data-mw="${now.capacity_mw ?? ''}">${kw(now.capacity_mw)} kW</b>, ` +
      `allocated <b data-now-field="committed_mw" data-mw="${now.committed_mw ?? ''}">${kw(now.committed_mw)} kW</b>; ` +
      `last slot measured <b data-now-field="measured_mw" data-mw="${prev && prev.measured_mw !== null ? prev.measured_mw : ''}">${kw(prev ? prev.measured_mw : null)} kW</b>`;
  }
}

// ----- devices -----------------------------------------------------------------------------

function renderDevices() {
  const body = $('#devices tbody');
  const seen = new Set();
  for (const d of S.devices) {
    seen.add(d.id);
    let tr = body.querySelector(`tr[data-device="${CSS.escape(d.id)}"]`);
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset.device = d.id;
      tr.innerHTML = `
        <th scope="row"><button type="button" class="link" data-show>${esc(d.id)}</button></th>
        <td>${esc(d.circuit)}</td>
        <td><span class="state" data-field="state"></span></td>
        <td><label class="sr" for="prio-${esc(d.id)}">Class of ${esc(d.id)}</label>
          <select id="prio-${esc(d.id)}" data-field="priority">${CLASSES.map((c) => `<option value="${c}">${c}</option>`).join('')}</select></td>
        <td class="num" data-field="measured_mw"></td>
        <td class="num" data-field="mae_mw"></td>
        <td class="num" data-field="persistence_mae_mw"></td>
        <td><button type="button" data-field="pause"></button></td>`;
      tr.querySelector('[data-show]').addEventListener('click', () => { S.selected = d.id; schedule(); });
      tr.querySelector('select').addEventListener('change', (e) => {
        act(`Class of ${d.id} → ${e.target.value}`, `/api/devices/${encodeURIComponent(d.id)}/priority`, { priority: e.target.value });
      });
      tr.querySelector('[data-field="pause"]').addEventListener('click', (e) => {
        const paused = e.target.dataset.paused === 'true';
        act(`${paused ? 'Resume' : 'Pause'} ${d.id}`, `/api/devices/${encodeURIComponent(d.id)}/${paused ? 'resume' : 'pause'}`);
      });
      body.appendChild(tr);
    }
    const state = tr.querySelector('[data-field="state"]');
    state.textContent = d.state;
    state.className = 'state state-' + d.state;
    state.dataset.state = d.state;
    const sel = tr.querySelector('select');
    // Never change a control under the user's hands.
    if (document.activeElement !== sel) sel.value = d.priority;
    sel.dataset.priority = d.priority;
    const meas = tr.querySelector('[data-field="measured_mw"]');
    meas.textContent = kw(d.measured_mw);
    meas.dataset.mw = d.measured_mw ?? '';
    const a = S.accuracy.get(d.id);
    tr.querySelector('[data-field="mae_mw"]').textContent = a && a.mae_mw !== null ? kw(a.mae_mw, 3) : '–';
    tr.querySelector('[data-field="persistence_mae_mw"]').textContent = a && a.persistence_mae_mw !== null ? kw(a.persistence_mae_mw, 3) : '–';
    const pb = tr.querySelector('[data-field="pause"]');
    pb.textContent = d.paused ? 'Resume' : 'Pause';
    pb.dataset.paused = String(d.paused);
    pb.setAttribute('aria-label', `${d.paused ? 'Resume' : 'Pause'} ${d.id}`);
  }
  body.querySelectorAll('tr[data-device]').forEach((tr) => { if (!seen.has(tr.dataset.device)) tr.remove(); });
}

// ----- Gantt -------------------------------------------------------------------------------

function renderGantt() {
  const box = $('#gantt');
  const { from, to } = S.window;
  const ids = S.devices.map((d) => d.id);
  const W = Math.max(280, box.clientWidth || 600);
  const m = { l: Math.min(140, 12 + 7 * Math.max(4, ...ids.map((i) => i.length))), r: 10, t: 6, b: 42 };
  const row = 22;
  const H = m.t + m.b + row * Math.max(1, ids.length);
  const n = Math.max(1, to - from);
  const x = (s) => m.l + ((Math.min(Math.max(s, from), to) - from) / n) * (W - m.l - m.r);
  const out = [`<svg xmlns="${SVG}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Awarded slots by device" data-from="${from}" data-to="${to}"><title>Awarded slots by device</title>`];
  ids.forEach((id, i) => {
    const yy = m.t + i * row;
    if (i % 2 === 0) out.push(`<rect class="stripe" x="${m.l}" y="${yy}" width="${W - m.l - m.r}" height="${row}"/>`);
    out.push(`<text class="tick" x="${m.l - 6}" y="${yy + row / 2 + 4}" text-anchor="end">${esc(id)}</text>`);
  });
  timeAxis(out, x, from, to, W, H, m, true);
  S.awards.forEach((a, k) => {
    const i = ids.indexOf(a.device);
    if (i < 0) return;
    const start = a.grant.start;
    const end = start + a.grant.power_mw.length;
    if (end <= from || start >= to) return;
    const peak = Math.max(0, ...a.grant.power_mw);
    const yy = m.t + i * row + 3;
    const label = `${a.device} request ${a.request}: ${a.priority}, ${a.kind}, slots ${start}–${end - 1} (${slotTime(start)}–${slotTime(end)}), peak ${kw(peak)} kW${a.live ? '' : ', ended: ' + (a.end_reason || '')}`;
    out.push(`<rect class="bar p-${a.priority}${a.live ? '' : ' ended'}" x="${x(start).toFixed(1)}" y="${yy}" width="${Math.max(2, x(end) - x(start)).toFixed(1)}" height="${row - 6}" rx="3" tabindex="0" data-award="${k}" data-device="${esc(a.device)}" data-request="${a.request}" data-start="${start}" data-end="${end}"><title>${esc(label)}</title></rect>`);
  });
  const now = S.health.now_ms / S.health.slot_ms;
  out.push(`<line class="now" x1="${x(now).toFixed(1)}" x2="${x(now).toFixed(1)}" y1="${m.t}" y2="${H - m.b}"/>`);
  out.push('</svg>');
  box.innerHTML = out.join('') + legend(CLASSES.map((c) => ['p-' + c, c]).concat([['ended', 'ended']]));
  const show = (el) => {
    const a = S.awards[Number(el.dataset.award)];
    if (a) $('#gantt-detail').textContent = el.querySelector('title').textContent + `; grant version ${a.version}, lease until slot ${a.valid_until}`;
  };
  box.querySelectorAll('rect.bar').forEach((el) => {
    el.addEventListener('click', () => show(el));
    el.addEventListener('focus', () => show(el));
  });
}

// ----- one device --------------------------------------------------------------------------

function renderDevicePick() {
  const sel = $('#device-pick');
  const ids = S.devices.map((d) => d.id);
  if (sel.options.length !== ids.length || ids.some((id, i) => sel.options[i].value !== id)) {
    sel.innerHTML = ids.map((id) => `<option value="${esc(id)}">${esc(id)}</option>`).join('');
  }
  if (document.activeElement !== sel) sel.value = S.selected;
  const req = $('#deadline-request');
  const mine = S.waiting.filter((w) => w.device === S.selected);
  const opts = mine.map((w) => `<option value="${w.request}">request ${w.request} (${w.priority}, waiting since slot ${w.since_slot})</option>`).join('');
  if (req.dataset.opts !== opts) {
    req.innerHTML = opts || '<option value="">no request waiting</option>';
    req.dataset.opts = opts;
  }
}

function renderDeviceChart(ds) {
  const box = $('#device-chart');
  if (!ds) { box.textContent = S.devices.length ? 'No series for this device.' : 'No devices registered.'; return; }
  const from = ds.slots.length ? ds.slots[0].slot : S.window.from;
  const to = from + ds.slots.length;
  // The latest forecast continues past the one-step forecasts, into the plan.
  const ahead = ds.ahead;
  const aheadAt = (s, f) => {
    if (!ahead) return null;
    const k = s - ahead.from_slot;
    return k >= 0 && k < ahead[f].length ? ahead[f][k] : null;
  };
  const pastOr = (s, v, f) => (s.slot < ds.now_slot ? v : aheadAt(s.slot, f));
  const acc = ds.accuracy;
  const accText = acc.compared > 0
    ? `Forecast MAE ${kw(acc.mae_mw, 3)} kW against ${kw(acc.persistence_mae_mw, 3)} kW for persistence over ${acc.compared} slots.`
    : 'Not enough measurements yet to score its forecasts.';
  box.innerHTML = slotChart({
    width: box.clientWidth || 600,
    height: 230,
    from,
    to,
    nowSlot: S.health.now_ms / S.health.slot_ms,
    label: `Device ${ds.device}: measured power, forecast P50 and P90, granted power, kW`,
    series: [
      { name: 'forecast_band', kind: 'band', cls: 'fband', title: 'forecast P50–P90', values: ds.slots.map((s) => { const lo = pastOr(s, s.forecast_p50_mw, 'p50_mw'); const hi = pastOr(s, s.forecast_p90_mw, 'p90_mw'); return lo === null || hi === null ? null : [lo, hi]; }) },
      { name: 'granted', kind: 'step', cls: 'grant', title: 'granted', values: ds.slots.map((s) => s.granted_mw) },
      { name: 'forecast', kind: 'line', cls: 'fc', title: 'forecast P50 (one slot ahead; latest forecast after now)', values: ds.slots.map((s) => pastOr(s, s.forecast_p50_mw, 'p50_mw')) },
      { name: 'measured', kind: 'line', cls: 'meas', title: 'measured', values: ds.slots.map((s) => s.measured_mw) },
    ],
  }) + legend([['meas', 'measured'], ['fc', 'forecast P50'], ['fband', 'forecast P50–P90'], ['grant', 'granted']]) +
    `<p class="detail">${esc(accText)}</p>`;
}

// ----- log ---------------------------------------------------------------------------------

function describe(e) {
  const d = e.detail && typeof e.detail === 'object' ? (e.detail[e.event] || e.detail) : {};
  const slots = (a, b) => (b - a > 1 ? `slots ${a}–${b - 1}` : `slot ${a}`);
  switch (e.event) {
    case 'request': return `asks as ${d.priority} (${d.kind})`;
    case 'awarded': return `granted ${slots(d.start, d.end)}, peak ${kw(d.peak_mw)} kW, after ${d.rounds} round${d.rounds === 1 ? '' : 's'}`;
    case 'rejected': {
      const r = d.reason || {};
      const w = d.waiting ? ' — keeps waiting' : '';
      if (r.full) {
        const f = r.full;
        return `rejected: circuit ${f.circuit} full in ${slots(f.from_slot, f.to_slot)} (capacity ${kw(f.capacity_mw)} kW, committed ${kw(f.committed_mw)} kW${f.lowest_class_there ? ', lowest class there ' + f.lowest_class_there : ''})${w}`;
      }
      const key = typeof r === 'string' ? r : Object.keys(r)[0];
      const inner = typeof r === 'object' && r[key] && typeof r[key] === 'object' ? ' ' + JSON.stringify(r[key]) : '';
      return `rejected: ${String(key).replace(/_/g, ' ')}${inner}${w}`;
    }
    case 'offer': return `offer in round ${d.round}: ` + (d.options || []).map((o) => `${slots(o.start, o.end)} at up to ${kw(o.peak_mw)} kW`).join('; ');
    case 'counter_bid': {
      const c = d.choice || {};
      if (c.accept) return `round ${d.round}: takes option ${c.accept.option + 1}`;
      if (c.raise) return `round ${d.round}: bids again (${c.raise.bid_per_mille}‰, deadline slot ${c.raise.deadline})`;
      return `round ${d.round}: ${typeof c === 'string' ? c.replace(/_/g, ' ') : JSON.stringify(c)}`;
    }
    case 'instructed': return `${d.kind}: ${d.why}`;
    case 'ended': return `grant ended: ${String(d.reason).replace(/_/g, ' ')}`;
    case 'security': return `refused: ${String(d.problem).replace(/_/g, ' ')}${d.detail ? ' — ' + d.detail : ''}`;
    case 'batch': return `round at slot ${d.slot}: ${d.requests} requests, ${d.placed} placed, ${d.waiting} waiting, ${d.iterations} bidding iterations, ${d.preemptions} preemptions`;
    case 'overload': return `circuit ${d.circuit} expected ${kw(d.expected_mw || 0)} kW over ${kw(d.capacity_mw)} kW in slot ${d.slot} (measured ${kw(d.measured_mw)} kW in the slot before); shed ${(d.shed || []).join(', ') || 'nobody'}`;
    case 'budget_breach': return `budget of ${d.circuit} cut to ${kw(d.capacity_mw)} kW in slot ${d.slot} with ${kw(d.committed_mw)} kW committed`;
    case 'operator': return d.what || '';
    case 'fallback': return 'coordinator silent: fallback rule';
    default: return JSON.stringify(e.detail);
  }
}

function renderLog() {
  const f = S.filter === 'all' ? null : S.filter.split(' ');
  const rows = S.log.filter((e) => !f || f.includes(e.event)).slice(-150).reverse();
  const html = rows.map((e) => `<tr class="ev-${esc(e.event)}" data-log="${e.id}"><td>${esc(new Date(e.at_ms).toISOString().slice(11, 19))}</td>` +
    `<td class="num">${e.slot}</td><td><span class="ev">${esc(e.event.replace(/_/g, ' '))}</span></td><td>${esc(e.device || '')}${e.request !== null && e.request !== undefined ? ' <small>#' + e.request + '</small>' : ''}</td>` +
    `<td>${esc(describe(e))}</td></tr>`).join('');
  const body = $('#log tbody');
  if (body.dataset.html !== html) {
    body.innerHTML = html || '<tr><td colspan="5">Nothing yet.</td></tr>';
    body.dataset.html = html;
  }
}

// ----- wiring ------------------------------------------------------------------------------

function wire() {
  const input = $('#token');
  input.value = S.token ? '••••••••' : '';
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = input.value.trim();
    if (!v || v === '••••••••') { say('Paste the token from <data>/api.token.', true); return; }
    S.token = v;
    sessionStorage.setItem(TOKEN_KEY, v);
    input.value = '••••••••';
    say('Token kept for this tab; actions are enabled.');
  });
  $('#token-forget').addEventListener('click', () => {
    S.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    input.value = '';
    say('Token forgotten.');
  });
  $('#device-pick').addEventListener('change', (e) => { S.selected = e.target.value; schedule(); });
  $('#deadline-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const request = $('#deadline-request').value;
    const slot = parseInt($('#deadline-slot').value, 10);
    if (!request) { say('This device has no request waiting; only waiting requests get a new deadline.', true); return; }
    if (!(slot >= 0)) { say('The deadline is a slot number.', true); return; }
    act(`Deadline of ${S.selected} request ${request}`, `/api/devices/${encodeURIComponent(S.selected)}/requests/${request}/deadline`, { deadline_slot: slot });
  });
  document.querySelectorAll('.filters button').forEach((b) => {
    b.addEventListener('click', () => {
      S.filter = b.dataset.filter;
      document.querySelectorAll('.filters button').forEach((o) => o.setAttribute('aria-pressed', String(o === b)));
      renderLog();
    });
  });
  let resize = null;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(() => schedule(), 150); });
  connect();
  schedule(true);
}

wire();
