// Every limit the contract puts on what a client sends (maxLength, maxItems, maximum, minimum), found by walking
// the bundled contract: a value one past it, in an otherwise valid request built from the operation's examples,
// answers 400 VALIDATION_ERROR naming that field. Multipart parts are built as parts; the outgoing webhooks
// (`webhooks:`) are what the service sends, not what it receives, and are not walked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import contract from '../../src/generated/openapi.json' with { type: 'json' };
import { useTestApp } from '../support/app.js';
import { startFakeStripe } from '../support/fake-stripe.js';
import { fuzzStripe } from '../support/fuzz-target.js';
import { signUp } from '../support/server.js';
import { signed } from '../support/stripe-events.js';

type Json = Record<string, unknown>;
type Schema = Json & {
  $ref?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
};
type Kind = 'maxLength' | 'maxItems' | 'maximum' | 'minimum';

interface Limit {
  operationId: string;
  method: string;
  path: string;
  /** `path`, `query`, `header` or `body`. */
  location: string;
  /** The parameter's name, or the body's media type. */
  name: string;
  /** Where in the body (property names and array indexes); empty for a parameter or a whole body. */
  at: (string | number)[];
  kind: Kind;
  bound: number;
  schema: Schema;
  /** The constant properties of the `oneOf` branch the field is in, which the example used must have. */
  branch: Json;
  /** The field the 400 must name: `body.files.0.content`, `query.limit`, `header.Idempotency-Key`. */
  field: string;
}

const doc = contract as unknown as { paths: Record<string, Record<string, Json>> };
const resolve = (node: Schema): Schema => {
  let current = node;
  while (typeof current.$ref === 'string') {
    current = current.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<Json>((at, key) => at[key.replace(/~1/g, '/').replace(/~0/g, '~')] as Json, contract as Json) as Schema;
  }
  return current;
};

/** The limits of one schema and of what it holds (properties, the first item of arrays, allOf and oneOf branches). */
function limitsOf(
  raw: Schema,
  at: (string | number)[],
  branch: Json,
  depth = 0,
): { at: (string | number)[]; kind: Kind; bound: number; schema: Schema; branch: Json }[] {
  if (depth > 12) return [];
  const schema = resolve(raw);
  const found = (['maxLength', 'maxItems', 'maximum', 'minimum'] as const)
    .filter((kind) => typeof schema[kind] === 'number')
    .map((kind) => ({ at, kind, bound: schema[kind] as number, schema, branch }));
  for (const [name, property] of Object.entries(schema.properties ?? {}))
    found.push(...limitsOf(property, [...at, name], branch, depth + 1));
  if (schema.items) found.push(...limitsOf(schema.items, [...at, 0], branch, depth + 1));
  for (const part of schema.allOf ?? []) found.push(...limitsOf(part, at, branch, depth + 1));
  for (const part of [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) {
    const constants = Object.fromEntries(
      Object.entries(resolve(part).properties ?? {}).flatMap(([name, property]) =>
        'const' in resolve(property) ? [[name, resolve(property).const]] : [],
      ),
    );
    found.push(...limitsOf(part, at, { ...branch, ...constants }, depth + 1));
  }
  return found;
}

function contractLimits(): Limit[] {
  const limits: Limit[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const operationId = operation.operationId as string;
      for (const raw of (operation.parameters as Schema[] | undefined) ?? []) {
        const parameter = resolve(raw);
        for (const limit of limitsOf(parameter.schema as Schema, [], {})) {
          const name = parameter.name as string;
          limits.push({
            operationId,
            method: method.toUpperCase(),
            path,
            location: parameter.in as string,
            name,
            ...limit,
            field: `${String(parameter.in)}.${name}`,
          });
        }
      }
      const content = (resolve((operation.requestBody as Schema | undefined) ?? {}).content ?? {}) as Record<string, Json>;
      for (const [mediaType, media] of Object.entries(content)) {
        for (const limit of limitsOf(media.schema as Schema, [], {})) {
          // Multipart parts are read into the JSON body's shape, `{ files: [{ name, content }] }`, and checked as it is.
          const at = mediaType === 'multipart/form-data' && limit.kind === 'maxLength' ? [...limit.at, 'content'] : limit.at;
          limits.push({
            operationId,
            method: method.toUpperCase(),
            path,
            location: 'body',
            name: mediaType,
            ...limit,
            field: ['body', ...at].join('.'),
          });
        }
      }
    }
  }
  return limits;
}

/** A value of the field's type, one past its limit, as close to a valid one as the limit allows. */
function pastLimit(limit: Limit, example: unknown): unknown {
  const { kind, bound, schema } = limit;
  if (kind === 'maximum') return bound + 1;
  if (kind === 'minimum') return bound - 1;
  if (kind === 'maxItems') {
    const item = Array.isArray(example) && example.length > 0 ? example[0] : valueOf(resolve(schema.items ?? {}));
    return Array.from({ length: bound + 1 }, () => item);
  }
  const length = bound + 1;
  if (schema.format === 'date-time') return `2026-11-25T09:30:00.${'1'.repeat(length - 21)}Z`;
  if (schema.format === 'uri') return `https://app.example.com/${'a'.repeat(length - 24)}`;
  if (schema.format === 'email') return `${'a'.repeat(length - 12)}@example.com`;
  // The example, lengthened with its own last character, keeps to most patterns.
  const start = typeof example === 'string' && example.length > 0 ? example : 'x';
  return (start + start.at(-1)!.repeat(length)).slice(0, length);
}

function valueOf(schema: Schema): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if ('const' in schema) return schema.const;
  return 'x';
}

/** The examples of a body, the one whose constants match the field's `oneOf` branch first. */
function bodyExample(media: Json, branch: Json): unknown {
  const examples = [media.example, ...Object.values((media.examples as Record<string, Json> | undefined) ?? {}).map((e) => e.value)].filter(
    (e) => e !== undefined,
  );
  const matches = (e: unknown) => Object.entries(branch).every(([name, value]) => (e as Json | null)?.[name] === value);
  return structuredClone(examples.find(matches) ?? examples[0]);
}

const get = (value: unknown, at: (string | number)[]): unknown =>
  at.reduce<unknown>((node, key) => (node as Json | undefined)?.[key], value);
function set(value: unknown, at: (string | number)[], next: unknown): unknown {
  if (at.length === 0) return next;
  const [key, ...rest] = at;
  const node = (value ?? (typeof key === 'number' ? [] : {})) as Json;
  node[key!] = set(node[key!], rest, next);
  return node;
}

function multipart(files: string[]): { body: string; contentType: string } {
  const boundary = 'staffroom-limits';
  const parts = files.map(
    (content, i) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="agent-${i}.md"\r\nContent-Type: text/markdown\r\n\r\n${content}\r\n`,
  );
  return { body: `${parts.join('')}--${boundary}--\r\n`, contentType: `multipart/form-data; boundary=${boundary}` };
}

interface Built {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** The operation's example request, with the limited field one past its limit. */
function overLimitRequest(limit: Limit, ids: { orgId: string }, token: string): Built {
  const operation = doc.paths[limit.path]![limit.method.toLowerCase()]!;
  const parameters = ((operation.parameters as Schema[] | undefined) ?? []).map(resolve);
  let url = limit.path;
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  for (const parameter of parameters) {
    const name = parameter.name as string;
    const isLimited = limit.location === parameter.in && limit.name === name;
    if (!isLimited && !parameter.required && parameter.in !== 'path') continue;
    // The caller's own organization, so that nothing but the limit stands in the way.
    const example = name === 'orgId' ? ids.orgId : parameter.example;
    const value = String(isLimited ? pastLimit(limit, example) : example);
    if (parameter.in === 'path') url = url.replace(`{${name}}`, encodeURIComponent(value));
    if (parameter.in === 'query') query.set(name, value);
    if (parameter.in === 'header') headers[name] = value;
  }
  const content = (resolve((operation.requestBody as Schema | undefined) ?? {}).content ?? {}) as Record<string, Json>;
  const mediaType = limit.location === 'body' ? limit.name : Object.keys(content)[0];
  let body: string | undefined;
  if (mediaType) {
    let value = bodyExample(content[mediaType]!, limit.branch);
    if (limit.location === 'body') value = set(value, limit.at, pastLimit(limit, get(value, limit.at)));
    if (mediaType === 'multipart/form-data') {
      const built = multipart((value as { files: string[] }).files);
      body = built.body;
      headers['Content-Type'] = built.contentType;
    } else {
      body = typeof value === 'string' ? value : JSON.stringify(value);
      headers['Content-Type'] = mediaType;
    }
  }
  // Operations without their own `security` take the contract's: a bearer token or an API key.
  if (((operation.security as Json[] | undefined) ?? [{ bearerAuth: [] }]).some((requirement) => 'bearerAuth' in requirement))
    headers.Authorization = `Bearer ${token}`;
  if (limit.operationId === 'receiveStripeWebhook' && body !== undefined)
    headers['Stripe-Signature'] ??= signed(JSON.parse(body) as object).signature;
  return { url: query.size ? `${url}?${query}` : url, method: limit.method, headers, body };
}

const fakeStripe = await startFakeStripe();
const app = useTestApp({ stripe: fuzzStripe(fakeStripe.url) });
const limits = contractLimits();
let token: string;
let orgId: string;

beforeAll(async () => {
  token = (await signUp(app.database.db, 'limits@example.com')).token;
  const created = await fetch(`${app.server.baseUrl}/v1/organizations`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Limits' }),
  });
  orgId = ((await created.json()) as { data: { id: string } }).data.id;
});
afterAll(() => fakeStripe.close());

describe('the limits on what clients send', () => {
  it('finds the limits of every kind, in bodies and in parameters', () => {
    const kinds = new Set(limits.map((limit) => `${limit.location} ${limit.kind}`));
    for (const kind of [
      'path maxLength',
      'query maximum',
      'query minimum',
      'header maxLength',
      'body maxLength',
      'body maxItems',
      'body maximum',
    ])
      expect(kinds, kind).toContain(kind);
    expect(limits.map((limit) => limit.field)).toEqual(
      expect.arrayContaining(['body.files', 'body.files.0.content', 'body.created', 'header.Idempotency-Key']),
    );
  });

  it(`answers a value one past each of the ${limits.length} limits with 400 naming the field`, { timeout: 60_000 }, async () => {
    const failures: string[] = [];
    for (const limit of limits) {
      const request = overLimitRequest(limit, { orgId }, token);
      const response = await fetch(`${app.server.baseUrl}${request.url}`, {
        method: request.method,
        headers: request.headers,
        body: request.body === undefined ? undefined : new Uint8Array(Buffer.from(request.body)),
        redirect: 'manual',
      });
      const text = await response.text();
      const error = (JSON.parse(text || '{}') as { error?: { code?: string; details?: { field: string }[] } }).error;
      const named = error?.details?.some((detail) => detail.field.toLowerCase() === limit.field.toLowerCase());
      if (response.status !== 400 || error?.code !== 'VALIDATION_ERROR' || !named)
        failures.push(
          `${limit.operationId} ${limit.field} ${limit.kind} ${limit.bound} (${limit.name}): ${response.status} ${text.slice(0, 300)}`,
        );
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });
});
