// The transport-neutral core: every adapter (express for `npm start`, Netlify) turns its request into an
// HttpRequest and sends back the HttpResponse this returns. In order: route (openapi-backend's router), read
// the body, authenticate, validate (openapi-backend's validator, Ajv underneath), run the handler, wrap the
// envelope, check the response against the contract (outside production), log one line.
import type { Logger } from 'pino';
import { createAccessLog } from '../logger.js';
import { handlers as operationHandlers } from '../handlers/index.js';
import { ApiError, type ErrorDetail } from '../kernel/errors.js';
import type { Caller } from '../kernel/caller.js';
import type { AppDeps, RequestContext } from '../kernel/context.js';
import { contract, operationsOf, type Deprecation, type OpenApiDocument, type Operation } from './contract.js';
import { checkBody, checkTarget, clientRequestIdOf, declaredHeaders, newRequestId, parseBody, parseQuery, single } from './request.js';
import {
  errorBody,
  failure,
  jsonType,
  notModified,
  preflight,
  responseHeaders,
  success,
  type CorsOrigins,
  type HandlerOutput,
  type Outcome,
} from './responses.js';
import { authenticate } from './security.js';
import { createFailedAuthentications, enforceRateLimit } from './rate-limit.js';
import { idempotentOutcome, takesIdempotencyKey } from './idempotency.js';
import { toErrorDetails } from './validation-errors.js';
import { createContractBackend } from './backend.js';
import { stubHeader, stubbedOperation } from './stub.js';
import { loaders as validatorLoaders } from '../generated/validators/index.js';
import type { HttpRequest, HttpResponse } from './types.js';
import { changelog } from '../generated/changelog.js';
import { entityTag } from '../kernel/etag.js';

/** A handler as the core calls it; the typed map in handlers/ is checked against the contract. */
type AnyHandler = (request: never, ctx: RequestContext) => Promise<HandlerOutput>;

export interface AppOptions {
  deps: AppDeps;
  log: Logger;
  /** Check every response against the contract; a violation becomes a 500 and an error log line. */
  validateResponses: boolean;
  /** The largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** How long a request may take before it answers 503; its transaction then rolls back instead of committing. */
  requestTimeoutMs?: number;
  /** Count requests against the budgets kept in the database (429 past them); off unless given. */
  rateLimits?: boolean;
  /** Browser origins allowed to call the API (CORS); any unless given. */
  corsOrigins?: CorsOrigins;
  /** The contract and a handler per operation; the bundled contract and handlers/ unless given. */
  contract?: OpenApiDocument;
  handlers?: Record<string, AnyHandler>;
}

export interface App {
  handle(request: HttpRequest): Promise<HttpResponse>;
}

// The contract changes only with a deployment: caches may keep it a while and revalidate it by its ETag.
const contractCaching = 'public, max-age=300, stale-while-revalidate=86400';

let yamlText: Promise<string> | undefined;
/** The contract as YAML, made on first request (the YAML library loads only then). */
function contractYaml(): Promise<string> {
  return (yamlText ??= import('yaml').then(({ stringify }) => stringify(contract, { lineWidth: 0 })));
}

export async function createApp(options: AppOptions): Promise<App> {
  const { deps, log, maxBodyBytes } = options;
  const document = options.contract ?? contract;
  const handlers = options.handlers ?? (operationHandlers as unknown as Record<string, AnyHandler>);
  const operations = operationsOf(document);
  for (const operation of operations) {
    if (!handlers[operation.operationId]) throw new Error(`No handler for ${operation.operationId}.`);
  }
  const idempotent = new Set(operations.filter(takesIdempotencyKey));
  // The bundled contract's request validators were compiled by `npm run gen`; another contract's are compiled here.
  const backend = await createContractBackend(document, operations, {
    precompiled: options.contract ? undefined : { loaders: validatorLoaders },
    checkResponses: options.validateResponses,
  });
  const stubs = new Set(operations.filter((op) => stubbedOperation(handlers[op.operationId]) !== undefined));
  for (const op of stubs)
    log.warn(`${op.operationId} is a generated stub: it answers the contract's example until its handler is written.`);
  const cors = options.corsOrigins ?? '*';
  const limitedBy = options.rateLimits ? deps.db : undefined;
  const failedAuthentications = createFailedAuthentications();
  // The contract and the changelog as served, with their tags: made on their first request, not at every cold start.
  let served: { documentJson: string; documentTag: string; changelogTag: string } | undefined;
  const contractFiles = () => {
    if (served) return served;
    const documentJson = JSON.stringify(document);
    return (served = { documentJson, documentTag: entityTag(documentJson), changelogTag: entityTag(changelog) });
  };
  const deprecations = new Map(operations.filter((op) => op.deprecation).map((op) => [op, deprecationHeaders(op.deprecation!)]));
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const deadlines = createDeadlines();
  const access = createAccessLog(log);

  /** Runs the matched operation: body, caller, validation, handler, envelope. */
  async function run(
    operation: Operation,
    params: Record<string, string>,
    http: HttpRequest,
    ctx: RequestContext,
    limit: { headers?: Record<string, string>; deprecation?: Deprecation },
  ): Promise<Outcome> {
    const body = parseBody(operation, http, maxBodyBytes);
    // An address that spent its failure budget is refused before its credentials cost a lookup or a verification.
    if (limitedBy) failedAuthentications.refuseSpent(operation, http);
    try {
      ctx.caller = await authenticate(operation, http, deps, ctx.deadline);
    } catch (error) {
      if (limitedBy) await failedAuthentications.count(limitedBy, http, error);
      throw error;
    }
    if (limitedBy) limit.headers = await enforceRateLimit(limitedBy, operation, params, http, ctx);
    // What the body says waits for the caller, as the schema does: a stranger learns nothing from a 400.
    checkBody(operation, body);
    const input = {
      method: http.method,
      path: http.path,
      query: parseQuery(http.query),
      headers: http.headers,
      body: body?.json ? body : undefined,
    };
    // A promise only on an operation's first request, while its validators load.
    let verdict = backend.validateRequest(operation, input);
    if (verdict instanceof Promise) verdict = await verdict;
    if (verdict.errors) {
      throw new ApiError('VALIDATION_ERROR', 'The request is invalid.', declaredHeaderNames(operation, toErrorDetails(verdict.errors)));
    }
    if (operation.deprecatedInputs.length > 0) limit.deprecation = deprecatedInputUsed(operation, verdict.query, http.headers, body?.value);
    if (stubs.has(operation)) {
      const mock = backend.mockResponse(operation);
      return { status: mock.status, body: mock.body, headers: { [stubHeader]: 'true' } };
    }
    const request = {
      params: verdict.params,
      query: verdict.query,
      headers: declaredHeaders(operation, http),
      body: body?.value,
      rawBody: http.body,
      accept: single(http.headers.accept),
    };
    const idempotencyKey = deps.db && ctx.caller && idempotent.has(operation) ? single(http.headers['idempotency-key']) : undefined;
    // No named closure on the common path: a per-request function costs more than it reads.
    if (idempotencyKey === undefined) return success(await handlers[operation.operationId]!(request as never, ctx));
    return idempotentOutcome(deps.db!, operation, http, ctx, idempotencyKey, async () =>
      success(await handlers[operation.operationId]!(request as never, ctx)),
    );
  }

  async function handle(http: HttpRequest): Promise<HttpResponse> {
    const started = performance.now();
    // A client's X-Request-Id is echoed and logged; what the database records is always an id of ours.
    const serverRequestId = newRequestId();
    const requestId = clientRequestIdOf(http) ?? serverRequestId;
    const ctx = requestContext(requestId, serverRequestId, log, deps, Date.now() + timeoutMs);
    let operation: Operation | undefined;
    let outcome: Outcome;
    const limit: { headers?: Record<string, string>; deprecation?: Deprecation } = {};
    try {
      if (http.readError) {
        throw http.readError;
      } else if (http.method === 'OPTIONS') {
        outcome = preflight();
      } else if (http.method === 'GET' && http.path === '/v1/openapi.json') {
        outcome = {
          status: 200,
          body: contractFiles().documentJson,
          etag: contractFiles().documentTag,
          headers: { 'Content-Type': jsonType, 'Cache-Control': contractCaching },
        };
      } else if (http.method === 'GET' && http.path === '/v1/changelog') {
        outcome = {
          status: 200,
          body: changelog,
          etag: contractFiles().changelogTag,
          headers: { 'Content-Type': 'text/markdown; charset=utf-8', 'Cache-Control': contractCaching },
        };
      } else if (http.method === 'GET' && http.path === '/v1/openapi.yaml') {
        const yaml = await contractYaml();
        outcome = {
          status: 200,
          body: yaml,
          etag: entityTag(yaml),
          headers: { 'Content-Type': 'application/yaml; charset=utf-8', 'Cache-Control': contractCaching },
        };
      } else {
        checkTarget(http);
        const match = backend.match(http.method, http.path);
        if (match.kind === 'none') throw new ApiError('NOT_FOUND', 'No such route. See /v1/openapi.json for the operations.');
        if (match.kind === 'method') {
          const allowed = match.allowed.join(', ');
          throw new ApiError('METHOD_NOT_ALLOWED', `Use ${allowed} on this path.`, undefined, { headers: { Allow: allowed } });
        }
        operation = match.operation;
        outcome = await deadlines.race(run(operation, match.params, http, ctx, limit), ctx.deadline);
      }
    } catch (error) {
      outcome = failure(error, requestId, ctx.log);
    }
    if (options.validateResponses && operation) outcome = checkAgainstContract(operation, outcome, ctx);

    const headers = responseHeaders(requestId, outcome, single(http.headers.origin), cors);
    if (limit.headers) for (const name in limit.headers) headers[name] ??= limit.headers[name]!;
    const deprecated = operation && (deprecations.get(operation) ?? (limit.deprecation && deprecationHeaders(limit.deprecation)));
    if (deprecated) Object.assign(headers, deprecated);
    let status = outcome.status;
    let text =
      outcome.body === undefined ? '' : typeof outcome.body === 'string' ? outcome.body : (outcome.text ?? JSON.stringify(outcome.body));
    // A GET of a resource or a page (the operations that declare 304) is validated by its ETag; nothing else is cached.
    const revalidated =
      http.method === 'GET' && status === 200 && (outcome.etag !== undefined || operation?.responses['304'] !== undefined);
    headers['Cache-Control'] ??= revalidated ? 'private, no-cache' : 'no-store';
    if (revalidated) {
      const etag = outcome.etag ?? entityTag(text);
      headers.ETag = etag;
      if (notModified(http.headers['if-none-match'], etag)) {
        status = 304;
        text = '';
        delete headers['Content-Type'];
      }
    }
    access({
      requestId,
      serverRequestId: serverRequestId === requestId ? undefined : serverRequestId,
      method: http.method,
      path: http.path,
      operationId: operation?.operationId,
      status,
      callerId: callerId(ctx.caller),
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    });
    return outcome.stream ? { status, headers, body: '', stream: outcome.stream } : { status, headers, body: text };
  }

  function checkAgainstContract(operation: Operation, outcome: Outcome, ctx: RequestContext): Outcome {
    let problem: string | undefined;
    if (!operation.responses[String(outcome.status)]) problem = `status ${outcome.status} is not declared`;
    else if (outcome.body !== undefined && typeof outcome.body !== 'string')
      problem = backend.checkResponse(operation, outcome.status, outcome.body);
    if (!problem) return outcome;
    ctx.log.error({ operationId: operation.operationId, status: outcome.status, problem }, 'response violates the contract');
    return {
      status: 500,
      body: errorBody(new ApiError('INTERNAL', `The response of ${operation.operationId} violates the contract.`), ctx.requestId),
    };
  }

  return { handle };
}

/** Headers are validated by their lower-case names (HTTP's are case-insensitive); errors name them as declared. */
function declaredHeaderNames(operation: Operation, details: ErrorDetail[]): ErrorDetail[] {
  return details.map((detail) => {
    if (!detail.field.startsWith('header.')) return detail;
    const [name = '', ...rest] = detail.field.slice('header.'.length).split('.');
    const declared = operation.parameters.find((parameter) => parameter.in === 'header' && parameter.name.toLowerCase() === name)?.name;
    return declared ? { ...detail, field: ['header', declared, ...rest].join('.') } : detail;
  });
}

/** The deprecation of the first deprecated parameter or body field the request sent, if it sent one. */
function deprecatedInputUsed(
  operation: Operation,
  query: Record<string, unknown>,
  headers: HttpRequest['headers'],
  body: unknown,
): Deprecation | undefined {
  for (const input of operation.deprecatedInputs) {
    const sent =
      input.in === 'query'
        ? query[input.name] !== undefined
        : input.in === 'header'
          ? headers[input.name] !== undefined
          : body !== null && typeof body === 'object' && Object.hasOwn(body, input.name);
    if (sent) return input.deprecation;
  }
  return undefined;
}

/** Deprecation (RFC 9745) since its date, Sunset (RFC 8594) when the contract gives one, and where to read why. */
function deprecationHeaders(deprecation: Deprecation): Record<string, string> {
  const headers: Record<string, string> = {
    Deprecation: `@${Math.floor(Date.parse(deprecation.since) / 1000)}`,
    Link: '</v1/changelog>; rel="deprecation"; type="text/markdown"',
  };
  if (deprecation.sunset) {
    headers.Sunset = new Date(Date.parse(deprecation.sunset)).toUTCString();
    headers.Link += ', </v1/changelog>; rel="sunset"; type="text/markdown"';
  }
  return headers;
}

/**
 * The context a request's handler and services get; its child logger is made only when something logs. A
 * class, not an object literal with a getter: V8 may allocate such literals straight into the old generation
 * once it has seen a few survive, and then everything they point at outlives the young-generation
 * collections, which made those several times slower.
 */
class Context implements RequestContext {
  caller: Caller | undefined = undefined;
  keepResponse: RequestContext['keepResponse'] = undefined;
  #child: Logger | undefined = undefined;
  constructor(
    readonly requestId: string,
    readonly serverRequestId: string,
    private readonly rootLog: Logger,
    readonly deps: AppDeps,
    readonly deadline: number,
  ) {}
  get log(): Logger {
    return (this.#child ??= this.rootLog.child(
      this.serverRequestId === this.requestId
        ? { requestId: this.requestId }
        : { requestId: this.requestId, serverRequestId: this.serverRequestId },
    ));
  }
}

function requestContext(requestId: string, serverRequestId: string, log: Logger, deps: AppDeps, deadline: number): RequestContext {
  return new Context(requestId, serverRequestId, log, deps, deadline);
}

function callerId(caller: Caller | undefined): string | undefined {
  if (!caller) return undefined;
  return caller.kind === 'user' ? caller.userId : caller.keyId;
}

/**
 * Request deadlines: `race` gives the work's outcome, or a 503 once its deadline passes (the work goes on only
 * to roll back; see db/client.ts). One timer sweeps every request in flight, instead of a timer per request.
 */
function createDeadlines(sweepMs = 100) {
  const inFlight = new Set<{ deadline: number; reject: (error: Error) => void }>();
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = () => {
    const now = Date.now();
    for (const entry of inFlight) {
      if (entry.deadline > now) continue;
      inFlight.delete(entry);
      entry.reject(
        new ApiError('UNAVAILABLE', 'The request took too long; nothing was changed. Retry it.', undefined, {
          headers: { 'Retry-After': '2' },
        }),
      );
    }
    if (inFlight.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  return {
    race<T>(work: Promise<T>, deadline: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const entry = { deadline, reject };
        inFlight.add(entry);
        // The sweep runs only while requests are in flight, so an idle process keeps no timer.
        sweeper ??= setInterval(sweep, Math.min(sweepMs, Math.max(1, deadline - Date.now())));
        work.then(
          (value) => {
            inFlight.delete(entry);
            resolve(value);
          },
          (error: unknown) => {
            inFlight.delete(entry);
            reject(error);
          },
        );
      });
    },
  };
}
