// Local mode: with no DATABASE_URL, the service runs on an embedded cluster in DATA_DIR (default .data/),
// with secrets generated once and kept there (git-ignored, readable by the owner only).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export async function startLocalDatabase(
  dataDir: string,
  options: { port?: number; onLog?: (line: string) => void } = {},
): Promise<EmbeddedDatabase> {
  const secrets = loadLocalSecrets(dataDir);
  return startEmbeddedDatabase({ dataDir: resolve(dataDir, 'pg'), password: secrets.databasePassword, ...options });
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
  let cluster = await startLocalDatabase(dataDir);
  const pgDir = resolve(dataDir, 'pg');
  let stopping = false;
  let restarting: Promise<void> | undefined;
  const restart = async (): Promise<void> => {
    log.error({ dataDir, port: cluster.port }, 'the embedded database stopped unexpectedly; restarting it');
    // A killed postmaster's backends take a moment to exit and free its shared memory: try a few times.
    for (let attempt = 1; !stopping; attempt++) {
      try {
        cluster = await startLocalDatabase(dataDir, { port: cluster.port });
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
