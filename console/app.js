// The console page: polls the system API (origins, streams, clients) and /metrics, renders them as
// text-only DOM, and drives the player. Fields a proxy version does not send are shown empty.
import { ApiError, UnauthorizedError, del, getJson, getText, setToken, token } from './api.js';
import { LineChart } from './chart.js';
import { ago, bytes, el, setRows, text } from './dom.js';
import { chartPlan, parsePrometheus } from './metrics.js';
import { Player, streamUrls } from './player.js';

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

const state = {
  config: { httpServer: 18080, httpApi: 11985 },
  selected: undefined,
  needToken: false,
  charts: new Map(),
  lastMetrics: undefined,
  clientsMissing: false,
  metricsMissing: false,
};

const player = new Player($('video'), (url, what) => {
  $('player-url').textContent = url;
  $('player-state').textContent = what;
});

function setStatus(message, isError = false) {
  const s = $('status');
  s.textContent = message;
  s.className = isError ? 'error' : 'muted';
}

function askToken(message) {
  state.needToken = true;
  $('token-form').hidden = false;
  $('token-error').textContent = message;
  $('main').hidden = true;
  $('token').focus();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($('token').value);
  $('token').value = '';
  state.needToken = false;
  $('token-form').hidden = true;
  $('main').hidden = false;
  void refresh();
});

// ---------------------------------------------------------------------------------------------
// Origins

function loadText(load) {
  if (!load || typeof load !== 'object') return '';
  const parts = [];
  if (typeof load.cpu === 'number') parts.push(`cpu ${Math.round(load.cpu * 100)}%`);
  if (typeof load.loadPerCpu === 'number') parts.push(`load/cpu ${load.loadPerCpu.toFixed(2)}`);
  if (typeof load.connections === 'number') parts.push(`${load.connections} conns`);
  return parts.join(', ');
}

function endpointsText(o) {
  return ['rtmp', 'http', 'api', 'srt', 'rtc', 'rtsp']
    .filter((s) => Array.isArray(o[s]) && o[s].length > 0)
    .map((s) => `${s} ${o[s].map(text).join(' ')}`)
    .join('; ');
}

function renderOrigins(body) {
  const origins = Array.isArray(body.origins) ? body.origins : [];
  $('origins-total').textContent = `(${text(body.total ?? origins.length)})`;
  setRows(
    $('origins').querySelector('tbody'),
    origins.map((o) => {
      const stateName = text(o.state ?? (o.alive === false ? 'down' : o.alive ? 'up' : ''));
      return el(
        'tr',
        { dataset: { server: text(o.server_id) } },
        el('td', {}, o.server_id),
        el('td', { className: 'mono' }, o.id),
        el('td', {}, o.ip),
        el('td', { className: `state-${stateName}`, title: text(o.reason) }, stateName, o.reason ? el('div', { className: 'muted' }, o.reason) : ''),
        el('td', {}, o.since ? ago(o.since) : ''),
        el('td', {}, loadText(o.load)),
        el('td', {}, o.weight),
        el('td', {}, o.relays),
        el('td', {}, o.version),
        el('td', { className: 'mono' }, endpointsText(o)),
      );
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Streams

function playersText(players) {
  if (!players || typeof players !== 'object') return '';
  return Object.entries(players)
    .filter(([, n]) => typeof n === 'number' && n > 0)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');
}

function publisherText(p) {
  if (!p || typeof p !== 'object') return p === null ? 'none' : '';
  const parts = [p.protocol, p.client];
  if (typeof p.bitrate_kbps === 'number') parts.push(`${Math.round(p.bitrate_kbps)} kbps`);
  if (p.since) parts.push(ago(p.since));
  return parts
    .filter((x) => x !== undefined && x !== '')
    .map(text)
    .join(' · ');
}

function bytesText(b) {
  if (!b || typeof b !== 'object') return '';
  return `${bytes(b.in)} / ${bytes(b.out)}`;
}

function renderStreams(body) {
  const streams = Array.isArray(body.streams) ? body.streams : [];
  $('streams-total').textContent = `(${text(body.total ?? streams.length)}${body.next ? '+' : ''})`;
  setRows(
    $('streams').querySelector('tbody'),
    streams.map((s) =>
      el(
        'tr',
        { dataset: { stream: text(s.stream) } },
        el('td', { className: 'mono' }, s.stream),
        el('td', {}, text(s.server), s.origin ? el('div', { className: 'muted mono' }, s.origin) : ''),
        el('td', {}, publisherText(s.publisher)),
        el('td', {}, playersText(s.players)),
        el('td', {}, bytesText(s.bytes)),
        el('td', {}, el('button', { type: 'button', className: 'play', onclick: () => select(text(s.stream)) }, 'Play')),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Clients

function renderClients(body) {
  const clients = Array.isArray(body.clients) ? body.clients : [];
  $('clients-total').textContent = `(${text(body.total ?? clients.length)})`;
  setRows(
    $('clients').querySelector('tbody'),
    clients.map((c) =>
      el(
        'tr',
        { dataset: { client: text(c.id) } },
        el('td', { className: 'mono' }, c.id),
        el('td', {}, c.protocol),
        el('td', {}, c.role),
        el('td', { className: 'mono' }, c.stream),
        el('td', {}, c.client),
        el('td', {}, c.since ? ago(c.since) : ''),
        el('td', {}, bytesText(c.bytes)),
        el('td', {}, el('button', { type: 'button', className: 'kick', onclick: () => kick(text(c.id)) }, 'Kick')),
      ),
    ),
  );
}

async function kick(id) {
  try {
    await del(`/api/v1/clients/${encodeURIComponent(id)}`);
    setStatus(`client ${id} kicked`);
  } catch (err) {
    if (err instanceof UnauthorizedError) askToken('the token was refused');
    else setStatus(`kick ${id}: ${err.message}`, true);
  }
  void refresh();
}

// ---------------------------------------------------------------------------------------------
// Metrics

function renderMetrics(body, at) {
  const samples = parsePrometheus(body);
  const previous = state.lastMetrics;
  state.lastMetrics = { samples, at };
  const box = $('charts');
  for (const plan of chartPlan(samples)) {
    let chart = state.charts.get(plan.title);
    if (!chart) {
      chart = new LineChart(plan.title, plan.unit);
      state.charts.set(plan.title, chart);
      box.append(chart.node);
    }
    for (const s of plan.series) {
      const now = samples.get(s.name).sum;
      if (!s.rate) chart.push(s.name, now);
      else if (previous && previous.samples.has(s.name) && at > previous.at) {
        chart.push(s.name, Math.max(0, (now - previous.samples.get(s.name).sum) / ((at - previous.at) / 1000)));
      }
    }
    chart.draw();
  }
}

// ---------------------------------------------------------------------------------------------
// Player

function select(stream) {
  state.selected = stream;
  $('player').hidden = false;
  $('player-stream').textContent = stream;
  $('player-url').textContent = '';
  $('player-state').textContent = 'choose HLS, HTTP-FLV or WHEP';
  player.stop();
}

for (const b of document.querySelectorAll('#player .tabs button')) {
  b.addEventListener('click', () => {
    const kind = b.dataset.kind;
    for (const other of document.querySelectorAll('#player .tabs button')) other.setAttribute('aria-selected', String(other === b));
    if (kind === 'stop') {
      player.stop();
      $('player-state').textContent = 'stopped';
      return;
    }
    const urls = state.selected ? streamUrls(state.selected, state.config) : undefined;
    if (!urls) {
      $('player-state').textContent = 'not a vhost/app/stream key';
      return;
    }
    void player.play(kind, urls);
  });
}

// ---------------------------------------------------------------------------------------------
// Polling

async function optional(load, onMissing) {
  try {
    return await load();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
      onMissing();
      return undefined;
    }
    throw err;
  }
}

let busy = false;
async function refresh() {
  if (busy || state.needToken) return;
  busy = true;
  try {
    const [origins, streams] = await Promise.all([getJson('/api/v1/origins'), getJson('/api/v1/streams')]);
    renderOrigins(origins);
    renderStreams(streams);
    const clients = state.clientsMissing
      ? undefined
      : await optional(
          () => getJson('/api/v1/clients'),
          () => {
            state.clientsMissing = true;
            $('clients-note').hidden = false;
            $('clients-note').textContent = 'clients unavailable (this proxy has no /api/v1/clients)';
          },
        );
    if (clients) renderClients(clients);
    const metrics = state.metricsMissing
      ? undefined
      : await optional(
          () => getText('/metrics'),
          () => {
            state.metricsMissing = true;
            $('metrics-note').hidden = false;
            $('metrics-note').textContent = 'metrics unavailable (this proxy has no /metrics)';
          },
        );
    if (metrics !== undefined) renderMetrics(metrics, performance.now());
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (err instanceof UnauthorizedError) askToken(token() ? 'the token was refused' : '');
    else setStatus(`cannot reach the API: ${err.message}`, true);
  } finally {
    busy = false;
  }
}

async function start() {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (res.ok) state.config = await res.json();
  } catch {
    // default ports
  }
  if (state.config.tokenRequired && !token()) askToken('');
  await refresh();
  setInterval(() => void refresh(), POLL_MS);
}

void start();
