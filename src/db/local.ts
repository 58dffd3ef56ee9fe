// Local mode: with no DATABASE_URL, the service runs on an embedded cluster in DATA_DIR (default .data/),
// with secrets generated once and kept there (git-ignored, readable by the owner only).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runningClusterPort, startEmbeddedDatabase, type EmbeddedDatabase } from './embedded.js';

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

export async function startLocalDatabase(dataDir: string, onLog?: (line: string) => void): Promise<EmbeddedDatabase> {
  const secrets = loadLocalSecrets(dataDir);
  return startEmbeddedDatabase({ dataDir: resolve(dataDir, 'pg'), password: secrets.databasePassword, onLog });
}

/** Connects to the local cluster when `npm start` runs it, else starts it for the duration of `work`. */
export async function withLocalDatabaseUrl<T>(dataDir: string, work: (url: string) => Promise<T>): Promise<T> {
  const secrets = loadLocalSecrets(dataDir);
  const port = runningClusterPort(resolve(dataDir, 'pg'));
  if (port) return work(`postgres://postgres:${encodeURIComponent(secrets.databasePassword)}@127.0.0.1:${port}/postgres`);
  const cluster = await startLocalDatabase(dataDir);
  try {
    return await work(cluster.url);
  } finally {
    await cluster.stop();
  }
}
