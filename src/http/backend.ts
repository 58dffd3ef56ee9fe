// The contract's router and request validator: openapi-backend, as the design names it. Its router matches
// the operation (patched in patches/ to build its operation list and a tree of path segments once, instead of on
// every request) and its validator checks parameters and bodies with Ajv underneath (JSON Schema 2020-12, the
// dialect of OpenAPI 3.1, through its customizeAjv hook). For the bundled contract `npm run gen` compiled the
// request validators ahead of time from openapi-backend's own schemas (a module per operation, registered on the
// operation's first request); for any other contract, and for the response check outside production, Ajv
// compiles them when first needed.
import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import { OpenAPIBackend, type AjvCustomizer, type Operation as BackendOperation } from 'openapi-backend';
import type { OpenApiDocument, Operation } from './contract.js';

export type RouteMatch =
  | { kind: 'operation'; operation: Operation; params: Record<string, string> }
  /** The path exists, but not with this method. */
  | { kind: 'method'; allowed: string[] }
  | { kind: 'none' };

/** What the validator sees of a request: parameters as read, and the body (parsed JSON, or absent). */
export interface RequestInput {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  /** A JSON body as parsed; undefined when none was sent or its media type has no JSON schema. */
  body?: { value: unknown };
}

export interface RequestVerdict {
  errors?: ErrorObject[];
  /** Path and query parameters coerced to their declared types, defaults filled in (when valid). */
  params: Record<string, string>;
  query: Record<string, unknown>;
}

export interface ContractBackend {
  match(method: string, path: string): RouteMatch;
  /** Validates a request of the operation; a promise only on the operation's first request, while its validators load. */
  validateRequest(operation: Operation, input: RequestInput): RequestVerdict | Promise<RequestVerdict>;
  /** A problem with a JSON response body, as text, or undefined when it conforms. */
  checkResponse(operation: Operation, status: number, body: unknown): string | undefined;
  /** The contract's example (else a value its schema allows) of the operation's success response. */
  mockResponse(operation: Operation): { status: number; body: unknown };
}

/** Validators compiled ahead of time: for each operationId, openapi-backend's request validators in its order. */
export interface Precompiled {
  loaders: Readonly<Record<string, () => Promise<ValidateFunction[]>>>;
}

export type ValidatorKind = 'parameters' | 'body' | 'response';

/** Ajv's options for each kind: parameters arrive as text; bodies keep their JSON types; responses are checked, never changed. */
export function ajvOptions(kind: ValidatorKind): Options {
  return { strict: false, allErrors: true, coerceTypes: kind === 'parameters', useDefaults: kind !== 'response' };
}

/** openapi-backend's validation contexts as the kinds of validator they compile. */
const kinds: Record<string, ValidatorKind> = {
  paramsValidator: 'parameters',
  requestBodyValidator: 'body',
  responseValidator: 'response',
  responseHeadersValidator: 'parameters',
};

export type AjvFactory = (kind: ValidatorKind) => unknown;

/** An initialised openapi-backend over the document (quick mode: nothing compiled until asked), Ajv made by `newAjv`. */
export async function openapiBackend(document: OpenApiDocument, newAjv: AjvFactory): Promise<OpenAPIBackend> {
  const customizeAjv = ((_original, _options, context) => newAjv(kinds[context] ?? 'response')) as AjvCustomizer;
  const definition = withTextBodiesOptional(document);
  const api = new OpenAPIBackend({ definition: definition as never, quick: true, strict: true, coerceTypes: true, customizeAjv });
  await api.init();
  return api;
}

/** Media types whose bodies openapi-backend validates (the core reads multipart into the JSON body's shape). */
const validatedMediaTypes = new Set(['application/json', 'multipart/form-data', 'application/x-www-form-urlencoded']);

/**
 * openapi-backend validates a body against the JSON schema of the operation and, when the body is required,
 * requires one there: a body sent in another media type the operation takes (`importEmployee`'s text/markdown
 * beside its JSON form) would fail as missing. The core refuses a missing body itself (checkBody), so for such
 * operations openapi-backend sees the body as optional, and checks it whenever it is JSON.
 */
function withTextBodiesOptional(document: OpenApiDocument): OpenApiDocument {
  type Body = { required?: boolean; content?: Record<string, unknown> };
  const paths: Record<string, Record<string, unknown>> = {};
  let changed = false;
  for (const [path, item] of Object.entries(document.paths)) {
    paths[path] = item;
    for (const [method, operation] of Object.entries(item)) {
      const body = (operation as { requestBody?: Body } | undefined)?.requestBody;
      const types = Object.keys(body?.content ?? {});
      if (!body?.required || !types.some((type) => validatedMediaTypes.has(type)) || types.every((type) => validatedMediaTypes.has(type)))
        continue;
      paths[path] = { ...paths[path], [method]: { ...(operation as object), requestBody: { ...body, required: false } } };
      changed = true;
    }
  }
  return changed ? { ...document, paths } : document;
}

/** Ajv for JSON Schema 2020-12 with the formats, loaded (only when something must be compiled at run time). */
export async function loadAjvFactory(): Promise<AjvFactory> {
  // Both are CommonJS: their default export is the module itself, however it is loaded.
  const [ajvModule, { default: addFormats }] = await Promise.all([import('ajv/dist/2020.js'), import('ajv-formats')]);
  const Ajv2020 = ajvModule.default as unknown as typeof ajvModule.Ajv2020;
  return (kind) => {
    const ajv = new Ajv2020(ajvOptions(kind));
    addFormats.default(ajv);
    return ajv;
  };
}

const methods = ['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE'];

export async function createContractBackend(
  document: OpenApiDocument,
  operations: readonly Operation[],
  options: { precompiled?: Precompiled; checkResponses: boolean },
): Promise<ContractBackend> {
  const { precompiled } = options;
  const newAjv: AjvFactory =
    !precompiled || options.checkResponses
      ? await loadAjvFactory()
      : () => {
          throw new Error('The request validators are compiled by `npm run gen`: nothing is compiled at run time.');
        };
  const api = await openapiBackend(document, newAjv);
  const ours = new Map(operations.map((operation) => [operation.operationId, operation]));
  const theirs = new Map(api.getOperations().map((operation) => [operation.operationId!, operation]));
  const loading = new Map<string, Promise<void>>();
  const noHeaders = {};

  const validate = (operation: BackendOperation, input: RequestInput): RequestVerdict => {
    const result = api.validator.validateRequest(
      { method: input.method, path: input.path, query: input.query, headers: input.headers as never, body: requestBodyOf(input.body) },
      operation,
    );
    const coerced = result.coerced as { params?: Record<string, string>; query?: Record<string, unknown> };
    return { errors: result.errors ?? undefined, params: coerced.params ?? {}, query: coerced.query ?? {} };
  };

  return {
    match(method, path) {
      const request = { method, path, headers: noHeaders, query: noHeaders };
      const found = api.router.matchOperation(request);
      if (found) {
        return {
          kind: 'operation',
          operation: ours.get(found.operationId!)!,
          // Parameters from the path the operation matched (needed before validation: rate limits count by orgId).
          params: found.path.includes('{') ? (api.router.parseRequest(request, found).params as Record<string, string>) : {},
        };
      }
      // Not routed: the methods this path answers, if any, make a 405 of it.
      const allowed = methods.filter((other) => api.router.matchOperation({ method: other, path, headers: noHeaders }) !== undefined);
      return allowed.length > 0 ? { kind: 'method', allowed } : { kind: 'none' };
    },

    validateRequest(operation, input) {
      const id = operation.operationId;
      const backendOperation = theirs.get(id)!;
      if (!precompiled || api.validator.requestValidators[id] !== undefined) return validate(backendOperation, input);
      let pending = loading.get(id);
      if (!pending) {
        const load = precompiled.loaders[id];
        if (!load) throw new Error(`No validators for ${id}: run \`npm run gen\`.`);
        pending = load().then((validators) => {
          api.validator.requestValidators[id] = validators as never;
        });
        loading.set(id, pending);
      }
      return pending.then(() => validate(backendOperation, input));
    },

    checkResponse(operation, status, body) {
      const result = api.validator.validateResponse(body, theirs.get(operation.operationId)!, status);
      if (!result.errors) return undefined;
      // An enum names its values: for an error's code, the codes this operation declares at this status.
      const problem = (error: ErrorObject) =>
        `${error.instancePath || '/'} ${error.message ?? 'is invalid'}${error.keyword === 'enum' ? ` (${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : ''}`;
      return result.errors.map(problem).join('; ');
    },

    mockResponse(operation) {
      const { status, mock } = api.mockResponseForOperation(operation.operationId);
      return { status, body: mock };
    },
  };
}

/**
 * The body as openapi-backend reads it: an object (or null) as it is, so that defaults land in the value the
 * handler gets; any other JSON value as its text, which openapi-backend parses (it takes other values for text).
 */
function requestBodyOf(body: RequestInput['body']): unknown {
  if (!body) return undefined;
  return typeof body.value === 'object' ? body.value : JSON.stringify(body.value);
}
