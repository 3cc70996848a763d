// The deployment files cannot be built or applied here (no Docker, no cluster), so they are held to
// the config module instead: every PROXY_* variable they set exists, every proxy port is a listener
// default, probes hit /healthz and /readyz, and the Dockerfile's build commands really build the app.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { DEFAULTS, LISTENER_VARIABLES, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { OriginProxy } from '../../src/proxy.js';
import { REPO_ROOT, tempDir } from '../fixtures/paths.js';
import { stopAllPeers } from '../fixtures/process.js';
import { familyOf, parsePromText } from '../fixtures/prom-text.js';
import { startRedis } from '../fixtures/redis.js';

const ROOT = REPO_ROOT;
const DEPLOY = join(ROOT, 'deploy');

/** Every variable the config module reads (defaults table plus everything loadConfig looks at). */
const KNOWN_VARIABLES = new Set([...Object.keys(DEFAULTS), ...Object.keys(loadConfig({ env: {}, cwd: ROOT, isDirectory: () => true }).effective)]);

const port = (variable: string) => Number(DEFAULTS[variable]);
/** The proxy's listeners by the port names the manifests use, with their transport. */
const LISTENERS: Record<string, { variable: string; protocol: 'TCP' | 'UDP' }> = {
  rtmp: { variable: LISTENER_VARIABLES.rtmp, protocol: 'TCP' },
  'http-stream': { variable: LISTENER_VARIABLES.httpServer, protocol: 'TCP' },
  'http-api': { variable: LISTENER_VARIABLES.httpApi, protocol: 'TCP' },
  'system-api': { variable: LISTENER_VARIABLES.systemApi, protocol: 'TCP' },
  webrtc: { variable: LISTENER_VARIABLES.webrtc, protocol: 'UDP' },
  srt: { variable: LISTENER_VARIABLES.srt, protocol: 'UDP' },
  rtsp: { variable: 'PROXY_RTSP_SERVER', protocol: 'TCP' },
};
const DEFAULT_PORTS = new Map(Object.values(LISTENERS).map((l) => [port(l.variable), l.protocol]));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

type Doc = Record<string, unknown>;

function parseFile(path: string): Doc[] {
  const text = readFileSync(path, 'utf8');
  if (path.endsWith('.json')) return [JSON.parse(text) as Doc];
  return parseAllDocuments(text, { merge: true }).map((d) => {
    assert.deepEqual(d.errors, [], `${relative(ROOT, path)}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Doc;
  });
}

/** YAML and JSON files; Helm templates are Go templates that only become YAML when rendered. */
const structured = () => files(DEPLOY).filter((f) => /\.(ya?ml|json)$/.test(f) && !/\/helm\/[^/]+\/templates\//.test(f));
const HELM = join(DEPLOY, 'helm', 'origin-proxy');
const proxyVariables = (text: string) => [...text.matchAll(/\bPROXY_[A-Z0-9_]+/g)].map((m) => m[0]);

/** Every value under `node` (depth first) for which `pick` says yes. */
function collect(node: unknown, pick: (v: Record<string, unknown>) => boolean, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) for (const x of node) collect(x, pick, out);
  else if (node && typeof node === 'object') {
    const rec = node as Record<string, unknown>;
    if (pick(rec)) out.push(rec);
    for (const v of Object.values(rec)) collect(v, pick, out);
  }
  return out;
}

describe('deploy files', () => {
  test('every YAML and JSON file parses; there are compose and Kubernetes files', () => {
    const all = structured();
    assert.ok(
      all.some((f) => f.includes('compose')),
      'a compose file',
    );
    assert.ok(
      all.some((f) => f.includes('kubernetes')),
      'Kubernetes manifests',
    );
    for (const f of all) assert.ok(parseFile(f).length > 0, f);
  });

  test('every PROXY_* variable named in deploy/ exists in the config module', () => {
    for (const f of files(DEPLOY)) {
      for (const v of proxyVariables(readFileSync(f, 'utf8')))
        assert.ok(KNOWN_VARIABLES.has(v), `${relative(ROOT, f)} names ${v}, which src/config.ts does not read`);
    }
  });

  test('listener variables set in deploy/ keep the default ports (the manifests publish those)', () => {
    const listenerVars = new Set(Object.values(LISTENER_VARIABLES));
    for (const f of structured()) {
      for (const env of collect(parseFile(f), (r) => typeof r.name === 'string' && 'value' in r)) {
        if (listenerVars.has(env.name as string))
          assert.equal(Number(String(env.value).split(':').pop()), port(env.name as string), `${f}: ${String(env.name)}`);
      }
      for (const envMap of collect(parseFile(f), (r) => Object.keys(r).some((k) => listenerVars.has(k)))) {
        for (const [k, v] of Object.entries(envMap)) if (listenerVars.has(k)) assert.equal(Number(String(v).split(':').pop()), port(k), `${f}: ${k}`);
      }
    }
  });

  test('Kubernetes: container ports are the listener defaults; probes are /readyz and /healthz on the system API', () => {
    const docs = files(join(DEPLOY, 'kubernetes'))
      .filter((f) => /\.ya?ml$/.test(f))
      .flatMap(parseFile);
    const containers = collect(docs, (r) => r.image !== undefined && typeof r.image === 'string' && String(r.image).startsWith('origin-proxy'));
    assert.equal(containers.length, 1, 'one origin-proxy container');
    const c = containers[0]!;
    const ports = c.ports as { name: string; containerPort: number; protocol: string }[];
    assert.deepEqual(ports.map((p) => p.name).sort(), Object.keys(LISTENERS).sort());
    for (const p of ports) {
      assert.equal(p.containerPort, port(LISTENERS[p.name]!.variable), p.name);
      assert.equal(p.protocol, LISTENERS[p.name]!.protocol, p.name);
    }
    const readiness = (c.readinessProbe as { httpGet: { path: string; port: string | number } }).httpGet;
    const liveness = (c.livenessProbe as { httpGet: { path: string; port: string | number } }).httpGet;
    assert.equal(readiness.path, '/readyz');
    assert.equal(liveness.path, '/healthz');
    for (const probe of [readiness, liveness]) assert.ok(probe.port === 'system-api' || probe.port === port('PROXY_SYSTEM_API'), String(probe.port));

    const services = docs.filter(
      (d) => d.kind === 'Service' && String((d.metadata as Doc).name).startsWith('origin-proxy-') && !String((d.metadata as Doc).name).includes('redis'),
    );
    const servicePorts = services.flatMap((s) => (s.spec as { ports: { name: string; port: number; targetPort: string | number; protocol: string }[] }).ports);
    const protocolsOf = (s: Doc) => new Set((s.spec as { ports: { protocol: string }[] }).ports.map((p) => p.protocol));
    assert.ok(
      services.some((s) => protocolsOf(s).size === 1 && protocolsOf(s).has('TCP')),
      'a TCP Service',
    );
    assert.ok(
      services.some((s) => protocolsOf(s).size === 1 && protocolsOf(s).has('UDP')),
      'a UDP Service',
    );
    for (const p of servicePorts) {
      const target = typeof p.targetPort === 'string' ? LISTENERS[p.targetPort] : [...Object.values(LISTENERS)].find((l) => port(l.variable) === p.targetPort);
      assert.ok(target, `service port ${p.name} targets a proxy listener`);
      assert.equal(p.protocol, target.protocol, p.name);
      // The WebRTC media port is written into SDP answers: clients must reach the same number.
      if (target.variable === LISTENER_VARIABLES.webrtc) assert.equal(p.port, port(target.variable));
    }
    for (const l of ['webrtc', 'srt', 'rtmp', 'system-api'])
      assert.ok(
        servicePorts.some((p) => p.targetPort === l),
        `a Service exposes ${l}`,
      );
  });

  test('compose: proxies publish the default ports; origins heartbeat to the system API', () => {
    const [compose] = parseFile(join(DEPLOY, 'compose', 'docker-compose.yml'));
    const services = compose!.services as Record<string, { image?: string; build?: unknown; ports?: string[]; environment?: Record<string, string> }>;
    const proxies = Object.entries(services).filter(([, s]) => s.build !== undefined);
    assert.equal(proxies.length, 2, 'two proxies');
    assert.equal(Object.values(services).filter((s) => String(s.image).startsWith('ossrs/srs')).length, 2, 'two SRS origins');
    assert.ok(
      Object.values(services).some((s) => String(s.image).startsWith('redis')),
      'Redis',
    );
    for (const [name, s] of proxies) {
      assert.equal(s.environment?.PROXY_LOAD_BALANCER_TYPE, 'redis', name);
      const published = new Set<string>();
      for (const spec of s.ports ?? []) {
        const m = /^(?:\d+:)?(\d+)(?:\/(tcp|udp))?$/.exec(spec);
        assert.ok(m, `${name}: port ${spec}`);
        const containerPort = Number(m[1]);
        assert.equal(DEFAULT_PORTS.get(containerPort), (m[2] ?? 'tcp').toUpperCase(), `${name}: ${spec} is a listener default with its transport`);
        published.add(spec.replace(/^\d+:/, ''));
      }
      for (const [p, proto] of DEFAULT_PORTS)
        if (p !== port('PROXY_SYSTEM_API')) assert.ok(published.has(proto === 'UDP' ? `${p}/udp` : String(p)), `${name} publishes ${p}/${proto}`);
    }
    const conf = readFileSync(join(DEPLOY, 'compose', 'srs-origin.conf'), 'utf8');
    const url = /heartbeat\s*{[^}]*\burl\s+(\S+);/.exec(conf)?.[1];
    assert.ok(url, 'heartbeat url');
    const u = new URL(url);
    assert.equal(Number(u.port), port('PROXY_SYSTEM_API'));
    assert.equal(u.pathname, '/api/v1/srs/register');
    assert.match(conf, /heartbeat\s*{[^}]*\bports\s+on;/, 'the proxy needs the ports in the heartbeat');
    assert.match(conf, /heartbeat\s*{[^}]*\benabled\s+on;/);
  });

  test('Helm: values name every PROXY_* variable (secrets through the Secret), listener ports at their defaults, probes on /readyz and /healthz', () => {
    const [values] = parseFile(join(HELM, 'values.yaml'));
    const env = values!.env as Record<string, string>;
    const secretKeys = Object.keys((values!.secret as { keys: Record<string, string> }).keys);
    const named = new Set([...Object.keys(env), ...secretKeys]);
    for (const v of KNOWN_VARIABLES) assert.ok(named.has(v), `values.yaml lacks ${v}`);
    for (const v of named) assert.ok(KNOWN_VARIABLES.has(v), `values.yaml names ${v}, which src/config.ts does not read`);
    for (const secret of ['PROXY_REGISTER_TOKEN', 'PROXY_REDIS_PASSWORD', 'PROXY_SESSION_SECRET'])
      assert.ok(secretKeys.includes(secret) && !(secret in env), `${secret} comes from the Secret only`);
    for (const l of Object.values(LISTENERS)) assert.equal(Number(env[l.variable]), port(l.variable), l.variable);
    const deployment = readFileSync(join(HELM, 'templates', 'deployment.yaml'), 'utf8');
    assert.match(deployment, /readinessProbe:\s*\n\s*httpGet: \{ path: \/readyz, port: system-api \}/);
    assert.match(deployment, /livenessProbe:\s*\n\s*httpGet: \{ path: \/healthz, port: system-api \}/);
    for (const [name, l] of Object.entries(LISTENERS)) {
      assert.ok(
        deployment.includes(`{ name: ${name}, containerPort: {{ include "origin-proxy.port" .Values.env.${l.variable} }}, protocol: ${l.protocol} }`),
        `container port ${name} from ${l.variable}`,
      );
    }
    assert.equal(parseFile(join(HELM, 'Chart.yaml'))[0]!.name, 'origin-proxy');
  });

  test('Dockerfile: non-root runtime running dist/src/main.js, healthcheck on /healthz of the system API, default ports exposed', () => {
    const stages = dockerStages(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
    assert.ok(stages.length >= 2, 'multi-stage');
    const runtime = stages.at(-1)!;
    const user = runtime.find((i) => i.op === 'USER')?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `runs as ${user}`);
    // node with V8 flags only (the image's smaller young generation), then the entry point.
    assert.match(runtime.find((i) => i.op === 'CMD')?.args ?? '', /^\["node",(\s*"--[a-z-]+=\d+",)*\s*"dist\/src\/main\.js"\]$/);
    const health = runtime.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    assert.match(health, /\/healthz/);
    assert.ok(health.includes(`'${DEFAULTS.PROXY_SYSTEM_API}'`), 'the default system API port');
    const exposed = (runtime.find((i) => i.op === 'EXPOSE')?.args ?? '').split(/\s+/).filter(Boolean);
    assert.deepEqual(new Set(exposed), new Set([...DEFAULT_PORTS].map(([p, proto]) => (proto === 'UDP' ? `${p}/udp` : String(p)))));
  });

  test('the Dockerfile HEALTHCHECK command passes against a running proxy and fails against a closed port', async () => {
    const runtime = dockerStages(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')).at(-1)!;
    const health = runtime.find((i) => i.op === 'HEALTHCHECK')!.args;
    const argv = JSON.parse(health.slice(health.indexOf('CMD ') + 4)) as string[];
    assert.equal(argv[0], 'node');
    const { config } = loadConfig({
      env: Object.fromEntries(Object.values(LISTENER_VARIABLES).map((v) => [v, '127.0.0.1:0'])),
      cwd: '/',
      readDotenv: () => undefined,
    });
    const proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }) });
    await proxy.start();
    const systemApi = `127.0.0.1:${proxy.address('systemApi').port}`;
    const check = async (address: string) => {
      const child = spawn(process.execPath, argv.slice(1), { env: { PATH: process.env.PATH ?? '', PROXY_SYSTEM_API: address }, stdio: 'ignore' });
      return new Promise<number | null>((resolve) => child.once('exit', resolve));
    };
    try {
      assert.equal(await check(systemApi), 0, 'healthy proxy');
    } finally {
      await proxy.stop(0);
    }
    assert.equal(await check(systemApi), 1, 'nothing listening');
  });

  test('Grafana: every metric the dashboard queries is in a live scrape of a Redis-mode proxy', async () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'origin-proxy.json'), 'utf8')) as Doc;
    const exprs = collect(dashboard, (r) => typeof r.expr === 'string').map((r) => r.expr as string);
    const queries = collect(dashboard, (r) => typeof r.query === 'object' && r.query !== null && typeof (r.query as Doc).query === 'string');
    exprs.push(...queries.map((r) => (r.query as { query: string }).query));
    const panels = collect(dashboard, (r) => r.type === 'timeseries');
    assert.ok(panels.length >= 8, `${panels.length} panels`);
    for (const p of panels) assert.ok(Array.isArray(p.targets) && p.targets.length > 0, `panel ${String(p.title)} has queries`);
    const names = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:origin_proxy|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])));
    for (const wanted of [
      'origin_proxy_clients_active',
      'origin_proxy_client_setup_seconds_bucket',
      'origin_proxy_origins',
      'origin_proxy_redis_command_seconds_bucket',
    ])
      assert.ok(names.has(wanted), `the dashboard queries ${wanted}`);

    const redis = await startRedis();
    const { config } = loadConfig({
      env: {
        ...Object.fromEntries(Object.values(LISTENER_VARIABLES).map((v) => [v, '127.0.0.1:0'])),
        PROXY_LOAD_BALANCER_TYPE: 'redis',
        PROXY_REDIS_PORT: String(redis.port),
      },
      cwd: '/',
      readDotenv: () => undefined,
    });
    const proxy = new OriginProxy({ config, log: createLogger({ level: 'silent', format: 'json' }) });
    try {
      await proxy.start();
      const res = await fetch(`http://127.0.0.1:${proxy.address('systemApi').port}/metrics`);
      assert.equal(res.status, 200);
      const page = parsePromText(await res.text());
      for (const name of names) assert.ok(familyOf(page, name), `${name} (queried by the dashboard) is not in /metrics`);
    } finally {
      await proxy.stop(0);
      await stopAllPeers();
    }
  });

  test("the build stage's npm/tsc commands build a runnable app from a copy of the repository", () => {
    // Cheap by design: the copy links the installed node_modules, so `npm ci` is skipped (it would
    // install the same lock file), and `npm prune` is skipped (it would delete from the shared install).
    const build = dockerStages(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'))[0]!;
    const tmp = tempDir('docker-build');
    try {
      let workdir = tmp.dir;
      const ran: string[] = [];
      for (const { op, args } of build) {
        if (op === 'WORKDIR') {
          workdir = join(tmp.dir, args);
          mkdirSync(workdir, { recursive: true });
        } else if (op === 'COPY') {
          assert.ok(!args.startsWith('--from'), 'the build stage copies from the context only');
          const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
          const dest = join(workdir, parts.pop()!);
          for (const src of parts) {
            assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
            const target = parts.length > 1 || dest.endsWith('/') ? join(dest, src) : dest;
            cpSync(join(ROOT, src), target, { recursive: true });
          }
        } else if (op === 'RUN') {
          for (const command of args.split('&&').map((c) => c.trim())) {
            assert.match(command, /^(npm|npx tsc)\b/, `build RUN lines are npm/tsc commands: ${command}`);
            if (/^npm ci\b/.test(command)) {
              symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(workdir, 'node_modules'));
              ran.push(`(linked node_modules for) ${command}`);
              continue;
            }
            if (/^npm prune\b/.test(command)) continue;
            const r = spawnSync('sh', ['-c', command], { cwd: workdir, encoding: 'utf8', timeout: 180_000 });
            assert.equal(r.status, 0, `${command}:\n${r.stdout}\n${r.stderr}`);
            ran.push(command);
          }
        }
      }
      assert.ok(
        ran.some((c) => /\btsc\b/.test(c)),
        `a tsc command ran: ${ran.join(' | ')}`,
      );
      const main = join(workdir, 'dist', 'src', 'main.js');
      assert.ok(existsSync(main), 'dist/src/main.js built');
      const version = spawnSync(process.execPath, [main, '--version'], { cwd: workdir, encoding: 'utf8' });
      assert.equal(version.status, 0, version.stderr);
      assert.match(version.stdout, /origin-proxy/i);
      assert.ok(!existsSync(join(workdir, 'dist', 'test')), 'only src is compiled into the image');
      for (const file of ['index.html', 'app.js', 'vendor/hls.min.js', 'vendor/mpegts.js']) {
        assert.ok(existsSync(join(workdir, 'dist', 'console', file)), `the web console's ${file} is built`);
      }
    } finally {
      tmp.remove();
    }
  });
});

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions grouped by stage (continuation lines joined, comments dropped). */
function dockerStages(text: string): Instruction[][] {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Instruction[][] = [];
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/);
    const ins = { op: op!.toUpperCase(), args: rest.join(' ') };
    if (ins.op === 'FROM') stages.push([]);
    else stages.at(-1)?.push(ins);
  }
  return stages;
}
