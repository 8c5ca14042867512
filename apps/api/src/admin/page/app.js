// The admin page: reads the admin JSON API with the token kept in this tab's
// sessionStorage and redraws every few seconds. No framework and no external
// resources, so it works offline and under a strict Content-Security-Policy.
// Every value is inserted as text (never as HTML): queries and application
// names come from pg_stat_activity and are not trusted.
'use strict';

const TOKEN_KEY = 'audit-chain-admin-token';
const REFRESH_MS = 5000;
const PAGE_SIZE = 50;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const field = (name) => document.querySelector(`[data-field="${name}"]`);
let cursor = null;
let nextCursor = null;
let timer = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** A token passed once in the fragment (#token=...) is stored and removed from the address bar; fragments never reach the server. */
function takeTokenFromFragment() {
  const match = /^#token=(.+)$/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, '', location.pathname + location.search);
}

class AuthError extends Error {}

async function api(path) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${token()}` }, cache: 'no-store' });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 || response.status === 403) throw new AuthError(body.message || `HTTP ${response.status}`);
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  return body;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  const s = Math.floor(seconds);
  const pad = (n) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

const count = (n) => Number(n).toLocaleString('en-US');

/** A latency in the unit that reads best: 850 ms, 57.4 s, 1.5 min, 2.25 h (as the command line's formatLatency). */
function latency(ms) {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const trim = (n, digits) => String(Number(n.toFixed(digits)));
  if (ms < 60000) return `${trim(ms / 1000, 1)} s`;
  if (ms < 3600000) return `${trim(ms / 60000, 1)} min`;
  return `${trim(ms / 3600000, 2)} h`;
}

function setText(name, text, value) {
  const element = field(name);
  element.textContent = text;
  if (value !== undefined) element.dataset.value = String(value);
}

function cell(row, text, options = {}) {
  const td = document.createElement('td');
  td.textContent = text;
  if (options.num) td.className = 'num';
  if (options.cls) td.className = options.cls;
  if (options.field) td.dataset.field = options.field;
  if (options.value !== undefined) td.dataset.value = String(options.value);
  row.appendChild(td);
  return td;
}

function renderSummary(overview, status) {
  const h = overview.horizon;
  setText('horizon', `${h.horizon_seq} of ${h.head_seq}`, h.horizon_seq);
  const waiting = h.held_seconds > 0 ? `rows waiting ${age(h.held_seconds)}` : 'no rows waiting';
  setText('horizon-state', h.state === 'caught_up' ? 'caught up' : `${h.lag_seq} behind, ${waiting}: ${h.state.replace('_', ' ')}`, h.state);
  field('held-seconds').dataset.value = String(h.held_seconds);
  const t = overview.totals;
  setText('total-pending', count(t.pending_rows), t.pending_rows);
  setText(
    'total-pending-detail',
    `${count(t.pending_rows_discovered + t.held_rows)} in ${count(t.chains_with_pending)} chains (${count(t.held_rows)} held)` +
      (t.pending_unattributed > 0 ? ` + ${count(t.pending_unattributed)} in no chain yet (open transactions or rolled back)` : ''),
  );
  setText('oldest-pending', t.oldest_pending ? age(t.oldest_pending.age_seconds) : '-', t.oldest_pending ? t.oldest_pending.chain_seq : '');
  setText('oldest-pending-chain', t.oldest_pending ? `${t.oldest_pending.table} chain ${t.oldest_pending.chain} #${t.oldest_pending.chain_seq}${t.oldest_pending.exact ? '' : ' (or older)'}` : 'nothing pending');
  setText('sealed-rows', count(t.sealed_rows), t.sealed_rows);
  setText('throughput', t.throughput ? `${t.throughput.rows_per_second} rows/s over ${age(t.throughput.window_seconds)}` : 'throughput: collecting samples');
  const w = status.workers;
  setText('workers', `${w.alive} alive`, w.alive);
  setText('worker-errors', `${w.stale} stale${w.gone ? `, ${w.gone} gone` : ''}, ${count(w.errors)} errors`);
  const l = status.seal_latency;
  setText('seal-latency', l.count === 0 ? 'no seals recorded' : `seal latency p50 ${latency(l.p50_ms)}, p95 ${latency(l.p95_ms)}`);
  const cp = status.last_checkpoint;
  setText('checkpoint', cp ? `${age(cp.age_seconds)} ago (chain ${cp.chain} #${cp.chain_seq}); ${count(cp.rows_since)} rows since` : 'none recorded');
  const v = status.last_verification;
  setText('verification', v ? `${v.status} ${age(v.age_seconds)} ago: ${v.breaks_found} break${v.breaks_found === 1 ? '' : 's'} in ${count(v.rows_checked)} rows` : 'never run');
  setText('halted', String(status.halted.count), status.halted.count);
  field('halted').closest('.card').classList.toggle('bad', status.halted.count > 0);
  field('verification').closest('.card').classList.toggle('bad', status.verification.chains_with_breaks > 0);

  // Every table's open writers: audit_logs' hold the horizon above, an attached table's its own.
  const holders = $('holders');
  holders.replaceChildren();
  const tableHolders = overview.tables.flatMap((table) => table.holders.map((holder) => [table.table, holder]));
  for (const [table, holder] of tableHolders) {
    const row = document.createElement('tr');
    row.dataset.pid = String(holder.pid);
    row.dataset.table = table;
    cell(row, table, { field: 'table' });
    cell(row, holder.pid === null ? 'prepared' : String(holder.pid));
    cell(row, holder.application_name || '');
    cell(row, holder.user_name || '');
    cell(row, holder.state || '');
    cell(row, age(holder.xact_age_seconds), { num: true });
    cell(row, holder.query || '', { cls: 'query' });
    holders.appendChild(row);
  }
  $('holders-section').hidden = tableHolders.length === 0;
  renderTables(overview.tables);
}

/** One row per chained table; a drifted one in red with the command that confirms its new columns. */
function renderTables(tables) {
  const body = $('tables');
  body.replaceChildren();
  for (const table of tables) {
    const row = document.createElement('tr');
    row.dataset.table = table.table;
    if (table.status === 'drifted') row.className = 'attention';
    cell(row, table.table, { field: 'table' });
    cell(row, table.status === 'drifted' ? 'DRIFTED: not sealed' : table.format_version === 1 ? 'audit_logs' : 'attached', { field: 'status', value: table.status });
    cell(row, count(table.pending_rows), { num: true, field: 'pending_rows', value: table.pending_rows });
    cell(row, count(table.held_rows), { num: true, field: 'held_rows', value: table.held_rows });
    cell(row, count(table.pending_unattributed), { num: true, field: 'pending_unattributed', value: table.pending_unattributed });
    cell(row, count(table.chains), { num: true, field: 'chains', value: table.chains });
    cell(row, count(table.sealed_rows), { num: true, field: 'sealed_rows', value: table.sealed_rows });
    const waiting = table.held_seconds > 0 ? `rows waiting ${age(table.held_seconds)}` : 'no rows waiting';
    cell(row, table.state === 'caught_up' ? 'caught up' : `${table.horizon_seq} of ${table.head_seq}, ${waiting}: ${table.state.replace('_', ' ')}`, { field: 'horizon', value: table.state });
    body.appendChild(row);
    if (table.drift) {
      const detail = document.createElement('tr');
      detail.className = 'attention-detail';
      detail.dataset.detailOf = table.table;
      const td = cell(detail, `${table.drift.message} · fix: npx ${table.drift.command}`, { cls: 'detail', field: 'drift' });
      td.colSpan = 8;
      body.appendChild(detail);
    }
  }
}

function renderChains(overview) {
  const body = $('chains');
  body.replaceChildren();
  for (const chain of overview.chains) {
    const row = document.createElement('tr');
    row.dataset.chain = chain.chain;
    row.dataset.table = chain.table;
    const v = chain.last_verification;
    const broken = v !== null && v.breaks_found > 0;
    if (chain.halted || broken || chain.drift) row.className = 'attention';
    cell(row, chain.table, { field: 'table' });
    cell(row, chain.chain, { field: 'chain' });
    cell(row, count(chain.pending_rows), { num: true, field: 'pending_rows', value: chain.pending_rows });
    cell(row, count(chain.held_rows), { num: true, field: 'held_rows', value: chain.held_rows });
    cell(row, age(chain.oldest_pending && chain.oldest_pending.age_seconds), { num: true, field: 'oldest_pending' });
    cell(row, chain.watermark_seq, { num: true, field: 'watermark_seq', value: chain.watermark_seq });
    cell(row, chain.head_seq, { num: true, field: 'head_seq', value: chain.head_seq });
    cell(row, count(chain.sealed_rows), { num: true, field: 'sealed_rows', value: chain.sealed_rows });
    cell(row, chain.last_seal_age_seconds === null ? '-' : `${age(chain.last_seal_age_seconds)} ago`, { num: true });
    cell(row, chain.last_checkpoint ? `${age(chain.last_checkpoint.age_seconds)} ago` : '-', { num: true });
    cell(row, v ? (broken ? `BROKEN: ${v.breaks_found} break${v.breaks_found === 1 ? '' : 's'}` : 'clean') : '-', { field: 'verified' });
    cell(row, chain.halted ? `HALTED: ${chain.halted.reason || ''}` : chain.drift ? `DRIFTED: npx ${chain.drift.command}` : '', { field: 'chain_halted' });
    body.appendChild(row);
    if (broken || chain.halted) body.appendChild(attentionRow(chain, broken ? v.first_break : null));
  }
  nextCursor = overview.next_cursor;
  $('next-page').disabled = nextCursor === null;
  $('first-page').disabled = cursor === null;
}

/** Under a broken or halted chain: what broke, where, and the commands that investigate and resume it. */
function attentionRow(chain, firstBreak) {
  const row = document.createElement('tr');
  row.className = 'attention-detail';
  row.dataset.detailOf = chain.chain;
  const parts = [];
  if (firstBreak) {
    const where = firstBreak.chain_seq ? ` at row #${firstBreak.chain_seq}` : '';
    parts.push(`first break: ${firstBreak.kind || 'break'}${where}${firstBreak.message ? `: ${firstBreak.message}` : ''}`);
  }
  if (chain.halted) parts.push(`sealing halted since ${chain.halted.at}`);
  parts.push(`investigate: npx audit-chain verify --org ${chain.chain}`);
  if (chain.halted) parts.push(`then resume: npx audit-chain resume --org ${chain.chain}`);
  const td = cell(row, parts.join(' · '), { cls: 'detail' });
  td.colSpan = 12;
  return row;
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Total pending rows (left axis, solid) and oldest pending age (right axis, dashed) over the last hour (or since the API started). */
function renderChart(history) {
  const chart = $('chart');
  chart.replaceChildren();
  const W = 900, H = 240, left = 60, right = 60, top = 20, bottom = 30;
  const samples = history.samples;
  const end = samples.length ? Date.parse(samples[samples.length - 1].at) : Date.now();
  // The last hour, or less while the API has been up for less than that.
  const start = samples.length > 1 ? Math.max(end - 3600 * 1000, Date.parse(samples[0].at)) : end - 3600 * 1000;
  const x = (at) => left + ((Date.parse(at) - start) / (end - start)) * (W - left - right);
  const maxPending = Math.max(1, ...samples.map((s) => s.pending_rows));
  const maxAge = Math.max(1, ...samples.map((s) => s.oldest_pending_age_seconds || 0));
  const yP = (v) => H - bottom - (v / maxPending) * (H - top - bottom);
  const yA = (v) => H - bottom - (v / maxAge) * (H - top - bottom);

  for (let tick = 0; tick <= 4; tick += 1) {
    const gx = left + (tick / 4) * (W - left - right);
    const before = ((end - start) * (4 - tick)) / 4 / 1000;
    chart.appendChild(svg('line', { class: 'grid', x1: gx, y1: top, x2: gx, y2: H - bottom }));
    chart.appendChild(svg('text', { x: gx, y: H - 10, 'text-anchor': 'middle' }, tick === 4 ? 'now' : `-${age(before)}`));
  }
  chart.appendChild(svg('line', { class: 'grid', x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }));
  chart.appendChild(svg('text', { x: left - 6, y: top + 4, 'text-anchor': 'end' }, count(maxPending)));
  chart.appendChild(svg('text', { x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'));
  chart.appendChild(svg('text', { x: W - right + 6, y: top + 4 }, age(maxAge)));
  chart.appendChild(svg('text', { x: W - right + 6, y: H - bottom }, '0s'));
  chart.appendChild(svg('text', { x: left, y: 12, class: 'legend' }, '— pending rows (left)   - - oldest pending age (right)'));

  if (samples.length < 2) {
    const every = history.interval_seconds ? ` (one every ${history.interval_seconds}s)` : '';
    chart.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, `collecting samples${every}`));
    return;
  }
  const points = (y, value) => samples.map((s) => `${x(s.at).toFixed(1)},${y(value(s)).toFixed(1)}`).join(' ');
  chart.appendChild(svg('polyline', { class: 'pending', points: points(yP, (s) => s.pending_rows), 'data-series': 'pending' }));
  chart.appendChild(svg('polyline', { class: 'age', points: points(yA, (s) => s.oldest_pending_age_seconds || 0), 'data-series': 'age' }));
}

async function refresh() {
  clearTimeout(timer);
  try {
    const query = `limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const [overview, status, history] = await Promise.all([api(`v1/lag?${query}`), api('v1/status'), api('v1/history')]);
    renderSummary(overview, status);
    renderChains(overview);
    renderChart(history);
    $('load-error').hidden = true;
    $('refresh').textContent = `updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000}s`;
    document.body.dataset.loaded = overview.generated_at;
  } catch (error) {
    if (error instanceof AuthError) {
      showTokenForm(error.message);
      return;
    }
    $('load-error').textContent = `could not refresh: ${error.message}`;
    $('load-error').hidden = false;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function showTokenForm(message) {
  clearTimeout(timer);
  $('content').hidden = true;
  $('forget').hidden = true;
  $('token-form').hidden = false;
  $('token-error').textContent = message || '';
  $('token').focus();
}

function showContent() {
  $('token-form').hidden = true;
  $('content').hidden = false;
  $('forget').hidden = false;
  refresh();
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  showContent();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenForm('');
});
$('next-page').addEventListener('click', () => {
  cursor = nextCursor;
  refresh();
});
$('first-page').addEventListener('click', () => {
  cursor = null;
  refresh();
});

takeTokenFromFragment();
if (token()) showContent();
else showTokenForm('');
