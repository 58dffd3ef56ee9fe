// Local mode: with no DATABASE_URL, the service runs on an embedded cluster in DATA_DIR (default .data/),
// with secrets generated once and kept there (git-ignored, readable by the owner only).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { runningPostmaster, startEmbeddedDatabase, type EmbeddedDatabase } from './embedded.js';

export interface LocalSecrets {
  databasePassword: string;
  jwtSecret: string;
}

export function localDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.DATA_DIR ?? resolve(import.meta.dirname, '../../.data'));
}

export function loadLocalSecrets(dataDir: string): LocalSecrets {
  const path = resolve(dataDir, 'secrets.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as LocalSecrets;
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  const secrets: LocalSecrets = {
    databasePassword: randomBytes(24).toString('base64url'),
    jwtSecret: randomBytes(48).toString('base64url'),
  };
  writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

/** Where the cluster's port is kept, so that every start of it listens where clients last found it. */
const portFile = (dataDir: string): string => resolve(dataDir, 'port');

function storedPort(dataDir: string): number | undefined {
  if (!existsSync(portFile(dataDir))) return undefined;
  const port = Number(readFileSync(portFile(dataDir), 'utf8').trim());
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

/**
 * Starts the cluster on the port it had before (kept in DATA_DIR), or on a free one the first time; when
 * something else took that port meanwhile, on another, which `onPortMoved` reports and which is kept from then on.
 */
export async function startLocalDatabase(
  dataDir: string,
  options: { port?: number; onLog?: (line: string) => void; onPortMoved?: (from: number, to: number) => void } = {},
): Promise<EmbeddedDatabase> {
  const secrets = loadLocalSecrets(dataDir);
  const pgDir = resolve(dataDir, 'pg');
  const { onPortMoved = defaultPortMoved, ...rest } = options;
  const stored = storedPort(dataDir);
  let port = options.port;
  // A postmaster left over from a killed run still holds the port: it is ours, and is stopped before the start.
  if (port === undefined && stored !== undefined && (runningPostmaster(pgDir)?.port === stored || (await portIsFree(stored)))) {
    port = stored;
  }
  const cluster = await startEmbeddedDatabase({ dataDir: pgDir, password: secrets.databasePassword, ...rest, port });
  if (cluster.port !== stored) {
    writeFileSync(portFile(dataDir), `${cluster.port}\n`);
    if (stored !== undefined && options.port === undefined) onPortMoved(stored, cluster.port);
  }
  return cluster;
}

function defaultPortMoved(from: number, to: number): void {
  process.stderr.write(`The embedded database's port ${from} is taken by another program: it now listens on ${to}.\n`);
}

export interface SupervisedDatabase {
  url: string;
  port: number;
  /** Stops watching, then stops the cluster. */
  stop(): Promise<void>;
}

/**
 * Starts the embedded cluster and keeps it running: when its postmaster dies (killed, crashed), it is started
 * again on the same port, so the service recovers without a restart. Requests meanwhile answer 503.
 */
export async function superviseLocalDatabase(dataDir: string, log: Logger, checkEveryMs = 1_000): Promise<SupervisedDatabase> {
  const onPortMoved = (from: number, to: number): void =>
    log.warn({ from, to }, `the embedded database's port ${from} is taken by another program; it now listens on ${to}`);
  let cluster = await startLocalDatabase(dataDir, { onPortMoved });
  const pgDir = resolve(dataDir, 'pg');
  let stopping = false;
  let restarting: Promise<void> | undefined;
  const restart = async (): Promise<void> => {
    log.error({ dataDir, port: cluster.port }, 'the embedded database stopped unexpectedly; restarting it');
    // A killed postmaster's backends take a moment to exit and free its shared memory: try a few times.
    for (let attempt = 1; !stopping; attempt++) {
      try {
        cluster = await startLocalDatabase(dataDir, { port: cluster.port, onPortMoved });
        log.info({ port: cluster.port, attempt }, 'embedded database restarted');
        return;
      } catch (error) {
        log.warn(
          { attempt, reason: error instanceof Error ? error.message.split('\n')[0] : String(error) },
          'embedded database restart failed; retrying',
        );
        await new Promise((resolveDelay) => setTimeout(resolveDelay, Math.min(5_000, 250 * attempt)));
      }
    }
  };
  const watch = setInterval(() => {
    if (stopping || restarting || runningPostmaster(pgDir)) return;
    restarting = restart().finally(() => (restarting = undefined));
  }, checkEveryMs);
  watch.unref();
  return {
    get url() {
      return cluster.url;
    },
    get port() {
      return cluster.port;
    },
    async stop() {
      stopping = true;
      clearInterval(watch);
      await restarting;
      await cluster.stop();
    },
  };
}

/** Connects to the local cluster when `npm start` runs it, else starts it for the duration of `work`. */
export async function withLocalDatabaseUrl<T>(dataDir: string, work: (url: string) => Promise<T>): Promise<T> {
  const secrets = loadLocalSecrets(dataDir);
  const port = runningPostmaster(resolve(dataDir, 'pg'))?.port;
  if (port) return work(`postgres://postgres:${encodeURIComponent(secrets.databasePassword)}@127.0.0.1:${port}/postgres`);
  const cluster = await startLocalDatabase(dataDir);
  try {
    return await work(cluster.url);
  } finally {
    await cluster.stop();
  }
}
