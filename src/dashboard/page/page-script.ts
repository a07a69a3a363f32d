/**
 * The dashboard's ES module, served as `/app.js`. Plain DOM, no framework, no build. Every value
 * reaches the page through `textContent` or an attribute, never as HTML.
 * @internal
 */
export const PAGE_SCRIPT = String.raw`
const SVG = 'http://www.w3.org/2000/svg';
const ACTIVE = new Set(['pending', 'running', 'retrying']);
/** How many tasks the page keeps (for the counts, the search and the timeline). */
const MAX_ROWS = 2000;
/**
 * How many of them are rows in the table at first, newest first: each "Show more" adds as many.
 * A table of 2,000 rows made every frame a long task (layout of the whole table) in chromium.
 */
const PAGE_ROWS = 200;
const $ = (id) => document.getElementById(id);

const state = {
  tasks: new Map(), rows: new Map(), runner: null, chart: null,
  filter: 'all', search: '', selected: null, detail: null, limit: PAGE_ROWS,
};
const dirty = new Set();
let frame = 0;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  if (attrs) for (const key of Object.keys(attrs)) node.setAttribute(key, attrs[key]);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  if (attrs) for (const key of Object.keys(attrs)) node.setAttribute(key, String(attrs[key]));
  if (text !== undefined) node.textContent = String(text);
  return node;
}
function duration(task) {
  if (task.startedAt === null) return '';
  const end = task.completedAt === null ? Date.now() : task.completedAt;
  const ms = Math.max(0, end - task.startedAt);
  if (ms < 1000) return ms + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
}
function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}
async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({ error: response.statusText }));
    window.alert(problem.error || response.statusText);
  }
  return response;
}

// ------------------------------------------------------------------ the task table

function matches(task) {
  if (state.filter !== 'all' && task.status !== state.filter) return false;
  if (!state.search) return true;
  return task.name.toLowerCase().includes(state.search) || task.id.toLowerCase().includes(state.search);
}

function buildRow(task) {
  const tr = el('tr', { 'data-id': task.id });
  const name = el('td', { class: 'name' });
  name.append(el('span', { class: 'task-name' }), el('small', { class: 'task-id' }));
  const status = el('td');
  status.append(el('span', { class: 'status' }));
  const progress = el('td');
  progress.append(el('progress', { max: '1', value: '0' }), el('small', { class: 'message muted' }));
  const actions = el('td');
  const cancel = el('button', { type: 'button', class: 'cancel', 'data-action': 'cancel' }, 'Cancel');
  actions.append(cancel);
  tr.append(name, status, progress, el('td', { class: 'attempt' }), el('td', { class: 'duration' }), actions);
  return tr;
}

function fillRow(tr, task) {
  tr.dataset.status = task.status;
  tr.querySelector('.task-name').textContent = task.name;
  tr.querySelector('.task-id').textContent = task.id;
  const status = tr.querySelector('.status');
  status.textContent = task.status;
  status.dataset.status = task.status;
  const bar = tr.querySelector('progress');
  bar.value = task.progress;
  bar.title = Math.round(task.progress * 100) + '%';
  tr.querySelector('.message').textContent = task.message ? ' ' + task.message : '';
  tr.querySelector('.attempt').textContent = task.attempt === 0 ? '' : String(task.attempt);
  tr.querySelector('.duration').textContent = duration(task);
  tr.querySelector('.cancel').hidden = !ACTIVE.has(task.status) || (state.runner && state.runner.readOnly);
  tr.classList.toggle('selected', state.selected === task.id);
}

function upsert(task) {
  state.tasks.set(task.id, task);
  dirty.add(task.id);
  schedule();
}

function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  trim();
  // The rows shown: the newest matching tasks (the page learnt of them last), up to the limit.
  const shown = [];
  let matching = 0;
  const ids = [...state.tasks.keys()];
  for (let i = ids.length - 1; i >= 0; i -= 1) {
    const task = state.tasks.get(ids[i]);
    if (!matches(task)) continue;
    matching += 1;
    if (shown.length < state.limit) shown.push(task);
  }
  const keep = new Set(shown.map((task) => task.id));
  for (const [id, tr] of state.rows) {
    if (keep.has(id)) continue;
    tr.remove();
    state.rows.delete(id);
  }
  // What stays keeps its order; new rows go in their place.
  const body = document.querySelector('#tasks tbody');
  let next = body.firstElementChild;
  for (const task of shown) {
    let tr = state.rows.get(task.id);
    const fresh = tr === undefined;
    if (fresh) {
      tr = buildRow(task);
      state.rows.set(task.id, tr);
    }
    if (tr === next) next = next.nextElementSibling;
    else body.insertBefore(tr, next);
    if (fresh || dirty.has(task.id)) fillRow(tr, task);
  }
  dirty.clear();
  $('more').hidden = matching <= shown.length;
  $('shown').textContent = 'Showing ' + shown.length + ' of ' + matching;
  renderTabs();
  if (state.selected && state.detailStale) refreshDetail();
}

/** Keeps the page bounded: the oldest finished tasks go first. */
function trim() {
  if (state.tasks.size <= MAX_ROWS) return;
  for (const [id, task] of state.tasks) {
    if (state.tasks.size <= MAX_ROWS) break;
    if (ACTIVE.has(task.status) || id === state.selected) continue;
    state.tasks.delete(id);
  }
}

function renderTabs() {
  const nav = $('tabs');
  const statuses = state.chart ? state.chart.states.map((s) => s.name) : [];
  const counts = { all: state.tasks.size };
  for (const name of statuses) counts[name] = 0;
  for (const task of state.tasks.values()) counts[task.status] = (counts[task.status] || 0) + 1;
  const names = ['all'].concat(statuses);
  if (nav.children.length !== names.length) {
    nav.replaceChildren();
    for (const name of names) {
      const button = el('button', { type: 'button', 'data-filter': name }, name);
      button.append(el('span', { class: 'count' }));
      button.addEventListener('click', () => {
        state.filter = name;
        refilter();
      });
      nav.append(button);
    }
  }
  for (const button of nav.children) {
    const name = button.dataset.filter;
    button.setAttribute('aria-pressed', String(name === state.filter));
    button.querySelector('.count').textContent = String(counts[name] || 0);
  }
}

/** The filter or the search changed: back to the first page of rows. */
function refilter() {
  state.limit = PAGE_ROWS;
  schedule();
}

function replaceAll(tasks) {
  state.tasks.clear();
  state.rows.clear();
  document.querySelector('#tasks tbody').replaceChildren();
  for (const task of tasks) upsert(task);
}

// ------------------------------------------------------------------ the runner panel

function renderRunner(runner) {
  state.runner = runner;
  document.body.classList.toggle('read-only', runner.readOnly || !runner.controllable);
  $('r-running').textContent = String(runner.running);
  $('r-concurrency').textContent = runner.concurrency === null ? '–' : String(runner.concurrency);
  $('r-pending').textContent = String(runner.pending);
  $('r-retrying').textContent = String(runner.retrying);
  $('r-rate').textContent = runner.rate
    ? 'Rate ' + runner.rate.used + ' / ' + runner.rate.max + ' per ' + runner.rate.interval + ' ms'
    : 'No rate limit';
  $('r-mode').textContent = runner.paused ? 'paused' : 'open';
  $('pause').textContent = runner.paused ? 'Resume' : 'Pause';
  const input = $('concurrency');
  if (document.activeElement !== input && runner.concurrency !== null) input.value = String(runner.concurrency);
}

// ------------------------------------------------------------------ the detail view

async function select(id) {
  state.selected = id;
  for (const [rowId, tr] of state.rows) tr.classList.toggle('selected', rowId === id);
  $('detail').hidden = id === null;
  if (id !== null) await refreshDetail();
}

let detailTimer = 0;
async function refreshDetail() {
  state.detailStale = false;
  const id = state.selected;
  if (id === null) return;
  const response = await fetch('api/tasks/' + encodeURIComponent(id));
  if (!response.ok || state.selected !== id) return;
  state.detail = await response.json();
  renderDetail(state.detail);
}
function detailChanged(id) {
  if (id !== state.selected || detailTimer) return;
  detailTimer = setTimeout(() => {
    detailTimer = 0;
    state.detailStale = true;
    schedule();
  }, 150);
}

function renderDetail(task) {
  $('d-name').textContent = task.name;
  $('d-id').textContent = task.id;
  $('d-status').textContent = task.status;
  $('d-progress').textContent = Math.round(task.progress * 100) + '%' + (task.message ? ' — ' + task.message : '');
  drawChart(task);
  const log = $('d-log').tBodies[0];
  log.replaceChildren();
  for (const t of task.transitions) {
    const tr = el('tr');
    tr.append(el('td', null, clock(t.at)), el('td', null, (t.from || '∅') + ' → ' + t.to), el('td', { class: 'muted' }, t.event), el('td', { class: 'muted' }, t.attempt ? '#' + t.attempt : ''));
    log.append(tr);
  }
  const attempts = $('d-attempts').tBodies[0];
  attempts.replaceChildren();
  for (const a of task.attempts) {
    const tr = el('tr');
    tr.append(el('td', null, '#' + a.attempt), el('td', null, (a.completedAt - a.startedAt) + ' ms'), el('td', null, a.error.name + ': ' + a.error.message));
    attempts.append(tr);
  }
  if (task.attempts.length === 0) attempts.append(el('tr', null, 'No failed attempts'));
  $('d-chunks').textContent = task.recentChunks.length ? task.recentChunks.join('\n') : task.chunks ? task.chunks + ' items' : '—';
  const failed = task.error !== null;
  $('d-outcome-title').textContent = failed ? 'Error' : 'Result';
  $('d-outcome').textContent = failed ? task.error.name + ': ' + task.error.message : task.result === null ? '—' : task.result;
}

/** Lays the chart out: active states on top in chart order, final states below. */
function layout(chart) {
  const top = chart.states.filter((s) => !s.final);
  const bottom = chart.states.filter((s) => s.final);
  const width = 540, w = 92, h = 30, pos = new Map();
  const place = (row, y) => row.forEach((s, i) => pos.set(s.name, { x: ((i + 0.5) * width) / row.length, y, w, h, final: s.final }));
  place(top, 40);
  place(bottom, 160);
  return { pos, width, height: 215 };
}

function edgePoint(a, b) {
  const dx = b.x - a.x, dy = b.y - a.y;
  const sx = dx === 0 ? Infinity : a.w / 2 / Math.abs(dx);
  const sy = dy === 0 ? Infinity : a.h / 2 / Math.abs(dy);
  const s = Math.min(sx, sy);
  return { x: a.x + dx * s, y: a.y + dy * s };
}

function drawChart(task) {
  const chart = state.chart;
  const root = $('chart');
  root.replaceChildren();
  if (!chart) return;
  const { pos, width, height } = layout(chart);
  root.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z' }));
  defs.append(marker);
  root.append(defs);
  const taken = new Set(task.transitions.filter((t) => t.from).map((t) => t.from + '>' + t.to));
  const visited = new Set(task.transitions.map((t) => t.to));
  const pairs = new Set(chart.transitions.map((t) => t.from + '>' + t.to));
  for (const t of chart.transitions) {
    const a = pos.get(t.from), b = pos.get(t.to);
    if (!a || !b) continue;
    const bend = pairs.has(t.to + '>' + t.from) ? 14 : 0;
    const p = edgePoint(a, b), q = edgePoint(b, a);
    const mx = (p.x + q.x) / 2, my = (p.y + q.y) / 2;
    const len = Math.hypot(q.x - p.x, q.y - p.y) || 1;
    const nx = (-(q.y - p.y) / len) * bend, ny = ((q.x - p.x) / len) * bend;
    const g = svg('g', { class: 'edge' + (taken.has(t.from + '>' + t.to) ? ' taken' : ''), 'data-from': t.from, 'data-to': t.to });
    g.append(svg('path', { d: 'M' + p.x + ',' + p.y + ' Q' + (mx + nx * 2) + ',' + (my + ny * 2) + ' ' + q.x + ',' + q.y, 'marker-end': 'url(#arrow)' }));
    // Edges into a final state are labelled once, under it: they share their events.
    if (!b.final) g.append(svg('text', { x: mx + nx * 1.6, y: my + ny * 1.6 - 3 }, t.events.join(' | ')));
    root.append(g);
  }
  const under = new Map();
  for (const t of chart.transitions) {
    if (!pos.has(t.to) || !pos.get(t.to).final) continue;
    const words = under.get(t.to) || [];
    for (const e of t.events) if (!words.includes(e)) words.push(e);
    under.set(t.to, words);
  }
  for (const [name, words] of under) {
    const p = pos.get(name);
    root.append(svg('text', { class: 'edge-label', x: p.x, y: p.y + p.h / 2 + 14 }, words.join(' | ')));
  }
  for (const s of chart.states) {
    const p = pos.get(s.name);
    let cls = 'state';
    if (s.final) cls += ' final';
    if (visited.has(s.name)) cls += ' visited';
    if (task.status === s.name) cls += ' current';
    const g = svg('g', { class: cls, 'data-state': s.name });
    g.append(svg('rect', { x: p.x - p.w / 2, y: p.y - p.h / 2, width: p.w, height: p.h, rx: s.final ? 14 : 5 }));
    g.append(svg('text', { x: p.x, y: p.y }, s.name));
    root.append(g);
  }
}

// ------------------------------------------------------------------ the timeline

function drawTimeline() {
  const root = $('timeline');
  const recent = [...state.tasks.values()].sort((a, b) => b.createdAt - a.createdAt).slice(0, 30).reverse();
  const width = Math.max(600, root.clientWidth || 900), row = 14, left = 160;
  const height = Math.max(40, recent.length * row + 24);
  root.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  root.setAttribute('height', String(height));
  root.replaceChildren();
  if (recent.length === 0) {
    root.append(svg('text', { x: 10, y: 24 }, 'No tasks yet'));
    return;
  }
  const now = Date.now();
  const start = Math.min(...recent.map((t) => t.createdAt));
  const end = Math.max(now, start + 1);
  const scale = (width - left - 10) / (end - start);
  recent.forEach((t, i) => {
    const y = 6 + i * row;
    root.append(svg('text', { x: 6, y: y + 10 }, t.name.length > 22 ? t.name.slice(0, 21) + '…' : t.name));
    const began = t.startedAt === null ? (t.completedAt === null ? now : t.completedAt) : t.startedAt;
    root.append(svg('rect', { class: 'wait', x: left + (t.createdAt - start) * scale, y, width: Math.max(1, (began - t.createdAt) * scale), height: row - 4 }));
    if (t.startedAt !== null) {
      const ended = t.completedAt === null ? now : t.completedAt;
      const bar = svg('rect', { class: 'run', 'data-status': t.status, x: left + (t.startedAt - start) * scale, y, width: Math.max(2, (ended - t.startedAt) * scale), height: row - 4 });
      bar.append(svg('title', {}, t.name + ': ' + t.status + ', ' + duration(t)));
      root.append(bar);
    }
  });
  root.append(svg('text', { x: left, y: height - 4 }, clock(start)));
  root.append(svg('text', { x: width - 90, y: height - 4 }, clock(end)));
}

// ------------------------------------------------------------------ live events

function connect() {
  const live = $('live');
  const source = new EventSource('events');
  source.addEventListener('open', () => {
    live.dataset.state = 'live';
    live.textContent = 'live';
  });
  source.addEventListener('error', () => {
    live.dataset.state = 'reconnecting';
    live.textContent = 'reconnecting…';
  });
  source.addEventListener('snapshot', (e) => {
    const data = JSON.parse(e.data);
    replaceAll(data.tasks);
    renderRunner(data.runner);
  });
  source.addEventListener('transition', (e) => {
    const data = JSON.parse(e.data);
    upsert(data.task);
    detailChanged(data.task.id);
  });
  source.addEventListener('progress', (e) => {
    const data = JSON.parse(e.data);
    upsert(data.task);
    detailChanged(data.task.id);
  });
  source.addEventListener('runner', (e) => renderRunner(JSON.parse(e.data).runner));
  source.addEventListener('heartbeat', () => {
    live.dataset.state = 'live';
    live.textContent = 'live';
  });
}

async function start() {
  const chart = await fetch('api/chart');
  state.chart = await chart.json();
  renderTabs();
  connect();
  document.querySelector('#tasks tbody').addEventListener('click', (event) => {
    const tr = event.target.closest('tr');
    if (!tr) return;
    const id = tr.dataset.id;
    if (event.target.closest('[data-action="cancel"]')) {
      event.stopPropagation();
      post('api/tasks/' + encodeURIComponent(id) + '/cancel');
      return;
    }
    select(id);
  });
  $('d-close').addEventListener('click', () => select(null));
  $('show-more').addEventListener('click', () => {
    state.limit += PAGE_ROWS;
    schedule();
  });
  $('search').addEventListener('input', (event) => {
    state.search = event.target.value.trim().toLowerCase();
    refilter();
  });
  $('pause').addEventListener('click', async () => {
    const response = await post(state.runner && state.runner.paused ? 'api/runner/resume' : 'api/runner/pause');
    if (response.ok) renderRunner(await response.json());
  });
  $('set-concurrency').addEventListener('click', async () => {
    const response = await post('api/runner/concurrency', { concurrency: Number($('concurrency').value) });
    if (response.ok) renderRunner(await response.json());
  });
  // Durations of running tasks and the timeline move with the clock.
  setInterval(() => {
    for (const task of state.tasks.values()) if (task.status === 'running') dirty.add(task.id);
    schedule();
    drawTimeline();
  }, 1000);
  drawTimeline();
}

start();
`;
