// The bench's own Postgres: a throwaway embedded cluster in a temporary folder, migrated, pinned to one core,
// with a way to see the statements a request makes (to hold the raw-db baseline to Staffroom's SQL).
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { connect, type Db } from '../../src/db/client.js';
import { runningPostmaster, startEmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';

export interface BenchCluster {
  url: string;
  /** A small pool as the cluster's superuser, for setup and for switching statement logging on and off. */
  admin: Db;
  /** Runs `work` with every statement logged and returns the transactions run as `authenticated` meanwhile. */
  captureStatements(work: () => Promise<void>): Promise<string[][]>;
  stop(): Promise<void>;
}

/** Starts the cluster in `<dir>/pg` (dir must be reachable by the unprivileged user Postgres runs as). */
export async function startBenchCluster(dir: string, cpu: number): Promise<BenchCluster> {
  const dataDir = join(dir, 'pg');
  // The server's log, kept only while a capture runs.
  let capturing = false;
  let captured = '';
  const cluster = await startEmbeddedDatabase({
    dataDir,
    password: randomBytes(16).toString('hex'),
    onLog: (chunk) => {
      if (capturing) captured += chunk;
    },
  });
  let admin: Db | undefined;
  try {
    pinCluster(dataDir, cpu);
    admin = connect(cluster.url, { max: 1 });
    await migrate(admin);
  } catch (error) {
    await admin?.end();
    await cluster.stop();
    throw error;
  }
  const db = admin;

  async function setLogging(on: boolean): Promise<void> {
    if (on) {
      await db.unsafe(`alter system set log_statement = 'all'`);
      await db.unsafe(`alter system set log_line_prefix = '@@%p@@ '`);
    } else {
      await db.unsafe('alter system reset log_statement');
      await db.unsafe('alter system reset log_line_prefix');
    }
    await db`select pg_reload_conf()`;
    // Backends pick the new settings up when the postmaster passes the reload on: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
  }

  return {
    url: cluster.url,
    admin: db,
    async captureStatements(work) {
      await setLogging(true);
      captured = '';
      capturing = true;
      try {
        await work();
        await new Promise((resolve) => setTimeout(resolve, 300)); // the log arrives through a pipe
      } finally {
        capturing = false;
        await setLogging(false);
      }
      return userTransactions(captured);
    },
    async stop() {
      await db.end({ timeout: 2 }).catch(() => undefined);
      // After Ctrl-C the postmaster got the signal too and may be gone already.
      if (!runningPostmaster(dataDir)) return;
      await Promise.race([cluster.stop(), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      const left = runningPostmaster(dataDir);
      if (left) process.kill(left.pid, 'SIGKILL'); // its backends exit when they see it gone
    },
  };
}

/**
 * Pins the postmaster and every process it has started to one CPU. Backends started later are forked from the
 * postmaster and inherit its affinity.
 */
function pinCluster(dataDir: string, cpu: number): void {
  const postmaster = runningPostmaster(dataDir);
  if (!postmaster) throw new Error(`No postmaster runs on ${dataDir}.`);
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(postmaster.pid)])
      .toString()
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // pgrep exits 1 when there is no child yet
  }
  for (const pid of [postmaster.pid, ...children]) execFileSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' });
}

/**
 * The statements of the log (with log_line_prefix '@@<pid>@@ '), cut into transactions per backend, keeping
 * only those that set the role `authenticated`: a request's. The task worker's service-role polling and the
 * admin's own statements are left out. Statements are normalized (whitespace collapsed, double quotes removed)
 * so that layout and identifier quoting do not count as a difference.
 */
function userTransactions(log: string): string[][] {
  const entries: { pid: string; level: string; text: string }[] = [];
  for (const line of log.split('\n')) {
    const match = /^@@(\d+)@@ ([A-Z]+):\s+(.*)$/.exec(line);
    if (match) entries.push({ pid: match[1]!, level: match[2]!, text: match[3]! });
    else if (entries.length && line.trim()) entries.at(-1)!.text += `\n${line}`; // a statement on several lines
  }
  const open = new Map<string, string[]>();
  const transactions: string[][] = [];
  for (const entry of entries) {
    if (entry.level !== 'LOG') continue;
    const statement = /^(?:statement|execute [^:]*): ([\s\S]*)$/.exec(entry.text)?.[1];
    if (statement === undefined) continue;
    const normalized = normalizeSql(statement);
    if (/^begin\b/i.test(normalized)) {
      open.set(entry.pid, [normalized]);
      continue;
    }
    const current = open.get(entry.pid);
    if (!current) continue;
    current.push(normalized);
    if (/^(commit|rollback)\b/i.test(normalized)) {
      open.delete(entry.pid);
      if (current.some((s) => s.includes(`set_config('role', 'authenticated'`))) transactions.push(current);
    }
  }
  return transactions;
}

export function normalizeSql(statement: string): string {
  return statement.replace(/"/g, '').replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();
}

/** A user as Supabase Auth would have it: a row in auth.users (the shim's table locally). */
export async function createUser(db: Db, email: string, name: string): Promise<string> {
  const id = randomUUID();
  await db`insert into auth.users (id, email, raw_user_meta_data) values (${id}, ${email}, ${db.json({ name })})`;
  return id;
}
