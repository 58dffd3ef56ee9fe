// `npm run bench`: Staffroom's throughput and p99 latency next to baselines measured in the same run, as
// ratios, with targets; then the Netlify function's cold start, alone and against a peer bundle. Needs nothing
// configured: it starts a throwaway embedded Postgres in a temporary folder, a user with a token, organizations
// and API keys, and removes everything at the end (also on Ctrl-C or a failure).
//
// Each server (scripts/bench/plan.ts) is a child process pinned to CPU 0 with its Postgres; wrk is pinned to
// CPU 1. Only one server runs at a time. First every server answers each of its rows once, and the answers
// are compared (status, body shape, and for database rows the SQL sent); then each is measured with
// `wrk -t1 -c10 --latency` for BENCH_SECONDS (default 10) after a 2 s warmup.
//
//   BENCH_SECONDS=5 npm run bench
//   BENCH_ONLY=plans,cold npm run bench        rows whose name contains one of these (case-insensitive)
//   npm run bench -- --json bench.json         the results as JSON too
//
// The exit code is 0 when the bench ran, whether or not the targets were met (the tables say so); 1 when it
// could not run.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import exitHook from 'async-exit-hook';
import postgres from 'postgres';
import { freePort } from '../../src/db/embedded.js';
import { mintAccessToken } from '../../src/services/identity.js';
import { buildDocs } from '../../src/docs.js';
import { createUser, startBenchCluster, type BenchCluster } from './cluster.js';
import { measureColdStart, type ColdStartResult } from './cold-start.js';
import {
  cleanEnv,
  coldStartRuns,
  coldStarts,
  functionBundles,
  hasPaddedServer,
  root,
  rows,
  seededApiKeys,
  servers,
  type BenchContext,
  type ColdStartDef,
  type RowDef,
  type ServerDef,
} from './plan.js';
import { hasCommand, spawnPinned, stopAll, stopChild, waitUntilReady } from './processes.js';
import { runWrk, writeWrkScript, type BenchRequest, type WrkResult } from './wrk.js';

const serverCpu = 0;
const loadCpu = 1;
const warmupSeconds = 2;

const { values: args } = parseArgs({ options: { json: { type: 'string' } } });
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
if (!Number.isInteger(seconds) || seconds < 1) {
  console.error(`BENCH_SECONDS must be a whole number of seconds, got "${process.env.BENCH_SECONDS}".`);
  process.exit(1);
}
const only = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((part) => part.trim().toLowerCase())
  .filter(Boolean);
const isSelected = (name: string): boolean => !only.length || only.some((part) => name.toLowerCase().includes(part));

// The bench installs nothing: it says what is missing and stops.
const missing = ['taskset', 'wrk'].filter((command) => !hasCommand(command));
if (missing.length) {
  console.error(
    `npm run bench needs ${missing.join(' and ')} on the PATH.\n` +
      '  Debian/Ubuntu: sudo apt-get install -y wrk util-linux   (taskset comes with util-linux)\n' +
      '  Fedora:        sudo dnf install -y wrk util-linux-core',
  );
  process.exit(1);
}
if (availableParallelism() < 2) {
  console.error(`npm run bench needs 2 cores (the server on one, wrk on the other); this machine offers ${availableParallelism()}.`);
  process.exit(1);
}

/** A server of the plan, running. */
interface Running {
  baseUrl: string;
  stop(): Promise<void>;
}

/** One request answered once by a server before measuring: what the comparison with its baseline looks at. */
interface Probe {
  status: number;
  shape: string;
  body: string;
  /** The transactions run as `authenticated` for the request (rows with sameSql). */
  statements?: string[][];
}

interface RowResult {
  row: RowDef;
  ours: WrkResult;
  baseline: WrkResult;
  ratio: number;
  p99Ratio: number;
  /** Undefined for an informational row (no target). */
  met?: boolean;
}

interface ColdRowResult {
  cold: ColdStartDef;
  result: ColdStartResult;
  /** The peer bundle's cold start on the same request, and the ratio of the medians. */
  peer?: ColdStartResult;
  ratio?: number;
  /** Undefined when the row has no target. */
  met?: boolean;
}

// Everything the bench starts lives in `tmp` or is a tracked child process: cleanup() removes it all.
const tmp = mkdtempSync(join(tmpdir(), 'staffroom-bench-'));
chmodSync(tmp, 0o755); // the cluster runs unprivileged when the bench runs as root
let cluster: BenchCluster | undefined;
let interrupted = false;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll(3_000);
    await cluster?.stop().catch((error: unknown) => console.error(`Stopping the bench database failed: ${String(error)}`));
    rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

// Ctrl-C and SIGTERM: stop the children and the cluster, remove the folder, then exit.
exitHook((done) => {
  interrupted = true;
  console.error('\nInterrupted: stopping the servers and the bench database.');
  void cleanup().finally(() => done?.());
});

function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * The share of all CPUs busy over `ms` (from /proc/stat), or undefined off Linux. Taken while the bench runs
 * nothing, it tells whether other work competes for the cores: the numbers of a busy machine are noisy.
 */
async function cpuBusy(ms: number): Promise<number | undefined> {
  const read = (): { busy: number; total: number } | undefined => {
    try {
      const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
      const total = fields.reduce((sum, n) => sum + n, 0);
      return { busy: total - fields[3]! - fields[4]!, total }; // minus idle and iowait
    } catch {
      return undefined;
    }
  };
  const before = read();
  await new Promise((resolveWait) => setTimeout(resolveWait, ms));
  const after = read();
  if (!before || !after || after.total === before.total) return undefined;
  return (after.busy - before.busy) / (after.total - before.total);
}

function describeMachine(): { cpu: string; cores: number; node: string } {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: keep "unknown"
  }
  return { cpu, cores: availableParallelism(), node: process.version };
}

async function startServer(def: ServerDef, ctx: BenchContext, logFile?: string): Promise<Running> {
  const port = await freePort();
  const env = { ...cleanEnv(), ...def.env(ctx), PORT: String(port), HOST: '127.0.0.1' };
  const child = spawnPinned(serverCpu, process.execPath, ['--import', 'tsx', def.script], { env, cwd: root, logFile });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(child, `${baseUrl}${def.readyPath}`, 60_000, logFile);
  } catch (error) {
    await stopChild(child);
    const hint = logFile ? '' : ' (it started before, in the check; its output goes to /dev/null while measured)';
    throw new Error(`${def.name} (${def.script}) did not start${hint}: ${(error as Error).message}`, { cause: error });
  }
  // Staffroom's shutdown drains its pool and worker within 10 s.
  return { baseUrl, stop: () => stopChild(child, 12_000) };
}

/** Through Staffroom's own API: the read and write organizations, API keys to list, and the plans' bytes. */
async function setUp(baseUrl: string, ctx: BenchContext): Promise<void> {
  const call = async (method: string, path: string, body?: unknown): Promise<{ data: { id: string } }> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${ctx.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`Setting up: ${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as { data: { id: string } };
  };
  ctx.readOrgId = (await call('POST', '/v1/organizations', { name: 'Bench' })).data.id;
  ctx.writeOrgId = (await call('POST', '/v1/organizations', { name: 'Bench writes' })).data.id;
  for (let i = 1; i <= seededApiKeys; i++) {
    const key = (await call('POST', `/v1/organizations/${ctx.readOrgId}/api-keys`, { name: `seeded key ${i}` })) as unknown as {
      data: { secret: string };
    };
    ctx.apiKey ||= key.data.secret;
  }
  // Budgets no bench row can spend, so that the limited server counts every request and refuses none.
  const sql = postgres(ctx.databaseUrl, { max: 1, onnotice: () => undefined });
  await sql`update staffroom.plans set requests_per_minute = 10000000`;
  // The setup's writes would wake autovacuum during the first rows measured, on the servers' core: settle now.
  await sql`vacuum analyze`;
  await sql`checkpoint`;
  await sql.end();
  const plans = await fetch(`${baseUrl}/v1/plans`);
  const bytes = Buffer.from(await plans.arrayBuffer());
  if (!plans.ok) throw new Error(`Setting up: GET /v1/plans answered ${plans.status}: ${bytes.toString()}`);
  writeFileSync(ctx.plansFile, bytes);
  ctx.plansContentType = plans.headers.get('content-type') ?? 'application/json';
}

/** The structure of a JSON body (keys and value types, arrays by their first item), or `text`. */
function shapeOf(text: string): string {
  const describe = (value: unknown): string => {
    if (value === null) return 'null';
    if (Array.isArray(value)) return `[${value.length ? describe(value[0]) : ''}]`;
    if (typeof value === 'object') {
      return `{${Object.keys(value)
        .sort()
        .map((key) => `${key}:${describe((value as Record<string, unknown>)[key])}`)
        .join(',')}}`;
    }
    return typeof value;
  };
  try {
    return describe(JSON.parse(text));
  } catch {
    return 'text';
  }
}

async function send(baseUrl: string, request: BenchRequest): Promise<{ status: number; body: string }> {
  const response = await fetch(`${baseUrl}${request.path}`, { method: request.method, headers: request.headers, body: request.body });
  return { status: response.status, body: await response.text() };
}

async function probe(server: string, baseUrl: string, request: BenchRequest, sql: BenchCluster | undefined): Promise<Probe> {
  const first = await send(baseUrl, request);
  let statements: string[][] | undefined;
  if (sql && first.status >= 200 && first.status < 300) {
    // Once more with every statement logged: the first request also warmed the pool up.
    let again = first;
    statements = await sql.captureStatements(async () => {
      again = await send(baseUrl, request);
    });
    if (again.status !== first.status) {
      throw new Error(
        `${server} answered ${request.method} ${request.path} with ${first.status}, then ${again.status}: ${again.body.slice(0, 500)}`,
      );
    }
  }
  return { status: first.status, shape: shapeOf(first.body), body: first.body, statements };
}

const probeKey = (server: string, row: RowDef): string => `${server}|${row.name}`;

/** Before measuring: both servers of each row answer 2xx, alike, and (database rows) with the same SQL. */
function compareProbes(chosen: RowDef[], probes: Map<string, Probe>): void {
  const problems: string[] = [];
  for (const row of chosen) {
    const ours = probes.get(probeKey(row.ours, row))!;
    const baseline = probes.get(probeKey(row.baseline, row))!;
    const failed = (
      [
        [row.ours, ours],
        [row.baseline, baseline],
      ] as const
    ).filter(([, answer]) => answer.status < 200 || answer.status > 299);
    for (const [server, answer] of failed) problems.push(`${row.name}: ${server} answered ${answer.status}: ${answer.body.slice(0, 500)}`);
    if (failed.length) continue;
    if (ours.status !== baseline.status)
      problems.push(`${row.name}: ${row.ours} answered ${ours.status}, ${row.baseline} ${baseline.status}.`);
    if (ours.shape !== baseline.shape) {
      problems.push(`${row.name}: the bodies differ in shape.\n  ${row.ours}: ${ours.shape}\n  ${row.baseline}: ${baseline.shape}`);
    }
    if (row.sameSql) {
      const [a, b] = [ours.statements ?? [], baseline.statements ?? []];
      if (a.length !== 1 || b.length !== 1) {
        problems.push(
          `${row.name}: expected one transaction as authenticated from each server; saw ${a.length} (${row.ours}) and ${b.length} (${row.baseline}).`,
        );
      } else if (JSON.stringify(a[0]) !== JSON.stringify(b[0])) {
        const list = (statements: string[]) => statements.map((s, i) => `    ${i + 1}. ${s}`).join('\n');
        problems.push(
          `${row.name}: the SQL differs; update scripts/bench/raw-db.ts to run what Staffroom runs.\n` +
            `  ${row.ours}:\n${list(a[0]!)}\n  ${row.baseline}:\n${list(b[0]!)}`,
        );
      }
    }
  }
  if (problems.length) throw new Error(`The servers do not answer alike, so their numbers would not compare:\n\n${problems.join('\n\n')}`);
}

const requestKey = (request: BenchRequest): string =>
  JSON.stringify([request.method, request.path, request.headers ?? {}, request.body ?? null]);

async function main(): Promise<void> {
  // This process (mostly waiting) shares the load generator's core; the servers and Postgres get CPU 0.
  const machine = describeMachine(); // before pinning, which narrows what availableParallelism() sees
  execFileSync('taskset', ['-a', '-pc', String(loadCpu), String(process.pid)], { stdio: 'ignore' });

  const chosenRows = rows.filter((row) => isSelected(row.name));
  const chosenColdStarts = coldStarts.filter((cold) => isSelected(cold.name));
  if (!chosenRows.length && !chosenColdStarts.length) {
    throw new Error(
      `BENCH_ONLY=${process.env.BENCH_ONLY} matches no row. The rows:\n${[...rows, ...coldStarts].map((r) => `  ${r.name}`).join('\n')}`,
    );
  }
  // Staffroom always runs first: the setup goes through its API.
  const needed = servers.filter(
    (server) => server.name === 'staffroom' || chosenRows.some((row) => row.ours === server.name || row.baseline === server.name),
  );

  // npm start builds a stale docs page in the background when it starts, on the servers' core: build it first.
  log('Building the docs page if it is stale (npm start would, while being measured)...');
  await buildDocs();
  const busyBefore = await cpuBusy(1_000);
  log('Starting the bench database (embedded Postgres in a temporary folder)...');
  cluster = await startBenchCluster(tmp, serverCpu);
  const [versionRow] = await cluster.admin<{ version: string }[]>`select current_setting('server_version') as version`;
  const postgresVersion = versionRow?.version ?? 'unknown';
  const ctx: BenchContext = {
    databaseUrl: cluster.url,
    jwtSecret: randomBytes(32).toString('base64url'),
    jwtIssuer: 'staffroom-bench',
    token: '',
    readOrgId: '',
    apiKey: '',
    writeOrgId: '',
    plansFile: join(tmp, 'plans.body'),
    plansContentType: '',
  };
  const email = 'bench@example.com';
  const userId = await createUser(cluster.admin, email, 'Bench User');
  ctx.token = await mintAccessToken({ secret: ctx.jwtSecret, userId, email, name: 'Bench User', issuer: ctx.jwtIssuer, expiresIn: '24h' });

  // 1. Every server answers its rows once, and the answers are compared.
  const probes = new Map<string, Probe>();
  for (const server of needed) {
    checkInterrupted();
    log(`Checking ${server.name}...`);
    const running = await startServer(server, ctx, join(tmp, `${server.name}.log`));
    try {
      if (server.name === 'staffroom') await setUp(running.baseUrl, ctx);
      for (const row of chosenRows.filter((r) => r.ours === server.name || r.baseline === server.name)) {
        probes.set(
          probeKey(server.name, row),
          await probe(server.name, running.baseUrl, row.request(ctx), row.sameSql ? cluster : undefined),
        );
      }
    } finally {
      await running.stop();
    }
  }
  compareProbes(chosenRows, probes);

  // 2. Each server alone, pinned, under wrk: a warmup, then the measurement. A request shared by rows (the
  //    baseline's GET /v1/plans) is measured once.
  const measured = new Map<string, WrkResult>();
  for (const server of needed) {
    const requests = new Map<string, BenchRequest>();
    for (const row of chosenRows) {
      if (row.ours === server.name || row.baseline === server.name) requests.set(requestKey(row.request(ctx)), row.request(ctx));
    }
    if (!requests.size) continue;
    checkInterrupted();
    const running = await startServer(server, ctx);
    try {
      for (const [key, request] of requests) {
        checkInterrupted();
        log(`Measuring ${server.name}: ${request.method} ${request.path} (${warmupSeconds} s warmup, then ${seconds} s)...`);
        const script = writeWrkScript(tmp, `${server.name}-${measured.size}`, request);
        const url = `${running.baseUrl}${request.path}`;
        await runWrk({ cpu: loadCpu, url, script, seconds: warmupSeconds, cwd: root });
        checkInterrupted();
        measured.set(`${server.name}|${key}`, await runWrk({ cpu: loadCpu, url, script, seconds, cwd: root }));
      }
    } finally {
      await running.stop();
    }
  }
  const results: RowResult[] = chosenRows.map((row) => {
    const key = requestKey(row.request(ctx));
    const ours = measured.get(`${row.ours}|${key}`)!;
    const baseline = measured.get(`${row.baseline}|${key}`)!;
    const ratio = ours.requestsPerSecond / baseline.requestsPerSecond;
    const p99Ratio = ours.p99Ms / baseline.p99Ms;
    const clean = [ours, baseline].every((r) => r.non2xx === 0 && r.socketErrors === 0);
    const informational = row.minRatio === undefined && row.maxP99Ratio === undefined;
    const met = clean && ratio >= (row.minRatio ?? 0) && p99Ratio <= (row.maxP99Ratio ?? Infinity);
    return { row, ours, baseline, ratio, p99Ratio, met: informational && clean ? undefined : met };
  });

  // 3. Cold starts of the function bundles, each in a fresh process (no server runs meanwhile). The same bundle,
  //    request and env shared by rows is measured once.
  const coldResults: ColdRowResult[] = [];
  if (chosenColdStarts.length) {
    const bundles = new Map<string, string>();
    for (const def of functionBundles) {
      if (!chosenColdStarts.some((cold) => cold.bundle === def.name || cold.peer?.bundle === def.name)) continue;
      checkInterrupted();
      log(`Building the function bundle ${def.name}: ${def.description}...`);
      bundles.set(def.name, await def.build(mkdtempSync(join(tmp, `bundle-${def.name}-`))));
    }
    const coldMeasured = new Map<string, ColdStartResult>();
    const measureCold = async (bundle: string, cold: ColdStartDef): Promise<ColdStartResult> => {
      const request = cold.request(ctx);
      const env = cold.env(ctx);
      const key = JSON.stringify([bundle, requestKey(request), env]);
      let result = coldMeasured.get(key);
      if (!result) {
        checkInterrupted();
        log(`Cold starts of ${bundle}: ${request.method} ${request.path} (${coldStartRuns} fresh processes)...`);
        const file = bundles.get(bundle);
        if (!file) throw new Error(`${cold.name}: no function bundle named ${bundle} in plan.ts.`);
        result = await measureColdStart({
          root,
          bundle: file,
          cpu: serverCpu,
          request,
          env: { ...cleanEnv(), ...env },
          runs: coldStartRuns,
        });
        coldMeasured.set(key, result);
      }
      return result;
    };
    for (const cold of chosenColdStarts) {
      const result = await measureCold(cold.bundle, cold);
      const peer = cold.peer ? await measureCold(cold.peer.bundle, cold) : undefined;
      const ratio = peer ? result.medianMs / peer.medianMs : undefined;
      const checks = [
        ...(cold.maxMedianMs === undefined ? [] : [result.medianMs <= cold.maxMedianMs]),
        ...(cold.peer && ratio !== undefined ? [ratio <= cold.peer.maxRatio] : []),
      ];
      coldResults.push({ cold, result, peer, ratio, met: checks.length ? checks.every(Boolean) : undefined });
    }
  }

  const busyAfter = await cpuBusy(1_000);
  const summary: Summary = { machine, postgresVersion, busyBefore, busyAfter, results, coldResults };
  process.stdout.write(formatReport(summary));
  if (args.json) {
    const file = resolve(process.env.INIT_CWD ?? process.cwd(), args.json);
    writeFileSync(file, `${JSON.stringify(jsonReport(summary, probes, chosenRows), null, 2)}\n`);
    log(`Wrote ${file}`);
  }
}

const reqPerSec = (value: number): string => Math.round(value).toLocaleString('en-US');
const ms = (value: number): string => `${value.toFixed(2)} ms`;
const times = (value: number): string => `${value.toFixed(2)}×`;
const yesNo = (met: boolean | undefined): string => (met === undefined ? '—' : met ? 'yes' : 'no');
const rowTarget = (row: RowDef): string =>
  row.minRatio === undefined && row.maxP99Ratio === undefined
    ? '— (informational)'
    : [
        ...(row.minRatio === undefined ? [] : [`ratio ≥ ${row.minRatio.toFixed(2)}`]),
        ...(row.maxP99Ratio === undefined ? [] : [`p99 ≤ ${row.maxP99Ratio}×`]),
      ].join(', ');

interface Summary {
  machine: ReturnType<typeof describeMachine>;
  postgresVersion: string;
  /** The share of the CPUs other processes kept busy in the second before the bench and the one after. */
  busyBefore: number | undefined;
  busyAfter: number | undefined;
  results: RowResult[];
  coldResults: ColdRowResult[];
}

/** Beyond this share of the CPUs busy while the bench itself is idle, the report warns that it was not alone. */
const quietThreshold = 0.1;

function formatReport(data: Summary): string {
  const { machine } = data;
  const percent = (value: number | undefined): string => (value === undefined ? 'unknown' : `${Math.round(value * 100)}%`);
  const lines = [
    '## Staffroom bench',
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, PostgreSQL ${data.postgresVersion}`,
    `Pinning: the server under test and its Postgres on CPU ${serverCpu} (taskset -c ${serverCpu}); wrk on CPU ${loadCpu} (taskset -c ${loadCpu}), as is this script`,
    `Load: wrk -t1 -c10 --latency against 127.0.0.1, ${warmupSeconds} s warmup then ${seconds} s per measurement; one server running at a time`,
    `Other activity: the CPUs were ${percent(data.busyBefore)} busy in the second before the bench and ${percent(data.busyAfter)} in the second after (a quiet machine shows about 0%)`,
    '',
  ];
  const notes: string[] = [];
  if ([data.busyBefore, data.busyAfter].some((busy) => busy !== undefined && busy > quietThreshold)) {
    notes.push('- Other processes were using the CPUs around this run: its numbers are noisy. Run it again on a quiet machine.');
  }
  if (data.results.length) {
    lines.push(
      '| row | ours req/s | ours p99 | baseline req/s | baseline p99 | ratio | p99 ratio | target | target met |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    );
    for (const r of data.results) {
      lines.push(
        `| ${r.row.name} (${r.row.ours} vs ${r.row.baseline}) | ${reqPerSec(r.ours.requestsPerSecond)} | ${ms(r.ours.p99Ms)} | ` +
          `${reqPerSec(r.baseline.requestsPerSecond)} | ${ms(r.baseline.p99Ms)} | ${times(r.ratio)} | ${times(r.p99Ratio)} | ` +
          `${rowTarget(r.row)} | ${yesNo(r.met)} |`,
      );
      for (const [server, w] of [
        [r.row.ours, r.ours],
        [r.row.baseline, r.baseline],
      ] as const) {
        if (w.non2xx || w.socketErrors) {
          notes.push(
            `- ${r.row.name}: ${server} had ${w.non2xx} non-2xx responses and ${w.socketErrors} socket errors in ${w.requests} requests (target not met).`,
          );
        }
      }
    }
    lines.push('');
  }
  if (!hasPaddedServer) notes.push('- The staffroom-padded rows are left out: scripts/bench/serve-padded.ts does not exist yet.');
  if (data.coldResults.length) {
    const shown = functionBundles.filter((b) => data.coldResults.some((c) => c.cold.bundle === b.name || c.cold.peer?.bundle === b.name));
    lines.push(
      `Cold starts of Netlify function bundles: ${coldStartRuns} fresh node processes each, from just before the import to the end of the first response's body.`,
      ...shown.map((b) => `- ${b.name}: ${b.description}`),
      '',
      '| cold start | median | max | peer median | peer max | ratio | target | target met |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    );
    for (const c of data.coldResults) {
      const name = `${c.cold.name.replace(/^cold start: /, '')} (${c.cold.bundle}${c.cold.peer ? ` vs ${c.cold.peer.bundle}` : ''})`;
      const targets = [
        ...(c.cold.maxMedianMs === undefined ? [] : [`median ≤ ${c.cold.maxMedianMs} ms`]),
        ...(c.cold.peer ? [`ratio ≤ ${c.cold.peer.maxRatio.toFixed(2)}×`] : []),
      ];
      const peer = c.peer ? `${ms(c.peer.medianMs)} | ${ms(c.peer.maxMs)} | ${times(c.ratio!)}` : '— | — | —';
      lines.push(
        `| ${name} | ${ms(c.result.medianMs)} | ${ms(c.result.maxMs)} | ${peer} | ${targets.join(', ') || '—'} | ${yesNo(c.met)} |`,
      );
    }
    lines.push('');
  }
  if (notes.length) lines.push(...notes, '');
  return `${lines.join('\n')}\n`;
}

function jsonReport(data: Summary, probes: Map<string, Probe>, chosenRows: RowDef[]): unknown {
  return {
    date: new Date().toISOString(),
    machine: { ...data.machine, postgres: data.postgresVersion },
    otherActivity: { busyBefore: data.busyBefore ?? null, busyAfter: data.busyAfter ?? null },
    pinning: { server: serverCpu, postgres: serverCpu, wrk: loadCpu },
    load: { tool: 'wrk', threads: 1, connections: 10, warmupSeconds, seconds },
    rows: data.results.map((r) => ({
      name: r.row.name,
      ours: { server: r.row.ours, ...r.ours },
      baseline: { server: r.row.baseline, ...r.baseline },
      ratio: r.ratio,
      p99Ratio: r.p99Ratio,
      target: { minRatio: r.row.minRatio ?? null, maxP99Ratio: r.row.maxP99Ratio ?? null },
      met: r.met ?? null,
    })),
    coldStarts: data.coldResults.map((c) => ({
      name: c.cold.name,
      bundle: c.cold.bundle,
      runsMs: c.result.runs,
      medianMs: c.result.medianMs,
      maxMs: c.result.maxMs,
      peer: c.peer ? { bundle: c.cold.peer!.bundle, runsMs: c.peer.runs, medianMs: c.peer.medianMs, maxMs: c.peer.maxMs } : null,
      ratio: c.ratio ?? null,
      target: { maxMedianMs: c.cold.maxMedianMs ?? null, maxRatio: c.cold.peer?.maxRatio ?? null },
      met: c.met ?? null,
    })),
    // The statements each database row ran (the same on both servers, or the bench would have stopped).
    sql: Object.fromEntries(
      chosenRows.filter((row) => row.sameSql).map((row) => [row.name, probes.get(probeKey(row.ours, row))?.statements?.[0] ?? []]),
    ),
    skipped: hasPaddedServer ? [] : ['staffroom-padded rows: scripts/bench/serve-padded.ts does not exist'],
  };
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  if (!interrupted) {
    console.error(`\nThe bench failed: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = 1;
  }
} finally {
  await cleanup();
}
if (!interrupted) process.exit(exitCode);
