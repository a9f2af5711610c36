// The dashboard: reads poold's JSON API once, then stays live on
// GET /v1/events (an EventSource, which reconnects by itself and resumes
// with Last-Event-ID). No polling loop: every change on the page comes
// from an event, or from the user. Data is written with textContent only.
'use strict';

const PAGE = 20;
const WINDOW = 300; // seconds of chart
const JOB_TYPES = ['job.created', 'job.started', 'job.progress', 'job.succeeded', 'job.failed',
  'job.timed_out', 'job.worker_lost', 'job.cancelled', 'job.callback.delivered', 'job.callback.given_up'];
const ENDED = ['succeeded', 'failed', 'timed_out', 'worker_lost', 'cancelled'];
const STATUSES = ['queued', 'running'].concat(ENDED);

const state = {
  key: sessionStorage.getItem('poold.key') || '',
  filter: '',
  cursor: null,      // this page's cursor (null: the newest)
  back: [],          // the cursors of the pages before
  next: null,
  rows: new Map(),   // job id -> its row
  detail: null,      // the job shown
  timeline: new Map(), // job id -> [[time, text]]
  samples: [],       // pool.stats: {t, done, queued}
  running: new Map(), // worker name -> job id
  source: null,
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : k === null || k === undefined ? '' : String(k));
  return e;
}

function when(t) {
  if (!t) return '';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return d.toLocaleTimeString();
}

// --- the API ---

class Unauthorized extends Error {}

async function api(method, path) {
  const headers = {Accept: 'application/json'};
  if (state.key) headers.Authorization = 'Bearer ' + state.key;
  const r = await fetch(path, {method, headers});
  if (r.status === 401) {
    askKey(true);
    throw new Unauthorized('the API key was refused');
  }
  const type = r.headers.get('Content-Type') || '';
  const body = type.includes('json') ? await r.json() : null;
  return {status: r.status, body};
}

function askKey(refused) {
  if (state.source) state.source.close();
  state.source = null;
  $('#main').hidden = true;
  $('#key-form').hidden = false;
  $('#key-error').hidden = !(refused && state.key);
  $('#key').focus();
}

// --- the live stream ---

function connect() {
  if (state.source) state.source.close();
  const q = state.key ? '?access_token=' + encodeURIComponent(state.key) : '';
  const es = new EventSource('/v1/events' + q);
  state.source = es;
  es.onopen = () => {
    setConn('live');
    // What ended while the stream was down (or before it first opened)
    // is read again now that nothing more can be missed.
    if (state.stale) loadJobs();
    state.stale = false;
  };
  es.onerror = () => {
    setConn('reconnecting');
    state.stale = true;
    // Closed for good (a refused key, or poold gone long): start again,
    // which asks the API first and tries again until poold answers,
    // unless it wants a key.
    if (es.readyState === EventSource.CLOSED) setTimeout(start, 2000);
  };
  for (const t of JOB_TYPES) es.addEventListener(t, (m) => onJobEvent(t, JSON.parse(m.data)));
  for (const t of ['worker.started', 'worker.exited', 'worker.recycled']) {
    es.addEventListener(t, (m) => onWorkerEvent(t, JSON.parse(m.data)));
  }
  es.addEventListener('pool.stats', (m) => onStats(JSON.parse(m.data)));
  es.addEventListener('stream.gap', () => loadJobs());
}

function setConn(s) {
  const c = $('#conn');
  c.dataset.state = s;
  c.textContent = s;
}

function onJobEvent(type, e) {
  const id = e.job;
  const list = state.timeline.get(id) || [];
  list.push([e.time, type.replace('job.', '') + (e.worker && type === 'job.started' ? ' on ' + e.worker : '')]);
  state.timeline.delete(id); // re-set below: the Map's order is then the last news
  state.timeline.set(id, list.slice(-50));
  // The timelines of the 1,000 jobs with the latest news: a tab left open
  // on a busy pool must not grow for ever.
  while (state.timeline.size > 1000) state.timeline.delete(state.timeline.keys().next().value);
  if (type === 'job.created') {
    addRow({id, func: e.func, status: 'queued', progress: {done: 0, total: e.total}, created_at: e.time});
  } else if (type === 'job.started') {
    if (e.worker) state.running.set(e.worker, id);
    updateRow(id, {status: 'running'});
  } else if (type === 'job.progress') {
    updateRow(id, {progress: {done: e.done, total: e.total}});
  } else if (!type.startsWith('job.callback')) {
    const status = type.slice(4);
    for (const [w, j] of state.running) if (j === id) state.running.delete(w);
    updateRow(id, {status, progress: {done: e.done, total: e.total}});
  }
  renderRunning();
  if (state.detail === id) showJob(id);
}

function onWorkerEvent(type, e) {
  const row = $('#workers tbody').querySelector(`tr[data-name="${CSS.escape(e.worker)}"]`);
  if (type === 'worker.exited') state.running.delete(e.worker);
  if (row) {
    const s = type === 'worker.started' ? 'idle' : 'dying';
    row.children[1].textContent = e.pid;
    row.children[2].textContent = s;
    row.children[2].className = 'status ' + s;
  }
  renderRunning();
}

function onStats(e) {
  if (!e.workers || !e.queue) return; // a frame cut short (poold says "truncated"): the next one comes
  renderWorkers(e.workers);
  renderCounts(e.jobs);
  const queued = e.queue.queued; // every task waiting, those written ahead (sent) included
  state.samples.push({t: e.time, done: e.tasks_done, queued});
  while (state.samples.length && state.samples[0].t < e.time - WINDOW) state.samples.shift();
  renderChart();
}

// --- the overview ---

function renderCounts(jobs) {
  const ul = $('#counts');
  ul.replaceChildren(...STATUSES.map((s) => {
    const li = el('li', {'data-status': s}, s);
    li.append(el('b', {class: 'status ' + s}, jobs ? jobs[s] : 0));
    return li;
  }));
}

function renderChart() {
  const s = state.samples;
  const rates = [];
  for (let i = 1; i < s.length; i++) {
    const dt = s[i].t - s[i - 1].t;
    rates.push({t: s[i].t, v: dt > 0 ? Math.max(0, s[i].done - s[i - 1].done) / dt : 0});
  }
  const queue = s.map((x) => ({t: x.t, v: x.queued}));
  const end = s.length ? s[s.length - 1].t : 0;
  const line = (pts) => {
    const max = Math.max(1, ...pts.map((p) => p.v));
    return pts.map((p) => `${(300 - (end - p.t) * 300 / WINDOW).toFixed(1)},${(78 - p.v * 74 / max).toFixed(1)}`).join(' ');
  };
  $('#chart-rate').setAttribute('points', line(rates));
  $('#chart-queue').setAttribute('points', line(queue));
  $('#rate-now').textContent = rates.length ? rates[rates.length - 1].v.toFixed(1) : '0';
  $('#queue-now').textContent = queue.length ? queue[queue.length - 1].v : '0';
}

function renderWorkers(workers) {
  const body = $('#workers tbody');
  body.replaceChildren(...workers.map((w) => {
    const tr = el('tr', {'data-name': w.name},
      el('td', {}, w.name), el('td', {}, w.pid), el('td', {class: 'status ' + w.state}, w.state),
      el('td', {}, w.tasks_done), el('td', {class: 'id'}, ''));
    return tr;
  }));
  renderRunning();
}

function renderRunning() {
  for (const tr of $('#workers tbody').children) {
    const id = state.running.get(tr.dataset.name);
    const cell = tr.children[4];
    cell.replaceChildren();
    if (id) {
      const a = el('a', {href: '#' + id}, id.slice(0, 8));
      a.addEventListener('click', (ev) => { ev.preventDefault(); showJob(id); });
      cell.append(a);
    }
  }
}

// --- the jobs ---

function rowOf(j) {
  const p = j.progress || {done: 0, total: 0};
  const tr = el('tr', {'data-id': j.id, 'data-status': j.status},
    el('td', {class: 'id', title: j.id}, j.id.slice(0, 12)), el('td', {}, j.func),
    el('td', {class: 'status ' + j.status}, j.status), el('td', {}, `${p.done}/${p.total}`),
    el('td', {}, when(j.created_at)));
  tr.addEventListener('click', () => showJob(j.id));
  return tr;
}

function addRow(j) {
  if (state.cursor !== null || (state.filter && state.filter !== j.status) || state.rows.has(j.id)) return;
  const tr = rowOf(j);
  state.rows.set(j.id, tr);
  $('#job-rows').prepend(tr);
  const body = $('#job-rows');
  while (body.children.length > PAGE) {
    const last = body.lastElementChild;
    state.rows.delete(last.dataset.id);
    last.remove();
  }
}

function updateRow(id, change) {
  const tr = state.rows.get(id);
  if (!tr) return;
  if (change.status) {
    tr.dataset.status = change.status;
    tr.children[2].textContent = change.status;
    tr.children[2].className = 'status ' + change.status;
  }
  if (change.progress && change.progress.total !== undefined) {
    tr.children[3].textContent = `${change.progress.done}/${change.progress.total}`;
  }
}

async function loadJobs() {
  const q = new URLSearchParams({limit: PAGE});
  if (state.filter) q.set('status', state.filter);
  if (state.cursor) q.set('cursor', state.cursor);
  try {
    const r = await api('GET', '/v1/jobs?' + q);
    if (r.status !== 200) throw new Error((r.body && r.body.detail) || 'status ' + r.status);
    state.rows.clear();
    const rows = r.body.jobs.map((j) => {
      const tr = rowOf(j);
      state.rows.set(j.id, tr);
      return tr;
    });
    $('#job-rows').replaceChildren(...rows);
    state.next = r.body.next_cursor;
    $('#next').disabled = !state.next;
    $('#prev').disabled = state.cursor === null;
    $('#jobs-error').hidden = true;
  } catch (err) {
    if (err instanceof Unauthorized) return;
    $('#jobs-error').textContent = 'Could not list the jobs: ' + err.message;
    $('#jobs-error').hidden = false;
  }
}

// --- one job ---

function field(dl, name, value) {
  dl.append(el('dt', {}, name), el('dd', {}, value));
}

function renderDetail(j) {
  $('#d-id').textContent = j.id;
  $('#d-status').textContent = j.status;
  $('#d-status').className = 'status ' + j.status;
  const p = j.progress;
  $('#d-bar').style.width = (p.total ? Math.round(100 * p.done / p.total) : (j.ready ? 100 : 0)) + '%';
  $('#d-progress').textContent = `${p.done} of ${p.total} items`;
  const f = $('#d-fields');
  f.replaceChildren();
  field(f, 'op', j.op);
  field(f, 'func', j.func);
  field(f, 'priority', j.priority);
  field(f, 'worker', j.worker ? `${j.worker.name} (pid ${j.worker.pid})` : '');
  const req = j.request || {};
  const args = {};
  for (const k of ['args', 'kwds', 'kwargs', 'iterable', 'chunksize']) if (k in req) args[k] = req[k];
  $('#d-args').textContent = j.request ? JSON.stringify(args, null, 2) : '(not kept)';
  renderTimeline(j);
  if (j.error) {
    $('#d-result-h').textContent = 'Error';
    $('#d-result').textContent = `${j.error.type}: ${j.error.message}` +
      (j.error.traceback ? '\n\n' + j.error.traceback : '');
  } else {
    $('#d-result-h').textContent = 'Result';
    $('#d-result').textContent = 'result' in j ? JSON.stringify(j.result, null, 2) : '(not yet)';
  }
  const w = $('#d-webhook');
  w.replaceChildren();
  if (j.callback) {
    const c = j.callback;
    field(w, 'url', c.url);
    field(w, 'attempts', c.attempts);
    field(w, 'delivered', c.delivered ? 'yes' : 'no');
    field(w, 'last status', c.last_status === null ? '' : c.last_status);
    field(w, 'last error', c.last_error || '');
    field(w, 'next attempt', c.next_attempt_at ? when(c.next_attempt_at) : '');
  } else {
    field(w, 'callback', 'none');
  }
  $('#cancel').disabled = j.ready;
  $('#redeliver').disabled = !j.ready || !j.callback || j.status === 'cancelled';
}

function renderTimeline(j) {
  const items = [[Date.parse(j.created_at) / 1000, 'created']];
  if (j.started_at) items.push([Date.parse(j.started_at) / 1000, 'started']);
  for (const e of state.timeline.get(j.id) || []) {
    if (!/^(created|started)/.test(e[1])) items.push(e);
  }
  if (j.finished_at && !items.some((e) => ENDED.includes(e[1]))) items.push([Date.parse(j.finished_at) / 1000, j.status]);
  items.sort((a, b) => a[0] - b[0]);
  $('#d-timeline').replaceChildren(...items.map((e) => el('li', {}, `${when(e[0])} ${e[1]}`)));
}

async function showJob(id) {
  id = id.trim();
  if (!id) return;
  try {
    const r = await api('GET', '/v1/jobs/' + encodeURIComponent(id));
    if (r.status !== 200) {
      $('#jobs-error').textContent = r.status === 404 ? `No job ${id}.` : 'Could not read the job: ' + r.status;
      $('#jobs-error').hidden = false;
      return;
    }
    state.detail = r.body.id;
    $('#jobs-error').hidden = true;
    $('#detail').hidden = false;
    renderDetail(r.body);
  } catch (err) {
    if (!(err instanceof Unauthorized)) console.warn(err);
  }
}

async function act(method, suffix, what) {
  const id = state.detail;
  if (!id) return;
  try {
    const r = await api(method, '/v1/jobs/' + id + suffix);
    $('#d-message').textContent = r.status < 300 ? what : `${what} refused: ` + ((r.body && r.body.detail) || r.status);
    showJob(id);
  } catch (err) {
    if (!(err instanceof Unauthorized)) $('#d-message').textContent = err.message;
  }
}

// --- start ---

async function start() {
  try {
    const pool = await api('GET', '/v1/pool');
    $('#key-form').hidden = true;
    $('#main').hidden = false;
    renderWorkers(pool.body.workers);
    renderCounts(null);
    state.stale = true; // the stream's open reads the jobs, missing none
    connect();
  } catch (err) {
    if (!(err instanceof Unauthorized)) {
      console.warn(err);
      setConn('reconnecting');
      setTimeout(start, 3000);
    }
  }
}

function wire() {
  $('#key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.key = $('#key').value.trim();
    sessionStorage.setItem('poold.key', state.key);
    start();
  });
  $('#status-filter').addEventListener('change', (ev) => {
    state.filter = ev.target.value;
    state.cursor = null;
    state.back = [];
    loadJobs();
  });
  $('#find-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    showJob($('#find').value);
  });
  $('#next').addEventListener('click', () => {
    state.back.push(state.cursor);
    state.cursor = state.next;
    loadJobs();
  });
  $('#prev').addEventListener('click', () => {
    state.cursor = state.back.length ? state.back.pop() : null;
    loadJobs();
  });
  $('#cancel').addEventListener('click', () => act('DELETE', '', 'Cancelled'));
  $('#redeliver').addEventListener('click', () => act('POST', '/callback', 'Redelivery started'));
  $('#close').addEventListener('click', () => {
    state.detail = null;
    $('#detail').hidden = true;
  });
}

wire();
start();
