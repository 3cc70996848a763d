#!/usr/bin/env node
// CLI entry. `origin-proxy` starts the proxy from the PROXY_* environment (and .env);
// `origin-proxy heartbeat …` runs the registration sidecar for non-SRS origins.
import { ConfigError, loadConfig } from './config.js';
import { createLogger, redactUrl, type Logger } from './log.js';
import { raiseFileLimit } from './net/fd-limit.js';
import { ListenError } from './net/service.js';
import { SIGNATURE, VERSION } from './version.js';

const EXIT_STARTUP_FAILURE = 255; // as the Go proxy, so supervisors see the same code

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${SIGNATURE} ${VERSION}\n`);
    return;
  }
  if (command === '--help' || command === '-h') {
    const { HEARTBEAT_USAGE } = await import('./heartbeat/heartbeat.js');
    process.stdout.write(
      `usage: origin-proxy            start the proxy (configured by PROXY_* variables and .env)\n       origin-proxy heartbeat …  register a non-SRS origin\n\n${HEARTBEAT_USAGE}\n`,
    );
    return;
  }
  if (command === 'heartbeat') return heartbeat(rest);
  if (command !== undefined && command !== 'start') {
    process.stderr.write(`origin-proxy: unknown command "${command}" (try --help)\n`);
    process.exit(2);
  }
  return serve();
}

async function serve(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`origin-proxy: invalid configuration: ${err.message}\n`);
      process.exit(EXIT_STARTUP_FAILURE);
    }
    throw err;
  }
  const { config, warnings, effective } = loaded;
  const rootLog = createLogger({ level: config.logLevel, format: config.logFormat });
  // PROXY_WORKERS > 1: this process forks the workers (src/cluster/); each worker runs the proxy below.
  const cluster = config.workers > 1 ? await import('./cluster/index.js') : undefined;
  const worker = cluster && !cluster.isPrimary() ? cluster.workerHooks(config, rootLog) : undefined;
  const log = worker?.log ?? rootLog;
  if (!worker) {
    log.info({ version: VERSION, config: effective }, `${SIGNATURE} starting`);
    for (const w of warnings) log.warn(w);
  }
  if (cluster && !worker) return cluster.runPrimary({ config, log, exit: (code) => log.flush(() => process.exit(code)) });

  let shuttingDown = false;
  const exit = (code: number) => log.flush(() => process.exit(code));
  const fileLimit = await raiseFileLimit(log);
  // The proxy's modules are loaded by `start` only; the heartbeat sidecar never loads them.
  const { OriginProxy } = await import('./proxy.js');
  const proxy = new OriginProxy({
    config,
    log,
    fileLimit,
    ...(worker ? { role: worker.role, worker, ...(worker.balancer ? { balancer: worker.balancer } : {}) } : {}),
    onFatal: (err) => {
      log.fatal({ err: err.message }, 'listener failed; stopping');
      if (!shuttingDown) exit(1);
    },
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    shuttingDown = true;
    log.info({ signal, graceMs: config.graceQuitMs, forceMs: config.forceQuitMs }, 'shutting down');
    setTimeout(() => {
      log.error('force exit: shutdown took longer than PROXY_FORCE_QUIT_TIMEOUT');
      exit(1);
    }, config.forceQuitMs).unref();
    proxy.stop(config.graceQuitMs).then(
      () => {
        log.info(`${SIGNATURE} done`);
        exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  // A worker drains when the primary says so (a terminal's SIGINT reaches the whole group: the primary relays it).
  process.on('SIGINT', worker ? () => undefined : onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP re-reads the TLS certificate and key (renewals) without dropping a connection.
  const onHup = () => {
    if (!proxy.reloadTls('SIGHUP')) log.info('SIGHUP: no TLS certificate reloaded');
  };
  // A worker serves the pair its primary reads on SIGHUP and file changes (a terminal's SIGHUP reaches the group too).
  process.on('SIGHUP', worker ? () => undefined : onHup);
  worker?.onTlsPair((pair, why) => proxy.useTls(pair, why));
  // A worker asked to stop while it still starts stops once it has started (a drain cannot race the start).
  let workerStarted = false;
  let stopWhenStarted = false;
  worker?.onControl((c) => (c === 'force' ? exit(1) : workerStarted ? onSignal('SIGTERM') : (stopWhenStarted = true)));

  try {
    await proxy.start();
  } catch (err) {
    if (err instanceof ListenError || err instanceof ConfigError) {
      log.fatal(err.message);
      process.stderr.write(`origin-proxy: ${err.message}\n`);
      exit(EXIT_STARTUP_FAILURE);
      return;
    }
    throw err;
  }
  if (worker) {
    log.info({ role: worker.role }, 'worker listening');
    worker.started();
    workerStarted = true;
    if (stopWhenStarted) onSignal('SIGTERM');
  } else log.info(`${SIGNATURE} started`);
}

async function heartbeat(argv: string[]): Promise<void> {
  // The sidecar's code is loaded by the `heartbeat` command only, not by every proxy.
  const { HEARTBEAT_USAGE, parseHeartbeatArgs, runHeartbeat, sendHeartbeat, UsageError } = await import('./heartbeat/heartbeat.js');
  let opts;
  try {
    opts = parseHeartbeatArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`origin-proxy heartbeat: ${err.message}\n${HEARTBEAT_USAGE}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log: Logger = createLogger({ level: (process.env.PROXY_LOG_LEVEL as 'info') || 'info', format: undefined });
  if (opts.once) {
    const ok = await sendHeartbeat(opts, log);
    log.flush(() => process.exit(ok ? 0 : 1));
    return;
  }
  log.info({ url: redactUrl(opts.url), server: opts.server, service: opts.service, intervalMs: opts.intervalMs }, 'heartbeat started');
  const hb = runHeartbeat(opts, log);
  const stop = () => {
    hb.stop();
    log.flush(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`origin-proxy: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
