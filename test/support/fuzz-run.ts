// The fuzzer's runner: sends generated requests over HTTP and checks every answer whatever was sent — a declared
// status, a body on contract, the envelope, X-Request-Id, never a 5xx — then reports the failures grouped.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import contract from '../../src/generated/openapi.json' with { type: 'json' };
import { contractProblems } from './contract.js';
import {
  fuzzOperations,
  generateRequest,
  normalizedPath,
  templatePattern,
  type FuzzFixture,
  type FuzzRequest,
  type Operation,
} from './fuzz.js';

// ---------------------------------------------------------------------------------------------------------
// Sending and checking

export interface FuzzResponse {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

export async function sendRequest(baseUrl: string, request: FuzzRequest): Promise<FuzzResponse> {
  const response = await fetch(`${baseUrl}${request.url}`, {
    method: request.method,
    headers: request.headers,
    // Bytes, not a string: fetch would otherwise add a text/plain Content-Type of its own.
    body: request.body === undefined ? undefined : new Uint8Array(Buffer.from(request.body)),
    redirect: 'manual',
    // A hang is a failure to report, not a test that never ends.
    signal: AbortSignal.timeout(15_000),
  });
  const text = (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
    ? await firstEvents(response)
    : await response.text();
  let body: unknown = text === '' ? undefined : text;
  try {
    if (text) body = JSON.parse(text);
  } catch {
    // left as text: the checks report it
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** The start of an event stream (up to its first event, or a second of it), then the connection is dropped. */
async function firstEvents(response: Response): Promise<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 1_000;
  try {
    while (Date.now() < deadline && !/(^|\n)id: [^\n]*\n[\s\S]*?\n\n/.test(text)) {
      const next = await Promise.race([reader.read(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1_000))]);
      if (!next || next.done) break;
      text += decoder.decode(next.value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return text;
}

/** Whether a text is Server-Sent Events as the contract frames them: fields, comments and blank lines only. */
function streamProblems(text: string): string[] {
  const lines = text.split('\n');
  const bad = lines.find((line) => line !== '' && !/^(id|event|data|retry): /.test(line) && !line.startsWith(':'));
  return bad === undefined ? [] : [`not an event stream: ${JSON.stringify(bad.slice(0, 60))}`];
}

// The app's default MAX_BODY_BYTES: a larger body is refused before routing.
const maxBodyBytes = 1_048_576;

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(contract as object, 'contract');
const errorEnvelope = ajv.getSchema('contract#/components/schemas/ErrorEnvelope')!;

function envelopeProblems(response: FuzzResponse): string[] {
  if (response.status === 204) return response.text === '' ? [] : ['204 with a body'];
  if (response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/event-stream'))
    return streamProblems(response.text);
  const problems: string[] = [];
  if (!(response.headers.get('content-type') ?? '').startsWith('application/json'))
    problems.push(`content type is ${response.headers.get('content-type')}`);
  const body = response.body as { success?: unknown; error?: { code?: unknown; message?: unknown; requestId?: unknown } } | undefined;
  if (!body || typeof body !== 'object') return [...problems, 'body is not a JSON object'];
  if (typeof body.success !== 'boolean') return [...problems, 'body has no boolean success'];
  if (body.success !== response.status < 400) problems.push(`success is ${body.success} with status ${response.status}`);
  if (!body.success) {
    for (const field of ['code', 'message', 'requestId'] as const) {
      if (typeof body.error?.[field] !== 'string') problems.push(`error.${field} is missing`);
    }
    if (body.error?.requestId !== response.headers.get('x-request-id')) problems.push('error.requestId differs from X-Request-Id');
  }
  return problems;
}

function requestIdProblems(request: FuzzRequest, response: FuzzResponse): string[] {
  const id = response.headers.get('x-request-id');
  if (!id) return ['X-Request-Id header is missing'];
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) return [`X-Request-Id ${JSON.stringify(id.slice(0, 40))} is not a safe id`];
  const sent = request.headers['X-Request-Id'];
  if (sent && /^[A-Za-z0-9._-]{1,128}$/.test(sent) && id !== sent) return ['X-Request-Id differs from the valid one sent'];
  return [];
}

/** What the app may answer before any operation is chosen: the router's 404 or 405, and the early refusals. */
function genericStatuses(request: FuzzRequest): number[] {
  const path = request.url.split('?')[0]!;
  const statuses = request.routing === 'maybe' ? [404, 405] : [];
  statuses.push([...contractOperations.values()].some((op) => templatePattern(op.path).test(normalizedPath(path))) ? 405 : 404);
  if (!decodes(path) || /%00/i.test(request.url)) statuses.push(400);
  if (Buffer.byteLength(request.body ?? '') > maxBodyBytes) statuses.push(413);
  return statuses;
}

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

function operationOf(request: FuzzRequest): Operation | undefined {
  return request.route && contractOperations.get(`${request.method} ${request.route.pathTemplate}`);
}

function statusProblems(request: FuzzRequest, response: FuzzResponse, options: { allowDependency503: boolean }): string[] {
  const operation = operationOf(request);
  const declared = operation?.responses.includes(String(response.status)) ?? false;
  const generic = !operation || request.routing === 'maybe' ? genericStatuses(request) : [];
  // A path routers may normalise either way may still reach the operation it was generated for.
  if (!operation && request.routing === 'maybe') generic.push(...(operationsById.get(request.operationId)?.responses.map(Number) ?? []));
  const problems: string[] = [];
  if (response.status >= 500 && !(options.allowDependency503 && response.status === 503 && declared))
    problems.push(`server error ${response.status}`);
  if (!declared && !generic.includes(response.status)) {
    problems.push(
      operation
        ? `status ${response.status} is not declared for ${operation.operationId}`
        : `no operation takes ${request.method} on this path, yet it answered ${response.status}`,
    );
  }
  if (response.status === 405 && !response.headers.get('allow')) problems.push('405 without Allow');
  return problems;
}

const contractOperations = new Map(fuzzOperations().map((op) => [`${op.method} ${op.path}`, op]));
const operationsById = new Map([...contractOperations.values()].map((op) => [op.operationId, op]));

/** Everything wrong with one response; [] when it is fine. */
export function checkResponse(request: FuzzRequest, response: FuzzResponse, options: { allowDependency503?: boolean } = {}): string[] {
  const problems = [
    ...statusProblems(request, response, { allowDependency503: options.allowDependency503 ?? false }),
    ...requestIdProblems(request, response),
    ...envelopeProblems(response),
  ];
  const operation = operationOf(request);
  if (operation?.responses.includes(String(response.status))) {
    const body = response.text === '' ? undefined : response.body;
    problems.push(...contractProblems(operation.path, operation.method, response.status, response.headers, body));
  } else if (response.status >= 400 && !errorEnvelope(response.body)) {
    problems.push(...(errorEnvelope.errors ?? []).map((e) => `error envelope: ${e.instancePath || '/'} ${e.message}`));
  }
  return [...new Set(problems)];
}

// ---------------------------------------------------------------------------------------------------------
// Running and reporting

export interface FuzzFailure {
  request: FuzzRequest;
  response?: { status: number; headers: Record<string, string>; text: string };
  problems: string[];
}

export interface FuzzReport {
  seed: number;
  requests: number;
  elapsedMs: number;
  byStatus: Record<string, number>;
  operationsCovered: number;
  failures: FuzzFailure[];
}

export interface FuzzOptions {
  baseUrl: string;
  fixture: FuzzFixture;
  seed: number;
  maxRequests: number;
  budgetMs: number;
  allowDependency503?: boolean;
  /** Puts the fixture back after a request changed it (an organization deleted, say). */
  repair?: (request: FuzzRequest, response: FuzzResponse) => Promise<void>;
  onProgress?: (report: FuzzReport) => void;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const operations = fuzzOperations();
  const started = Date.now();
  const report: FuzzReport = { seed: options.seed, requests: 0, elapsedMs: 0, byStatus: {}, operationsCovered: 0, failures: [] };
  const covered = new Set<string>();
  for (let index = 0; index < options.maxRequests && Date.now() - started < options.budgetMs; index++) {
    const request = generateRequest(operations, options.fixture, options.seed, index);
    report.requests++;
    covered.add(request.operationId);
    let response: FuzzResponse;
    try {
      response = await sendRequest(options.baseUrl, request);
    } catch (error) {
      report.failures.push({ request, problems: [`no response: ${String((error as Error).cause ?? error)}`] });
      continue;
    }
    const key = `${request.operationId} ${response.status}`;
    report.byStatus[key] = (report.byStatus[key] ?? 0) + 1;
    const problems = checkResponse(request, response, { allowDependency503: options.allowDependency503 });
    if (problems.length) {
      report.failures.push({
        request,
        response: { status: response.status, headers: Object.fromEntries(response.headers), text: response.text },
        problems,
      });
    }
    await options.repair?.(request, response);
    if (index % 500 === 499) options.onProgress?.({ ...report, elapsedMs: Date.now() - started, operationsCovered: covered.size });
  }
  return { ...report, elapsedMs: Date.now() - started, operationsCovered: covered.size };
}

const truncate = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text);

/** Headers as they may be printed: credentials become their role, not their value. */
export function printableHeaders(headers: Record<string, string>, fixture: FuzzFixture): Record<string, string> {
  const names = new Map<string, string>([
    [fixture.credentials.token, '<owner token>'],
    [fixture.credentials.apiKey ?? '', '<API key>'],
    [fixture.credentials.outsiderToken ?? '', '<outsider token>'],
    [fixture.credentials.strangerToken ?? '', '<stranger token>'],
    [fixture.credentials.expiredToken ?? '', '<expired token>'],
    [fixture.credentials.wrongAudienceToken ?? '', '<wrong-audience token>'],
  ]);
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => {
      const bare = value.replace(/^Bearer /, '');
      const label = names.get(bare) ?? names.get(value);
      if (label) return [name, value.startsWith('Bearer ') ? `Bearer ${label}` : label];
      if (name === 'Stripe-Signature') return [name, truncate(value.replace(/v1=[0-9a-f]{64}/g, 'v1=<hmac>'), 120)];
      return [name, truncate(value, 120)];
    }),
  );
}

export function describeFailure(failure: FuzzFailure, fixture: FuzzFixture): string {
  const { request, response } = failure;
  const lines = [
    `${request.operationId} — seed ${request.seed}, request #${request.index}${request.mutations.length ? `, mutations: ${request.mutations.join('; ')}` : ', valid request'}`,
    `  problems: ${failure.problems.join('; ')}`,
    `  request:  ${request.method} ${truncate(request.url, 300)}`,
    `  headers:  ${JSON.stringify(printableHeaders(request.headers, fixture))}`,
  ];
  if (request.body !== undefined) lines.push(`  body:     ${truncate(JSON.stringify(request.body), 1000)}`);
  if (response) {
    lines.push(
      `  response: ${response.status} ${JSON.stringify({ 'content-type': response.headers['content-type'], 'x-request-id': response.headers['x-request-id'] })}`,
    );
    lines.push(`            ${truncate(response.text, 800)}`);
  }
  return lines.join('\n');
}

/** Failures grouped by operation, status and problem; each group shows its smallest request. */
export function formatFailures(report: FuzzReport, fixture: FuzzFixture, maxGroups = 40): string {
  const groups = new Map<string, FuzzFailure[]>();
  for (const failure of report.failures) {
    const message = (failure.response?.text.match(/"message":"([^"]*)"/)?.[1] ?? '').replace(/[0-9a-f-]{36}/g, '<id>');
    const key = `${failure.request.operationId} ${failure.response?.status ?? 'none'} ${failure.problems.map((p) => p.replace(/\d+/g, 'N')).join('; ')} ${message}`;
    groups.set(key, [...(groups.get(key) ?? []), failure]);
  }
  const size = (f: FuzzFailure): number => f.request.url.length + (f.request.body?.length ?? 0) + f.request.mutations.length * 50;
  const sections = [...groups.values()].slice(0, maxGroups).map((failures) => {
    const smallest = failures.reduce((a, b) => (size(b) < size(a) ? b : a));
    return `[${failures.length}×] ${describeFailure(smallest, fixture)}`;
  });
  const more = groups.size > maxGroups ? `\n… and ${groups.size - maxGroups} more groups` : '';
  const header = `fuzz seed ${report.seed}: ${report.failures.length} of ${report.requests} responses failed, in ${groups.size} groups`;
  const replay = `FUZZ_SEED=${report.seed} reruns them; FUZZ_SEED=${report.seed} FUZZ_REQUEST=<#> npm run fuzz sends one again and prints it in full`;
  return `${header}\n${replay}\n\n${sections.join('\n\n')}${more}`;
}
