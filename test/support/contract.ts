// An independent check of every response against the contract (Ajv 2020 over the bundled document), used
// as SDK middleware in tests: a response the contract does not allow makes the call throw, failing the test.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Middleware } from 'openapi-fetch';
import contract from '../../src/generated/openapi.json' with { type: 'json' };

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(contract as object, 'contract');

type Json = Record<string, unknown>;
const doc = contract as unknown as { paths: Record<string, Record<string, Json>>; components: Json };

const pointer = (...segments: string[]): string => segments.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

function resolveRef(node: Json): Json {
  let current = node;
  while (typeof current.$ref === 'string') {
    const path = current.$ref.replace(/^#\//, '').split('/');
    current = path.reduce<Json>((acc, key) => acc[key.replace(/~1/g, '/').replace(/~0/g, '~')] as Json, contract as Json);
  }
  return current;
}

/**
 * Response headers no response declares, by convention; every other header the service sends must be declared
 * on the response that carries it (and a declared `required: true` one must be there).
 */
const undeclaredByConvention = new Set([
  // Framing and the connection (node:http's, fetch's or a proxy's), and the media type `content` declares.
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'date',
  // For caches, not clients: `Origin` when CORS_ORIGINS lists origins (a deployment's choice, on every answer),
  // `Accept` where the representation is negotiated. Its value depends on the deployment, not on the operation.
  'vary',
  // Browser hardening on every answer, stated once in the contract's description (info).
  'x-content-type-options',
  'referrer-policy',
  // A directive to a buffering proxy in front (nginx), on event streams; such proxies drop it.
  'x-accel-buffering',
  // Marks the answer of a generated stub (src/http/stub.ts); `npm test` fails while one is left.
  'staffroom-stub',
]);

/** A response's declared headers, by lower-case name: whether required, and where the schema of its value is. */
function declaredHeaders(responsePointer: string[]): Map<string, { name: string; required: boolean; schema: string }> {
  let response = responsePointer.reduce<Json>((node, key) => node[key] as Json, contract as Json);
  let base = responsePointer;
  while (typeof response.$ref === 'string') {
    base = (response.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    response = resolveRef(response);
  }
  const declared = new Map<string, { name: string; required: boolean; schema: string }>();
  for (const [name, raw] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    const header = resolveRef(raw);
    const at = typeof raw.$ref === 'string' ? (raw.$ref as string).replace(/^#\//, '').split('/') : [...base, 'headers', name];
    declared.set(name.toLowerCase(), { name, required: header.required === true, schema: `contract#/${pointer(...at, 'schema')}` });
  }
  return declared;
}

/** Problems with a response's headers: undeclared ones, required ones missing, values their schema refuses. */
function headerProblems(responsePointer: string[], status: number, headers: Headers): string[] {
  const problems: string[] = [];
  const declared = declaredHeaders(responsePointer);
  for (const [name, value] of headers) {
    if (undeclaredByConvention.has(name)) continue;
    const header = declared.get(name);
    if (!header) {
      problems.push(`header ${name} is not declared for ${status}`);
      continue;
    }
    const validate = ajv.getSchema(header.schema);
    if (!validate) problems.push(`no schema at ${header.schema}`);
    else if (!validate(value) && !(/^-?\d+$/.test(value) && validate(Number(value))))
      problems.push(`header ${header.name}: ${(validate.errors ?? []).map((e) => e.message).join(', ')} (${value})`);
  }
  for (const [name, header] of declared) if (header.required && !headers.has(name)) problems.push(`${header.name} header is missing`);
  return problems;
}

/** Problems with one response of an operation given by path template and method; [] when it conforms. */
export function contractProblems(pathTemplate: string, method: string, status: number, headers: Headers, body: unknown): string[] {
  const operation = doc.paths[pathTemplate]?.[method.toLowerCase()] as Json | undefined;
  if (!operation) return [`${method} ${pathTemplate} is not in the contract`];
  const responses = operation.responses as Record<string, Json>;
  if (!responses[String(status)]) return [`${operation.operationId} does not declare status ${status}`];
  const response = resolveRef(responses[String(status)]!);
  const problems = headerProblems(['paths', pathTemplate, method.toLowerCase(), 'responses', String(status)], status, headers);
  const content = response.content as Record<string, Json> | undefined;
  if (!content) {
    if (body !== undefined && body !== '') problems.push(`status ${status} declares no body but one was sent`);
    return problems;
  }
  const mediaType = (headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (!content[mediaType]) return [...problems, `content type ${mediaType} is not declared for ${status}`];
  const schemaRef =
    responses[String(status)]!.$ref !== undefined
      ? `contract#/${pointer(...(responses[String(status)]!.$ref as string).replace(/^#\//, '').split('/'), 'content', mediaType, 'schema')}`
      : `contract#/${pointer('paths', pathTemplate, method.toLowerCase(), 'responses', String(status), 'content', mediaType, 'schema')}`;
  const validate = ajv.getSchema(schemaRef);
  if (!validate) return [...problems, `no schema at ${schemaRef}`];
  if (!validate(body)) problems.push(...(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`));
  return problems;
}

/**
 * Problems with one message's `data` of a stream whose media type names the schema of its items
 * (`x-event-schema`: the body as a whole is a string); [] when it conforms.
 */
export function streamItemProblems(pathTemplate: string, method: string, status: number, data: unknown): string[] {
  const operation = doc.paths[pathTemplate]?.[method.toLowerCase()] as Json | undefined;
  const content =
    operation && (resolveRef((operation.responses as Record<string, Json>)[String(status)] ?? {}).content as Record<string, Json>);
  if (!content?.['text/event-stream']?.['x-event-schema']) return [`${method} ${pathTemplate} declares no x-event-schema for ${status}`];
  const ref = `contract#/${pointer('paths', pathTemplate, method.toLowerCase(), 'responses', String(status), 'content', 'text/event-stream', 'x-event-schema')}`;
  const validate = ajv.getSchema(ref);
  if (!validate) return [`no schema at ${ref}`];
  return validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

/** SDK middleware: throws when a response does not conform to the contract. */
export const contractCheck: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    // A stream is checked by its status and media type: its body is read by the caller as it comes.
    const streamed = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
    const text = streamed ? 'stream' : await response.clone().text();
    let body: unknown = text;
    if ((response.headers.get('content-type') ?? '').includes('json') && text) body = JSON.parse(text);
    if (text === '') body = undefined;
    const problems = contractProblems(schemaPath, request.method, response.status, response.headers, body);
    if (problems.length) {
      throw new Error(`${request.method} ${schemaPath} → ${response.status} violates the contract:\n  ${problems.join('\n  ')}`);
    }
    return response;
  },
};

/** Every operation of the contract: operationId, method and path template. */
export function contractOperations(): { operationId: string; method: string; path: string; responses: string[] }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      operationId: (op as Json).operationId as string,
      method: method.toUpperCase(),
      path,
      responses: Object.keys((op as Json).responses as Json),
    })),
  );
}

/** A request built from an operation's documented examples: path and query parameters, headers, body. */
export function exampleRequest(operationId: string): { path: string; headers: Record<string, string>; body?: string } {
  const found = contractOperations().find((op) => op.operationId === operationId);
  if (!found) throw new Error(`unknown operation ${operationId}`);
  const operation = doc.paths[found.path]![found.method.toLowerCase()] as Json;
  const parameters = ((operation.parameters as Json[] | undefined) ?? []).map(resolveRef);
  let path = found.path;
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  for (const parameter of parameters) {
    const value = String(parameter.example);
    if (parameter.in === 'path') path = path.replace(`{${parameter.name as string}}`, value);
    if (parameter.in === 'query' && parameter.required) query.set(parameter.name as string, value);
    if (parameter.in === 'header' && parameter.required) headers[parameter.name as string] = value;
  }
  const content = (operation.requestBody as Json | undefined)?.content as Record<string, Json> | undefined;
  let body: string | undefined;
  if (content) {
    const [mediaType, media] = Object.entries(content)[0]!;
    const example = media.example ?? (Object.values(media.examples as Record<string, Json>)[0]!.value as unknown);
    headers['Content-Type'] = mediaType;
    body = typeof example === 'string' ? example : JSON.stringify(example);
  }
  return { path: query.size ? `${path}?${query}` : path, headers, body };
}
