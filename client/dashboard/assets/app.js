// taskmill dashboard: polls the JSON API (/api/...) and renders five pages with plain DOM
// calls (no framework, no inline script or style: the page's Content-Security-Policy allows
// only this file). Sparklines are inline SVG. A dashboard with an access token shows nothing
// until the token is given (its API answers 401 until then); one without says in a banner
// that every local user can read it.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const state = {
  page: 'queues', session: { read_only: true, signed_in: false, csrf: null, redact_payloads: false },
  overview: null, dlq: { queue: '', offset: 0, limit: 50, selected: new Set(), rows: [] },
  results: { queue: '', after: '', before: '', offset: 0, limit: 50 },
};

// ---- DOM helpers ------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'style') Object.assign(el.style, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c.nodeType ? c : String(c));
  return el;
}
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}
function table(cols, rows, empty) {
  if (!rows.length) return empty;
  return h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: c.num ? 'num' : '' }, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-id': r.id ?? r.queue ?? '' },
      cols.map((c) => { const v = c.cell(r); return v && v.nodeName === 'TD' ? v : h('td', { class: c.num ? 'num' : '' }, v); })))));
}
function emptyState(title, hint) { return h('div', { class: 'empty' }, h('b', { text: title }), hint); }

// ---- formatting -------------------------------------------------------------------------
const nf = new Intl.NumberFormat('en-US');
const fmtNum = (n) => (n === null || n === undefined ? '–' : nf.format(n));
function fmtRate(v) { if (!v) return '0/s'; return (v >= 100 ? Math.round(v) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + '/s'; }
function fmtDur(s) {
  if (s === null || s === undefined || isNaN(s)) return '–';
  if (s < 1) return Math.round(s * 1000) + ' ms';
  if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (Math.round(s % 60) ? Math.round(s % 60) + ' s' : '');
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.round((s % 86400) / 3600) + ' h';
}
function fmtMs(ms) { return ms === null || ms === undefined ? '–' : ms < 1000 ? (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + ' ms' : fmtDur(ms / 1000); }
function fmtBytes(b) {
  if (b === null || b === undefined) return '–';
  const u = ['B', 'kB', 'MB', 'GB', 'TB']; let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(b < 10 ? 1 : 0) : b) + ' ' + u[i];
}
function ago(iso) {
  if (!iso) return null;
  const t = new Date(iso), s = (Date.now() - t.getTime()) / 1000;
  const text = s >= 0 ? fmtDur(s).trim() + ' ago' : 'in ' + fmtDur(-s).trim();
  return h('span', { title: t.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'), text });
}
function code(v, max = 60) {
  if (v === null || v === undefined) return h('span', { class: 'faint', text: '–' });
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  return h('span', { class: 'code', title: s.length > max ? s.slice(0, 2000) : null, text: s.length > max ? s.slice(0, max - 1) + '…' : s });
}
const dash = () => h('span', { class: 'faint', text: '–' });
// Payloads, results and error texts: null when the dashboard redacts them (--redact-payloads).
const redacted = () => h('span', { class: 'redacted', title: 'Started with --redact-payloads', text: 'redacted' });
const secret = (v, max) => (v === null && state.session.redact_payloads ? redacted() : code(v, max));

// ---- sparklines -------------------------------------------------------------------------
function spark(values, color, w = 120, hgt = 30) {
  const el = svg('svg', { class: 'spark', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, 'aria-hidden': 'true' });
  const vals = values.map((v) => (v === null || v === undefined ? null : v));
  const n = Math.max(vals.length, 2), max = Math.max(...vals.filter((v) => v !== null), 0);
  const x = (i) => (i * (w - 4)) / (n - 1) + 2, y = (v) => hgt - 3 - (max > 0 ? (v / max) * (hgt - 7) : 0);
  el.append(svg('line', { x1: 2, x2: w - 2, y1: hgt - 2.5, y2: hgt - 2.5, stroke: 'currentColor', 'stroke-opacity': '.12' }));
  const pts = vals.map((v, i) => (v === null ? null : [x(i + n - vals.length), y(v)])).filter(Boolean);
  if (pts.length >= 2) {
    const line = pts.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join(' ');
    const area = line + ` L${pts[pts.length - 1][0].toFixed(1)} ${hgt - 2.5} L${pts[0][0].toFixed(1)} ${hgt - 2.5} Z`;
    el.append(svg('path', { d: area, fill: color, 'fill-opacity': '.12' }));
    el.append(svg('path', { d: line, fill: 'none', stroke: color, 'stroke-width': '1.6', 'stroke-linejoin': 'round', 'stroke-linecap': 'round' }));
  }
  if (pts.length) { const p = pts[pts.length - 1]; el.append(svg('circle', { cx: p[0], cy: p[1], r: 2.6, fill: color })); }
  return el;
}
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// ---- API --------------------------------------------------------------------------------
async function api(path, body) {
  const opts = { credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    if (state.session.csrf) opts.headers['X-CSRF-Token'] = state.session.csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401 && state.session.signed_in) {
    // The session ended (expired, or the dashboard restarted): back to the sign-in page.
    state.session.signed_in = false; state.session.csrf = null;
    showSession(); setTimeout(route);
  }
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok && !(data && (data.requeued || data.deleted !== undefined))) throw new Error((data && data.error) || res.statusText);
  return data;
}
function toast(text, bad) {
  const t = h('div', { class: 'toast' + (bad ? ' bad' : ''), role: 'status', text });
  $('toasts').append(t);
  setTimeout(() => t.remove(), 4500);
}

// ---- session ----------------------------------------------------------------------------
async function loadSession() {
  state.session = await api('/api/session');
  showSession();
}
function showSession() {
  const s = state.session, mode = $('mode');
  mode.textContent = s.read_only ? 'Read-only' : s.signed_in ? 'Signed in' : 'Signed out';
  mode.className = 'badge' + (s.signed_in ? ' unlocked' : '');
  mode.title = s.read_only ? 'Started without an access token: nothing can be changed here, and anyone on this host can read it.' : '';
  $('unlock').hidden = s.read_only || s.signed_in;
  $('lock').hidden = !s.signed_in;
  const open = $('open-banner');
  open.hidden = !s.read_only;
  if (s.read_only) {
    open.replaceChildren(h('b', { text: 'No access token: ' }),
      s.redact_payloads ? 'anyone on this host can read every queue here (payloads, results and errors are redacted). '
        : 'anyone on this host can read every queue here, with its payloads, results and errors. ',
      'Restart the dashboard with --token-file FILE to require sign-in.');
  }
  renderDlqButtons();
}
const canAct = () => state.session.signed_in;
const needsSignIn = () => !state.session.read_only && !state.session.signed_in;

function dialog({ title, body, ok, danger, check }) {
  const d = $('dialog');
  $('dialog-title').textContent = title;
  $('dialog-body').replaceChildren(...body);
  const okBtn = $('dialog-ok');
  okBtn.textContent = ok; okBtn.className = 'btn' + (danger ? ' btn-danger' : '');
  const sync = () => { okBtn.disabled = check ? !check() : false; };
  d.oninput = sync; sync();
  return new Promise((resolve) => {
    d.onclose = () => resolve(d.returnValue === 'ok');
    d.returnValue = '';
    d.showModal();
    const first = d.querySelector('input'); if (first) first.focus();
  });
}

async function unlock() {
  const input = h('input', { type: 'password', id: 'token-input', autocomplete: 'current-password', placeholder: 'Access token' });
  const ok = await dialog({ title: 'Sign in', ok: 'Sign in', body: [h('p', { text: 'The queues, and requeue and purge, need the access token the dashboard was started with (--token-file or TASKMILL_DASHBOARD_TOKEN).' }), input], check: () => input.value.length > 0 });
  if (!ok) return;
  try { const r = await api('/api/login', { token: input.value }); state.session.csrf = r.csrf; await loadSession(); toast('Signed in'); route(); }
  catch (e) { toast(e.message, true); }
}
async function lock() { await api('/api/logout', {}).catch(() => {}); await loadSession(); route(); }

// ---- pages ------------------------------------------------------------------------------
function tile(label, cls, value, note, extra) {
  return h('div', { class: 'tile' },
    h('div', { class: 'label' }, h('span', { class: 'dot bg-' + cls }), label),
    h('div', { class: 'row' }, h('div', { class: 'value' }, value), extra || null),
    note ? h('div', { class: 'foot-note' }, note) : null);
}
function sumSeries(queues, key) {
  const len = Math.max(0, ...queues.map((q) => q.history.length)), out = new Array(len).fill(0);
  for (const q of queues) q.history.forEach((p, i) => { out[i + len - q.history.length] += p[key] || 0; });
  return out;
}
// Rates per sample are spiky at short intervals (a batch lands in one sample, none in the
// next): sparklines and figures show a moving average over about five seconds.
function smooth(values, k) {
  return values.map((_, i) => {
    const w = values.slice(Math.max(0, i - k + 1), i + 1).filter((v) => v !== null && v !== undefined);
    return w.length ? w.reduce((a, b) => a + b, 0) / w.length : null;
  });
}
function renderQueues() {
  const ov = state.overview; if (!ov) return;
  const qs = ov.queues, tot = { available: 0, in_flight: 0, scheduled: 0, retrying: 0, in_dlq: 0 };
  for (const q of qs) for (const k in tot) tot[k] += q.counts[k] || 0;
  const k = Math.max(1, Math.round(5000 / ov.interval_ms));
  const thr = smooth(sumSeries(qs, 'throughput'), k), enq = smooth(sumSeries(qs, 'enqueued'), k);
  const last = (a) => (a.length ? a[a.length - 1] : 0);
  $('tiles').replaceChildren(
    tile('Available', 'available', fmtNum(tot.available), qs.length + (qs.length === 1 ? ' queue' : ' queues')),
    tile('In flight', 'in_flight', fmtNum(tot.in_flight), 'held by workers now'),
    tile('Scheduled', 'scheduled', fmtNum(tot.scheduled), fmtNum(tot.retrying) + ' waiting to retry'),
    tile('Dead letters', 'in_dlq', fmtNum(tot.in_dlq), tot.in_dlq ? h('a', { href: '#/dlq', text: 'Review →' }) : 'nothing failed for good'),
    tile('Throughput', 'throughput', h('span', {}, fmtRate(last(thr)).replace('/s', ''), h('small', { text: 'done/s' })),
      fmtRate(last(enq)) + ' enqueued', h('span', { class: 'c-throughput' }, spark(thr, css('--green'), 92, 34))));
  const maxAge = Math.max(1, ...qs.map((q) => q.oldest_available_s || 0));
  const cols = [
    { title: 'Queue', cell: (q) => h('span', { class: 'q-name', text: q.queue }) },
    ...['available', 'in_flight', 'scheduled', 'in_dlq'].map((k) => ({
      title: { available: 'Available', in_flight: 'In flight', scheduled: 'Scheduled', in_dlq: 'Dead letters' }[k], num: true,
      cell: (q) => h('td', { class: 'num' + (q.counts[k] ? '' : ' zero') }, k === 'in_dlq' && q.counts[k] ? h('a', { href: '#/dlq', class: 'c-in_dlq', text: fmtNum(q.counts[k]), 'data-queue': q.queue, onclick: () => { state.dlq.queue = q.queue; } }) : fmtNum(q.counts[k])) })),
    { title: 'Oldest waiting', num: true, cell: (q) => (q.oldest_available_s === null ? dash() : h('span', { class: q.oldest_available_s / maxAge > 0.66 && q.oldest_available_s > 60 ? 'c-in_flight' : '', text: fmtDur(q.oldest_available_s) })) },
    { title: 'Throughput', num: true, cell: (q) => { const t = smooth(q.history.map((p) => p.throughput), k); return h('div', { class: 'spark-cell' }, spark(t, css('--green')), h('b', { text: fmtRate(last(t)) })); } },
    { title: 'Latency p95', num: true, cell: (q) => { const l = [...q.history].reverse().find((p) => p.latency_p95_ms !== null); return h('div', { class: 'spark-cell' }, spark(q.history.map((p) => p.latency_p95_ms), css('--accent')), h('b', { text: l ? fmtMs(l.latency_p95_ms) : '–' })); } },
  ];
  $('queues-table').replaceChildren(table(cols, qs.map((q) => ({ ...q, id: q.queue })),
    emptyState('No queues yet', h('p', {}, 'Enqueue a task and it shows up here within a few seconds: ', h('code', { text: "taskmill enqueue emails send '{\"to\":\"a@example.com\"}'" })))));
  const span = (ov.interval_ms / 1000) * 90;
  $('queues-sub').textContent = `Live counts by state; throughput and p95 latency (due → done) over the last ${span < 120 ? Math.round(span) + ' seconds' : Math.round(span / 60) + ' minutes'}.`;
}

function queueOptions(select, current) {
  const names = state.overview ? state.overview.queues.map((q) => q.queue) : [];
  if (current && !names.includes(current)) names.push(current);
  const want = ['', ...names].join('\n');
  if (select.dataset.names !== want) {
    select.replaceChildren(h('option', { value: '', text: 'All queues' }), ...names.map((n) => h('option', { value: n, text: n })));
    select.dataset.names = want;
  }
  select.value = current;
}

function renderDlqButtons() {
  const d = state.dlq, n = d.selected.size;
  const rq = $('dlq-requeue'), pg = $('dlq-purge');
  rq.textContent = n ? `Requeue ${n} selected` : 'Requeue selected';
  rq.disabled = !canAct() || n === 0;
  pg.disabled = !canAct() || !d.queue;
  const why = state.session.read_only ? 'The dashboard is read-only' : !canAct() ? 'Unlock actions first' : '';
  rq.title = why || (n ? '' : 'Select tasks first');
  pg.title = why || (d.queue ? '' : 'Choose a queue first');
}
async function loadDlq() {
  const d = state.dlq;
  queueOptions($('dlq-queue'), d.queue);
  const q = new URLSearchParams({ limit: d.limit, offset: d.offset }); if (d.queue) q.set('queue', d.queue);
  const r = await api('/api/dlq?' + q);
  d.rows = r.rows;
  const ids = new Set(r.rows.map((t) => t.id));
  for (const id of [...d.selected]) if (!ids.has(id)) d.selected.delete(id);
  const allBox = h('input', { type: 'checkbox', 'aria-label': 'Select all', onchange: (e) => { for (const t of d.rows) e.target.checked ? d.selected.add(t.id) : d.selected.delete(t.id); loadDlq(); } });
  allBox.checked = r.rows.length > 0 && r.rows.every((t) => d.selected.has(t.id));
  const cols = [
    { title: allBox, cell: (t) => { const b = h('input', { type: 'checkbox', 'aria-label': 'Select task ' + t.id, onchange: (e) => { e.target.checked ? d.selected.add(t.id) : d.selected.delete(t.id); renderDlqButtons(); } }); b.checked = d.selected.has(t.id); return b; } },
    { title: 'ID', cell: (t) => h('span', { class: 'mono', text: '#' + t.id }) },
    { title: 'Queue', cell: (t) => h('span', { class: 'q-name', text: t.queue }) },
    { title: 'Operation', cell: (t) => h('span', { class: 'mono', text: t.operation }) },
    { title: 'Attempts', num: true, cell: (t) => `${t.attempts}/${t.max_attempts}` },
    { title: 'Dead-lettered', cell: (t) => h('span', { class: 'nowrap' }, ago(t.dlq_at)) },
    { title: 'Reason', cell: (t) => (t.reason === null && state.session.redact_payloads ? redacted() : h('div', { class: 'reason clip', title: t.reason || '', text: t.reason || '–' })) },
    { title: 'Key', cell: (t) => (t.key ? code(t.key, 24) : dash()) },
    { title: 'Group', cell: (t) => (t.group ? code(t.group, 18) : dash()) },
    { title: 'Payload', cell: (t) => secret(t.payload, 26) },
    { title: '', cell: (t) => h('button', { class: 'btn btn-ghost btn-sm', disabled: !canAct(), title: canAct() ? null : 'Unlock actions first', 'data-requeue': t.id, onclick: () => requeue([t.id]), text: 'Requeue' }) },
  ];
  $('dlq-table').replaceChildren(table(cols, r.rows, emptyState('The dead-letter queue is empty', h('p', { text: 'Tasks land here when they run out of attempts or expire.' }))));
  pager($('dlq-pager'), d, r, loadDlq);
  renderDlqButtons();
}
async function requeue(ids) {
  const ok = await dialog({ title: `Requeue ${ids.length === 1 ? 'task #' + ids[0] : ids.length + ' tasks'}?`, ok: 'Requeue',
    body: [h('p', { text: 'The task' + (ids.length === 1 ? ' goes' : 's go') + ' back to ' + (ids.length === 1 ? 'its' : 'their') + ' queue with attempts reset, visible to workers at once.' })] });
  if (!ok) return;
  try {
    const r = await api('/api/dlq/requeue', { ids });
    r.requeued.forEach((id) => state.dlq.selected.delete(id));
    toast(`Requeued ${r.requeued.length} task${r.requeued.length === 1 ? '' : 's'}` + (r.failed.length ? `; ${r.failed.length} failed: ${r.failed[0].error}` : ''), r.failed.length > 0);
  } catch (e) { toast(e.message, true); }
  refresh();
}
async function purge() {
  const queue = state.dlq.queue;
  const count = state.overview ? (state.overview.queues.find((q) => q.queue === queue) || { counts: {} }).counts.in_dlq : null;
  const input = h('input', { type: 'text', id: 'purge-confirm', autocomplete: 'off', placeholder: queue });
  const ok = await dialog({ title: `Purge the dead letters of “${queue}”?`, ok: 'Purge', danger: true,
    body: [h('p', { text: `This deletes ${count === null || count === undefined ? 'every' : fmtNum(count)} dead-lettered task${count === 1 ? '' : 's'} of the queue for good. Type the queue's name to confirm.` }), input],
    check: () => input.value === queue });
  if (!ok) return;
  try { const r = await api('/api/dlq/purge', { queue, confirm: input.value }); toast(`Deleted ${fmtNum(r.deleted)} dead-lettered task${r.deleted === 1 ? '' : 's'}`); }
  catch (e) { toast(e.message, true); }
  refresh();
}
function pager(el, st, r, reload) {
  if (!r.rows.length && st.offset === 0) { el.replaceChildren(); return; }
  el.replaceChildren(
    h('span', { text: r.rows.length ? `Rows ${fmtNum(st.offset + 1)}–${fmtNum(st.offset + r.rows.length)}` : 'No rows on this page' }),
    h('div', { class: 'btns' },
      h('button', { class: 'btn btn-ghost btn-sm', disabled: st.offset === 0, onclick: () => { st.offset = Math.max(0, st.offset - st.limit); reload(); }, text: '← Newer' }),
      h('button', { class: 'btn btn-ghost btn-sm', disabled: !r.more, onclick: () => { st.offset += st.limit; reload(); }, text: 'Older →' })));
}

async function loadSchedules() {
  const rows = await api('/api/schedules');
  const cols = [
    { title: 'Queue', cell: (s) => h('span', { class: 'q-name', text: s.queue }) },
    { title: 'Operation', cell: (s) => h('span', { class: 'mono', text: s.operation }) },
    { title: 'Cron', cell: (s) => code(s.cron) },
    { title: 'Timezone', cell: (s) => h('span', { class: 'muted', text: s.timezone }) },
    { title: 'Next run', cell: (s) => ago(s.next_run_at) || dash() },
    { title: 'Last run', cell: (s) => ago(s.last_run_at) || h('span', { class: 'faint', text: 'never' }) },
    { title: 'Status', cell: (s) => { const st = s.last_status; const cls = !st ? 'none' : /^(ok|success|enqueued|succeeded)$/i.test(st) ? 'ok' : 'bad'; return h('span', { class: 'status ' + cls, text: st || 'pending' }); } },
    { title: 'Last error', cell: (s) => (s.last_error ? h('div', { class: 'reason clip', title: s.last_error, text: s.last_error }) : s.last_status && !/^(ok|success|enqueued|succeeded)$/i.test(s.last_status) && state.session.redact_payloads ? redacted() : dash()) },
    { title: 'Failures', num: true, cell: (s) => h('span', { class: s.consecutive_failures ? 'c-in_dlq' : 'faint', text: fmtNum(s.consecutive_failures) }) },
  ];
  $('schedules-table').replaceChildren(table(cols, rows.map((s) => ({ ...s, id: s.queue + '/' + s.operation })),
    emptyState('No schedules', h('p', {}, 'Register cron schedules with ', h('code', { text: 'taskmill.register_schedules(queue, schedules)' }), '.'))));
}

function localToIso(v) { return v ? new Date(v).toISOString() : ''; }
async function loadResults() {
  const st = state.results;
  queueOptions($('results-queue'), st.queue);
  const q = new URLSearchParams({ limit: st.limit, offset: st.offset });
  if (st.queue) q.set('queue', st.queue);
  if (st.after) q.set('after', localToIso(st.after));
  if (st.before) q.set('before', localToIso(st.before));
  const r = await api('/api/results?' + q);
  const cols = [
    { title: 'ID', cell: (t) => h('span', { class: 'mono', text: '#' + t.id }) },
    { title: 'Queue', cell: (t) => h('span', { class: 'q-name', text: t.queue }) },
    { title: 'Operation', cell: (t) => h('span', { class: 'mono', text: t.operation }) },
    { title: 'Attempts', num: true, cell: (t) => t.attempts },
    { title: 'Key', cell: (t) => code(t.key, 24) },
    { title: 'Group', cell: (t) => (t.group ? code(t.group, 18) : dash()) },
    { title: 'Completed', cell: (t) => ago(t.completed_at) },
    { title: 'Due → done', num: true, cell: (t) => fmtDur((new Date(t.completed_at) - new Date(t.scheduled_at)) / 1000) },
    { title: 'Result', cell: (t) => secret(t.result, 40) },
  ];
  $('results-table').replaceChildren(table(cols, r.rows, emptyState('No results', h('p', { text: st.queue || st.after || st.before ? 'Nothing matches these filters.' : 'Completed tasks show up here (ephemeral ones keep no result).' }))));
  pager($('results-pager'), st, r, loadResults);
}

async function loadHealth() {
  const d = await api('/api/health');
  const hl = d.health || {};
  const usage = hl.notify_queue_usage || 0, tasks = (d.tables || []).find((t) => t.table_name === 'tasks') || {};
  const holder = (d.xmin_holders || [])[0];
  const bar = (frac, warn, bad = 0.8) => h('div', { class: 'bar' + (frac > bad ? ' bad' : frac > warn ? ' warn' : '') }, h('span', { style: { width: Math.min(100, Math.max(frac * 100, frac > 0 ? 2 : 0)) + '%' } }));
  const since = (d.xmin_holders || []).map((x) => x.since).filter(Boolean).sort()[0];
  $('health-tiles').replaceChildren(
    tile('NOTIFY queue', usage > 0.5 ? 'in_dlq' : 'throughput', (usage * 100).toFixed(usage < 0.01 ? 2 : 1) + '%', bar(usage, 0.3)),
    tile('Oldest xmin', hl.oldest_xmin_age > 1e6 ? 'in_dlq' : 'available', hl.oldest_xmin_age === null || hl.oldest_xmin_age === undefined ? '–' : h('span', {}, fmtNum(hl.oldest_xmin_age), h('small', { text: 'xacts' })), holder ? h('div', { class: 'clip', title: holder.holder, text: holder.kind + ' ' + holder.holder }) : 'nothing holds the horizon back'),
    tile('Dead tuples (tasks)', (tasks.dead_ratio || 0) > 0.2 ? 'in_dlq' : 'scheduled', fmtNum(hl.tasks_dead_tuples), fmtNum(hl.tasks_live_tuples) + ' live'),
    tile('Tasks table', 'available', fmtBytes(tasks.total_bytes), tasks.last_autovacuum ? h('span', {}, 'autovacuum ', ago(tasks.last_autovacuum)) : 'not autovacuumed yet'),
    tile('Oldest transaction', 'in_flight', since ? fmtDur((Date.now() - new Date(since)) / 1000) : '–', since ? 'holding the xmin horizon' : 'none holds the horizon'));
  const oldest = d.oldest || [], maxAge = Math.max(1, ...oldest.map((o) => o.age_s || 0));
  $('health-oldest').replaceChildren(table([
    { title: 'Queue', cell: (o) => h('span', { class: 'q-name', text: o.queue }) },
    { title: 'Available', num: true, cell: (o) => fmtNum(o.available) },
    { title: 'Waiting', num: true, cell: (o) => (o.age_s === null ? dash() : fmtDur(o.age_s)) },
    { title: '', cell: (o) => bar((o.age_s || 0) / maxAge, 2, 2) },
  ], oldest.map((o) => ({ ...o, id: o.queue })), emptyState('No queues', null)));
  $('health-xmin').replaceChildren(table([
    { title: 'Kind', cell: (x) => x.kind },
    { title: 'Holder', cell: (x) => h('div', { class: 'clip mono', title: x.holder, text: x.holder }) },
    { title: 'xmin age', num: true, cell: (x) => fmtNum(x.xmin_age) },
    { title: 'Since', cell: (x) => ago(x.since) || dash() },
  ], d.xmin_holders || [], emptyState('Nothing holds the xmin horizon', h('p', { text: 'No long transaction, replication slot or prepared transaction keeps vacuum from removing dead rows.' }))));
  $('health-tables').replaceChildren(table([
    { title: 'Table', cell: (t) => h('span', { class: 'mono', text: 'taskmill.' + t.table_name }) },
    { title: 'Live', num: true, cell: (t) => fmtNum(t.live_tuples) },
    { title: 'Dead', num: true, cell: (t) => fmtNum(t.dead_tuples) },
    { title: 'Dead ratio', cell: (t) => h('div', { class: 'spark-cell' }, bar(t.dead_ratio || 0, 0.2), h('b', { text: t.dead_ratio === null ? '–' : (t.dead_ratio * 100).toFixed(1) + '%' })) },
    { title: 'Size', num: true, cell: (t) => fmtBytes(t.total_bytes) },
    { title: 'HOT updates', num: true, cell: (t) => (t.updates ? Math.round((100 * t.hot_updates) / t.updates) + '%' : '–') },
    { title: 'Last autovacuum', cell: (t) => ago(t.last_autovacuum) || h('span', { class: 'faint', text: 'never' }) },
    { title: 'Autovacuums', num: true, cell: (t) => fmtNum(t.autovacuum_count) },
  ], (d.tables || []).map((t) => ({ ...t, id: t.table_name })), emptyState('No statistics yet', null)));
}

// ---- routing and polling ----------------------------------------------------------------
const loaders = { queues: async () => renderQueues(), dlq: loadDlq, schedules: loadSchedules, results: loadResults, health: loadHealth };
function route() {
  const page = (location.hash.match(/^#\/(\w+)/) || [])[1];
  state.page = loaders[page] ? page : 'queues';
  // Signed out of a dashboard with a token: nothing but the sign-in card.
  const shown = needsSignIn() ? 'signin' : state.page;
  for (const s of document.querySelectorAll('.page')) s.hidden = s.id !== 'page-' + shown;
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', a.dataset.page === shown);
  document.title = $('page-' + shown).dataset.title + ' · taskmill';
  if (shown === 'signin') {
    state.overview = null;
    for (const id of ['tiles', 'queues-table', 'dlq-table', 'schedules-table', 'results-table', 'health-tiles', 'health-oldest', 'health-xmin', 'health-tables']) $(id).replaceChildren();
    $('dlq-pill').hidden = true; $('banner').hidden = true;
    $('live').hidden = true;  // nothing is sampled for this page until sign-in
    document.body.dataset.loaded = 'signin';
    return;
  }
  $('live').hidden = false;
  refresh();
}
let inflight = false;
async function refresh() {
  if (inflight || needsSignIn()) return;
  inflight = true;
  const live = $('live');
  try {
    state.overview = await api('/api/overview');
    const ov = state.overview, dlqTotal = ov.queues.reduce((a, q) => a + (q.counts.in_dlq || 0), 0);
    $('dlq-pill').hidden = !dlqTotal; $('dlq-pill').textContent = fmtNum(dlqTotal);
    const bad = !!ov.error;
    live.className = 'live ' + (bad ? 'bad' : 'ok');
    $('live-text').textContent = bad ? 'Database error' : 'Live';
    live.title = bad ? ov.error : 'Sampled ' + new Date(ov.sampled_at * 1000).toLocaleTimeString() + ', every ' + ov.interval_ms / 1000 + ' s';
    $('banner').hidden = !bad; $('banner').textContent = bad ? 'The last sample failed: ' + ov.error : '';
    await loaders[state.page]();
    document.body.dataset.loaded = state.page;
  } catch (e) {
    live.className = 'live bad'; $('live-text').textContent = 'Offline'; live.title = e.message;
  } finally { inflight = false; }
}

function init() {
  $('unlock').addEventListener('click', unlock);
  $('lock').addEventListener('click', lock);
  $('signin').addEventListener('click', unlock);
  $('dlq-queue').addEventListener('change', (e) => { state.dlq.queue = e.target.value; state.dlq.offset = 0; state.dlq.selected.clear(); refresh(); });
  $('dlq-requeue').addEventListener('click', () => requeue([...state.dlq.selected]));
  $('dlq-purge').addEventListener('click', purge);
  $('results-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    Object.assign(state.results, { queue: $('results-queue').value, after: $('results-after').value, before: $('results-before').value, limit: +$('results-limit').value, offset: 0 });
    refresh();
  });
  $('results-filter').addEventListener('reset', () => { Object.assign(state.results, { queue: '', after: '', before: '', offset: 0 }); setTimeout(refresh); });
  window.addEventListener('hashchange', route);
  loadSession().catch(() => {}).then(route);
  setInterval(() => { if (!$('dialog').open) refresh(); }, 2000);
}
document.addEventListener('DOMContentLoaded', init);
