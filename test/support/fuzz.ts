// The fuzzer's generator: seeded requests built from the bundled contract, valid or mutated in one or two ways.
// fuzz-run.ts sends them and checks the answers; test/contract/fuzz.test.ts and scripts/fuzz.ts drive both.
import Stripe from 'stripe';
import contract from '../../src/generated/openapi.json' with { type: 'json' };
import { handledStripeEventTypes } from '../../src/services/webhooks.js';
import { signed, stripeEvent, stripeObject } from './stripe-events.js';

// ---------------------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: 32 bits of state, fast, and the same sequence for the same seed on every platform. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  string(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }

  uuid(): string {
    const hex = this.string(32, '0123456789abcdef');
    const variant = '89ab'[this.int(0, 3)]!;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}

/** Each request has its own generator, so request `index` of a seed can be rebuilt alone. */
export function requestRng(seed: number, index: number): Rng {
  return new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0);
}

// ---------------------------------------------------------------------------------------------------------
// The contract

export type Schema = {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  minProperties?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  default?: unknown;
  examples?: unknown[];
};

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
}

export interface Operation {
  operationId: string;
  method: string;
  path: string;
  parameters: Parameter[];
  body?: { mediaType: string; schema: Schema; required: boolean };
  responses: string[];
  /** Which credentials the operation accepts; empty: a public operation. */
  security: ('bearerAuth' | 'apiKey')[];
}

type Json = Record<string, unknown>;
const doc = contract as unknown as { paths: Record<string, Record<string, Json>>; security: Json[]; components: Json };
const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

function resolve<T extends object>(node: T): T {
  let current = node as Json;
  while (typeof current.$ref === 'string') {
    const segments = current.$ref.replace(/^#\//, '').split('/');
    current = segments.reduce<Json>((acc, key) => acc[key.replace(/~1/g, '/').replace(/~0/g, '~')] as Json, contract as Json);
  }
  return current as T;
}

/** Every operation of the bundled contract, its parameters and body resolved. */
export function fuzzOperations(): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, raw]) => {
      const parameters = ((raw.parameters as Json[] | undefined) ?? []).map((p) => resolve(p) as unknown as Parameter);
      const requestBody = raw.requestBody ? resolve(raw.requestBody as Json) : undefined;
      const [mediaType, media] = Object.entries((requestBody?.content as Record<string, Json> | undefined) ?? {})[0] ?? [];
      const security = ((raw.security as Json[] | undefined) ?? doc.security).flatMap((requirement) => Object.keys(requirement));
      return {
        operationId: raw.operationId as string,
        method: method.toUpperCase(),
        path,
        parameters: parameters.map((p) => ({ ...p, required: Boolean(p.required), schema: resolve(p.schema) })),
        body:
          mediaType && media ? { mediaType, schema: resolve(media.schema as Schema), required: Boolean(requestBody?.required) } : undefined,
        responses: Object.keys(raw.responses as Json),
        security: security as Operation['security'],
      };
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The fixture: real resources the requests may name, and the credentials they may carry

export type ResourceId = 'orgId' | 'employeeId' | 'taskId' | 'userId' | 'invitationId' | 'keyId' | 'endpointId';

export interface FuzzFixture {
  ids: Record<ResourceId, string>;
  /** A pending invitation's secret, for acceptInvitation. */
  invitationToken: string;
  modelIds: string[];
  /** An origin checkout and portal return URLs may use. */
  redirectOrigin: string;
  credentials: {
    /** The fixture organization's owner. */
    token: string;
    /** A live API key of the fixture organization (not `ids.keyId`, which requests may revoke). */
    apiKey?: string;
    /** A signed-in user who is no member of the fixture organization. */
    outsiderToken?: string;
    /** Correctly signed, for a user that does not exist. */
    strangerToken?: string;
    expiredToken?: string;
    wrongAudienceToken?: string;
  };
  /** Signs Stripe webhooks when the target's webhook secret is known. */
  stripeWebhookSecret?: string;
  stripePrices?: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Valid values from schemas

const unicodeSamples = [
  'Zoë',
  'Ünïcödé',
  '日本語のテキスト',
  'مرحبا بالعالم',
  '😀👩‍👩‍👧‍👦🏳️‍🌈',
  'e\u0301\u0301\u0301',
  'a\u200bb\u200dc',
  '\u202egnp.exe',
  'Ꙭ𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\uFEFFbom',
];

function cursorValue(rng: Rng): string {
  const t = rng.pick([
    new Date(Date.now() - rng.int(0, 1e9)).toISOString(),
    '2026-11-25 09:30:00.123456+00',
    '1',
    '0',
    '-1',
    '275760-09-13T00:00:00Z',
    '2026-02-30T00:00:00Z',
    'Tue, 01 Jan 2030 00:00:00 GMT',
    '9999-12-31T23:59:59.999999Z',
    '0001-01-01',
  ]);
  const payload = rng.chance(0.8) ? { t, i: rng.uuid() } : rng.pick<unknown>([{ t }, { i: rng.uuid() }, [], null, 'x', { t: 1, i: 2 }]);
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

function emailValue(rng: Rng): string {
  return `${rng.string(rng.int(1, 12))}@${rng.pick(['example.com', 'example.org', 'sub.example.net'])}`;
}

function formatValue(format: string, rng: Rng, fixture: FuzzFixture): string | undefined {
  switch (format) {
    case 'uuid':
      return rng.uuid();
    case 'date':
      return new Date(Date.UTC(rng.int(2000, 2030), rng.int(0, 11), rng.int(1, 28))).toISOString().slice(0, 10);
    case 'date-time':
      return new Date(Date.now() + rng.int(-400, 400) * 86_400_000).toISOString();
    case 'email':
      return emailValue(rng);
    case 'uri':
      return `${rng.chance(0.85) ? fixture.redirectOrigin : 'https://elsewhere.example.net'}/${rng.string(rng.int(0, 12))}?from=fuzz`;
    default:
      return undefined;
  }
}

/** Values for fields whose name says what they hold: real ids, models and secrets from the fixture. */
function hintedValue(name: string, rng: Rng, fixture: FuzzFixture): unknown {
  const real = rng.chance(0.8);
  switch (name) {
    case 'employeeId':
      return real ? fixture.ids.employeeId : rng.uuid();
    case 'taskId':
      return real ? fixture.ids.taskId : rng.uuid();
    case 'actorId':
      return real ? fixture.ids.userId : rng.uuid();
    case 'token':
      return real ? fixture.invitationToken : `inv_${rng.string(43)}`;
    case 'model':
    case 'defaultModel':
      return fixture.modelIds.length && real ? rng.pick(fixture.modelIds) : undefined;
    case 'cursor':
      return cursorValue(rng);
    case 'name':
      return rng.chance(0.2) ? rng.pick(unicodeSamples) : undefined;
    default:
      return undefined;
  }
}

function slugValue(rng: Rng): string {
  const words = Array.from({ length: rng.int(1, 3) }, () => rng.string(rng.int(2, 8)));
  return words.join('-').slice(0, 48);
}

function stringValue(schema: Schema, rng: Rng, fixture: FuzzFixture): string {
  const formatted = schema.format ? formatValue(schema.format, rng, fixture) : undefined;
  if (formatted !== undefined) return formatted;
  if (schema.pattern) return slugValue(rng); // the contract's only pattern is Slug's
  const min = schema.minLength ?? 0;
  const max = Math.max(min, Math.min(schema.maxLength ?? 40, 40));
  return rng.string(rng.int(Math.max(min, 1), max), 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.');
}

function numberValue(schema: Schema, rng: Rng, integer: boolean): number {
  const min = schema.minimum ?? 0;
  const max = schema.maximum ?? Math.max(min, 1000);
  return integer ? rng.int(min, max) : min + rng.float() * (max - min);
}

function arrayValue(schema: Schema, rng: Rng, fixture: FuzzFixture, depth: number): unknown[] {
  const length = rng.int(schema.minItems ?? 0, Math.min(schema.maxItems ?? 5, 5));
  const items = Array.from({ length }, () => validValue(schema.items ?? {}, rng, fixture, '', depth + 1));
  return schema.uniqueItems ? [...new Map(items.map((item) => [JSON.stringify(item), item])).values()] : items;
}

function objectValue(schema: Schema, rng: Rng, fixture: FuzzFixture, depth: number): Json {
  const out: Json = {};
  const required = new Set(schema.required ?? []);
  const names = Object.keys(schema.properties ?? {});
  // A partial update (a body whose properties are all optional) sends one of them alone a third of the time:
  // the column it leaves out must keep its value, whichever column that is.
  if (depth === 0 && required.size === 0 && names.length > 1 && rng.chance(1 / 3)) {
    const name = rng.pick(names);
    return { [name]: validValue(schema.properties![name]!, rng, fixture, name, depth + 1) };
  }
  for (const name of names) {
    if (required.has(name) || (depth < 3 && rng.chance(0.5)))
      out[name] = validValue(schema.properties![name]!, rng, fixture, name, depth + 1);
  }
  for (const name of names) {
    if (Object.keys(out).length >= (schema.minProperties ?? 0)) break;
    out[name] ??= validValue(schema.properties![name]!, rng, fixture, name, depth + 1);
  }
  return out;
}

const edgeFormats: Record<string, string[]> = {
  uuid: ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF'],
  date: ['2000-01-01', '9999-12-30', '2024-02-29'],
  'date-time': [
    '9999-12-31T23:59:59.999Z',
    '2026-12-31T23:59:60Z',
    '2099-01-01T00:00:00+14:00',
    '2099-01-01t00:00:00z',
    '2099-06-30T12:00:00.123456789Z',
  ],
  email: [`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.example`, 'a+tag@example.com', 'A@EXAMPLE.COM'],
};

/** A value at the edge of what the schema accepts: a boundary length or number, an unusual but valid format. */
function edgeValue(schema: Schema, rng: Rng): unknown {
  if (schema.format && edgeFormats[schema.format]) return rng.pick(edgeFormats[schema.format]!);
  if (schema.type === 'integer' || schema.type === 'number')
    return rng.pick([schema.minimum ?? 0, schema.maximum ?? Number.MAX_SAFE_INTEGER]);
  if (schema.type === 'string' && !schema.pattern && !schema.enum) {
    return rng.pick(['x', 'é', '😀', ' ']).repeat(rng.pick([Math.max(schema.minLength ?? 1, 1), schema.maxLength ?? 1000]));
  }
  return undefined;
}

/** A value the schema accepts; `name` is the property or parameter it is for. */
export function validValue(node: Schema, rng: Rng, fixture: FuzzFixture, name = '', depth = 0): unknown {
  const schema = resolve(node);
  if ('const' in schema) return schema.const;
  const edge = rng.chance(0.05) ? edgeValue(schema, rng) : undefined;
  if (edge !== undefined) return edge;
  if (schema.enum) return rng.pick(schema.enum);
  const branches = schema.oneOf ?? schema.anyOf;
  if (branches) return validValue(rng.pick(branches), rng, fixture, name, depth);
  if (schema.allOf) return Object.assign({}, ...(schema.allOf.map((part) => validValue(part, rng, fixture, name, depth)) as Json[]));
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? (schema.properties ? 'object' : 'string')];
  const type = types.length > 1 && types.includes('null') && rng.chance(0.8) ? types.find((t) => t !== 'null')! : rng.pick(types);
  const hinted = type === 'string' ? hintedValue(name, rng, fixture) : undefined;
  if (hinted !== undefined) return hinted;
  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return rng.chance(0.5);
    case 'integer':
      return numberValue(schema, rng, true);
    case 'number':
      return numberValue(schema, rng, false);
    case 'array':
      return arrayValue(schema, rng, fixture, depth);
    case 'object':
      return objectValue(schema, rng, fixture, depth);
    default:
      return stringValue(schema, rng, fixture);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bodies that are not plain JSON of a schema: agent definitions and Stripe events

const agentNames = ['fuzz-reviewer', 'fuzz-writer', 'fuzz-tester'];

/** An agent definition file: YAML front matter between --- lines, then the instructions as markdown. */
export function agentDefinition(rng: Rng, fixture: FuzzFixture): string {
  const lines = [`name: ${rng.chance(0.7) ? rng.pick(agentNames) : slugValue(rng)}`];
  if (rng.chance(0.7))
    lines.push(
      `description: ${rng.chance(0.2) ? JSON.stringify(rng.pick(unicodeSamples)) : rng.string(rng.int(1, 60), 'abcdefghij klmnop')}`,
    );
  const tools = ['Read', 'Grep', 'Glob', 'Write', 'Bash', 'WebFetch'].filter(() => rng.chance(0.4));
  // Inline, else (half the time) as a YAML list: two draws, in this order.
  if (rng.chance(0.5)) lines.push(`tools: ${tools.join(', ')}`);
  else {
    const asList = rng.chance(0.5);
    if (asList) lines.push('tools:', ...tools.map((t) => `  - ${t}`));
  }
  if (rng.chance(0.7)) lines.push(`model: ${rng.pick(['inherit', 'sonnet', 'haiku', ...fixture.modelIds])}`);
  const instructions = rng.pick([
    'You are a careful reviewer.',
    '# Role\n\nPoint out **bugs** first.\n\n1. Read\n2. Report',
    `Say ${rng.pick(unicodeSamples)}.`,
  ]);
  return `---\n${lines.join('\n')}\n---\n\n${instructions}\n`;
}

const bigNumbers: unknown[] = [0, -1, 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1e15, 1e308, -1e308, 1.5, '1000', 'NaN', null];

/** Stripe's example object with some fields replaced; those come first, so a truncated failure still shows them. */
function stripeExample(name: Parameters<typeof stripeObject>[0], fields: Json): Json {
  return { ...fields, ...stripeObject(name), ...fields };
}

function stripeEventObject(type: string, rng: Rng, fixture: FuzzFixture): Json {
  const orgId = rng.chance(0.8) ? fixture.ids.orgId : rng.pick([rng.uuid(), 'not-a-uuid', '']);
  const number = (usual: number): unknown => (rng.chance(0.6) ? usual : rng.pick(bigNumbers));
  // Small pools, so that refunds meet earlier purchases and invoices meet known customers.
  const customer = `cus_fuzz_${rng.int(1, 3)}`;
  const paymentIntent = `pi_fuzz_${rng.int(1, 3)}`;
  const price = rng.pick([...(fixture.stripePrices ?? []), 'price_unknown']);
  const periodEnd = () => number(Math.floor(Date.now() / 1000) + 86_400 * 30);
  switch (type) {
    case 'checkout.session.completed':
      return stripeExample('checkout-session', {
        id: `cs_test_${rng.string(12)}`,
        mode: rng.pick(['payment', 'subscription']),
        status: 'complete',
        payment_status: rng.pick(['paid', 'unpaid']),
        client_reference_id: orgId,
        customer,
        payment_intent: paymentIntent,
        amount_total: number(3000),
        metadata: {
          kind: rng.pick(['credit_pack', 'plan', '']),
          credits: String(rng.pick<unknown>([100_000, 1, 0, -5, 1e308, 2 ** 53, 'abc', '1e3'])),
        },
      });
    case 'invoice.paid':
      return stripeExample('invoice', { id: `in_${rng.string(10)}`, customer, lines: { data: [{ price: { id: price } }] } });
    case 'charge.refunded':
      return stripeExample('charge', {
        id: `ch_${rng.string(10)}`,
        payment_intent: paymentIntent,
        amount_refunded: number(1500),
        amount_captured: number(3000),
        amount: number(3000),
      });
    default:
      return stripeExample('subscription', {
        id: `sub_${rng.string(10)}`,
        status: rng.pick(['active', 'past_due', 'canceled', 'trialing', 'weird']),
        customer,
        cancel_at_period_end: rng.chance(0.3),
        metadata: rng.chance(0.8) ? { organization_id: orgId } : {},
        current_period_end: periodEnd(),
        items: { data: [{ price: { id: price }, current_period_end: periodEnd() }] },
      });
  }
}

/** A Stripe event shaped like Stripe's, for the fixture organization, with some odd numbers in it. */
export function stripeWebhookEvent(rng: Rng, fixture: FuzzFixture): Json {
  const type = rng.pick([...handledStripeEventTypes, 'customer.created']);
  // Never Number.MAX_SAFE_INTEGER: the fixture's plan comes from an event that late, and must stay the newest.
  const created = rng.chance(0.8)
    ? Math.floor(Date.now() / 1000) - rng.int(0, 1000)
    : (rng.pick(bigNumbers.filter((n) => n !== Number.MAX_SAFE_INTEGER)) as number);
  return stripeEvent(type, stripeEventObject(type, rng, fixture), { id: `evt_fuzz_${rng.string(16)}`, created });
}

// ---------------------------------------------------------------------------------------------------------
// Requests: a draft built from the contract, mutated, then turned into bytes

type Body = { kind: 'json'; value: unknown } | { kind: 'raw'; text: string };

/** A query value that sends the parameter bare, as `?name` with no `=`. */
const flagOnly = '\u0000flag-only';

export interface Draft {
  op: Operation;
  method: string;
  /** Path parameters, already percent-encoded. */
  pathParams: Record<string, string>;
  /** Replaces the path built from the template (routing mutations). */
  pathOverride?: string;
  /** Query pairs, already percent-encoded. */
  query: [string, string][];
  headers: Record<string, string>;
  body?: Body;
  /** The Content-Type to send; null sends none. */
  contentType?: string | null;
  /** What Stripe-Signature to send: signed over the final body, absent, or as given. */
  signature: { kind: 'valid' } | { kind: 'none' } | { kind: 'literal'; value: string };
  mutations: string[];
  /** `maybe`: the path has a shape routers may normalise (`//`, `..`, a trailing slash), so 404 or 405 is fine too. */
  routing: 'exact' | 'maybe';
}

export interface FuzzRequest {
  seed: number;
  index: number;
  /** The operation the request was generated from. */
  operationId: string;
  /** The operation its method and path route to, when any: the one whose contract the response must meet. */
  route?: { operationId: string; pathTemplate: string };
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: Record<string, string>;
  body?: string;
  mutations: string[];
  routing: Draft['routing'];
}

function pathParamValue(parameter: Parameter, rng: Rng, fixture: FuzzFixture): string {
  const known = (fixture.ids as Record<string, string | undefined>)[parameter.name];
  return encodeURIComponent(known && rng.chance(0.8) ? known : String(validValue(parameter.schema, rng, fixture, parameter.name)));
}

function queryPairs(op: Operation, rng: Rng, fixture: FuzzFixture): [string, string][] {
  const values = new Map(
    op.parameters
      .filter((p) => p.in === 'query' && (p.required || rng.chance(0.4)))
      .map((p) => [p.name, String(validValue(p.schema, rng, fixture, p.name))]),
  );
  coherentRange(values, rng);
  return [...values].map(([name, value]) => [encodeURIComponent(name), encodeURIComponent(value)]);
}

/** `from` and `to` drawn alone are mostly over a year apart or reversed: keep most ranges within what getUsage allows. */
function coherentRange(values: Map<string, string>, rng: Rng): void {
  const from = values.get('from');
  if (!from || !values.has('to') || rng.chance(0.2)) return;
  values.set('to', new Date(Date.parse(from) + rng.int(0, 366) * 86_400_000).toISOString().slice(0, 10));
}

const idempotencyKeys = ['fuzz-key-1', 'fuzz-key-2', 'fuzz-key-3'];

function headerValues(op: Operation, rng: Rng): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const p of op.parameters.filter((p) => p.in === 'header' && p.name !== 'Stripe-Signature')) {
    if (p.required || rng.chance(0.5)) headers[p.name] = rng.chance(0.6) ? rng.pick(idempotencyKeys) : rng.uuid();
  }
  return headers;
}

function credentialHeaders(op: Operation, rng: Rng, fixture: FuzzFixture): Record<string, string> {
  if (op.security.length === 0) return {};
  const { apiKey, outsiderToken, token } = fixture.credentials;
  if (apiKey && op.security.includes('apiKey') && rng.chance(0.15)) return { 'X-Api-Key': apiKey };
  if (outsiderToken && rng.chance(0.05)) return { Authorization: `Bearer ${outsiderToken}` };
  return { Authorization: `Bearer ${token}` };
}

function bodyValue(op: Operation, rng: Rng, fixture: FuzzFixture): Body | undefined {
  if (!op.body) return undefined;
  if (op.operationId === 'receiveStripeWebhook') return { kind: 'json', value: stripeWebhookEvent(rng, fixture) };
  if (op.body.mediaType === 'text/markdown') return { kind: 'raw', text: agentDefinition(rng, fixture) };
  return { kind: 'json', value: validValue(op.body.schema, rng, fixture) };
}

/** A request the contract allows, naming the fixture's resources most of the time. */
export function validDraft(op: Operation, rng: Rng, fixture: FuzzFixture): Draft {
  const pathParams = Object.fromEntries(op.parameters.filter((p) => p.in === 'path').map((p) => [p.name, pathParamValue(p, rng, fixture)]));
  return {
    op,
    method: op.method,
    pathParams,
    query: queryPairs(op, rng, fixture),
    headers: { ...headerValues(op, rng), ...credentialHeaders(op, rng, fixture) },
    body: bodyValue(op, rng, fixture),
    contentType: op.body?.mediaType,
    signature: { kind: fixture.stripeWebhookSecret ? 'valid' : 'none' },
    mutations: [],
    routing: 'exact',
  };
}

function serializeBody(body: Body | undefined): string | undefined {
  if (!body) return undefined;
  return body.kind === 'raw' ? body.text : JSON.stringify(body.value);
}

function stripeSignature(draft: Draft, body: string | undefined, fixture: FuzzFixture): string | undefined {
  if (draft.op.operationId !== 'receiveStripeWebhook' || draft.signature.kind === 'none') return undefined;
  if (draft.signature.kind === 'literal') return draft.signature.value;
  if (!fixture.stripeWebhookSecret) return undefined;
  // signed() stringifies an event; a mutated body is signed as the exact bytes that are sent.
  if (
    draft.body?.kind === 'json' &&
    draft.body.value !== null &&
    typeof draft.body.value === 'object' &&
    !Array.isArray(draft.body.value)
  ) {
    return signed(draft.body.value, fixture.stripeWebhookSecret).signature;
  }
  return Stripe.webhooks.generateTestHeaderString({ payload: body ?? '', secret: fixture.stripeWebhookSecret });
}

/** The operation a method and an encoded path route to, matching templates the way the router does. */
export function routeOf(method: string, path: string, operations: Operation[]): Operation | undefined {
  const matches = operations.filter((op) => op.method === method && templatePattern(op.path).test(path));
  // A literal segment wins over a parameter (`/employees/import` is not getEmployee).
  return matches.sort((a, b) => b.path.replace(/\{[^}]+\}/g, '').length - a.path.replace(/\{[^}]+\}/g, '').length)[0];
}

export function templatePattern(template: string): RegExp {
  return new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
}

/** The path the server routes: resolved as a URL (`.`, `..`, `%2e`), trailing slashes dropped as the router does. */
export function normalizedPath(path: string): string {
  return new URL(path, 'http://fuzz.invalid').pathname.replace(/\/+$/, '') || '/';
}

/** The draft as it goes on the wire. */
export function finalize(draft: Draft, fixture: FuzzFixture, operations: Operation[], seed: number, index: number): FuzzRequest {
  const path = draft.pathOverride ?? draft.op.path.replace(/\{([^}]+)\}/g, (_, name: string) => draft.pathParams[name] ?? '');
  const routed = routeOf(draft.method, normalizedPath(path), operations);
  const query = draft.query.map(([k, v]) => (v === flagOnly ? k : `${k}=${v}`)).join('&');
  const body = serializeBody(draft.body);
  const headers = { ...draft.headers };
  if (body !== undefined && draft.contentType) headers['Content-Type'] = draft.contentType;
  const signature = stripeSignature(draft, body, fixture);
  if (signature !== undefined) headers['Stripe-Signature'] = signature;
  return {
    seed,
    index,
    operationId: draft.op.operationId,
    route: routed ? { operationId: routed.operationId, pathTemplate: routed.path } : undefined,
    method: draft.method,
    url: query ? `${path}?${query}` : path,
    headers,
    body,
    mutations: draft.mutations,
    routing: draft.routing,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Mutations: each changes one aspect of a draft and says whether it applies

interface MutationContext {
  rng: Rng;
  fixture: FuzzFixture;
  operations: Operation[];
}

interface Mutation {
  name: string;
  applies(draft: Draft, ctx: MutationContext): boolean;
  apply(draft: Draft, ctx: MutationContext): string | void;
}

const isJsonObject = (body: Body | undefined): body is { kind: 'json'; value: Json } =>
  body?.kind === 'json' && body.value !== null && typeof body.value === 'object' && !Array.isArray(body.value);

/** The schema of a top-level body property, through oneOf branches. */
function propertySchema(op: Operation, name: string): Schema | undefined {
  const schema = op.body?.schema;
  if (!schema) return undefined;
  const candidates = [schema, ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])].map((s) => resolve(s));
  const found = candidates.find((s) => s.properties?.[name])?.properties?.[name];
  return found ? resolve(found) : undefined;
}

function requiredProperties(op: Operation): string[] {
  const schema = op.body?.schema;
  if (!schema) return [];
  return [schema, ...(schema.oneOf ?? [])].flatMap((s) => resolve(s).required ?? []);
}

function bodyFieldNames(draft: Draft): string[] {
  return isJsonObject(draft.body) ? Object.keys(draft.body.value) : [];
}

/** A field of the body to mutate: one that is present, or one the schema knows. */
function pickField(draft: Draft, rng: Rng): string | undefined {
  const present = bodyFieldNames(draft);
  const known = Object.keys(draft.op.body?.schema.properties ?? {}).concat(
    ...(draft.op.body?.schema.oneOf ?? []).map((s) => Object.keys(resolve(s).properties ?? {})),
  );
  const names = [...new Set([...present, ...known])];
  return names.length ? rng.pick(names) : undefined;
}

function setField(draft: Draft, name: string, value: unknown): void {
  if (isJsonObject(draft.body)) draft.body.value[name] = value;
}

const wrongTypeValues: unknown[] = [123, -7.5, true, false, null, [], {}, ['x'], { nested: { deeper: [1, 2] } }, '', 'string'];
const boundaryNumbers = (schema: Schema | undefined): unknown[] => [
  -1,
  0,
  (schema?.maximum ?? 100) + 1,
  (schema?.minimum ?? 1) - 1,
  2 ** 31,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  -1e308,
  Number.MIN_VALUE,
  0.5,
  'NaN',
  'Infinity',
  '-0',
  '1e999',
  '0x10',
];
const badFormats: Record<string, string[]> = {
  uuid: [
    'not-a-uuid',
    '00000000-0000-0000-0000-000000000000',
    '{3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13}',
    '3F1C9A527D2E4B8A9C412F6D8E0B7A13',
    '3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a1',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
  ],
  email: [
    'not-an-email',
    '@example.com',
    'a@',
    'a@b@c',
    'a b@example.com',
    `${'x'.repeat(250)}@example.com`,
    'ünï@exämple.com',
    '"quoted"@example.com',
  ],
  uri: [
    'not a uri',
    'javascript:alert(1)',
    'http://[::1',
    '//app.example.com/x',
    'mailto:a@example.com',
    'https://app.example.com.evil.example/x',
    'http://localhost:3000@evil.example/',
    'file:///etc/passwd',
    `https://app.example.com/${'x'.repeat(2100)}`,
  ],
  date: [
    '2026-02-30',
    '2026-13-01',
    '0000-01-01',
    '9999-12-31',
    '99999-01-01',
    '2026-1-1',
    'yesterday',
    '1999-12-31',
    '2026-11-01T00:00:00Z',
  ],
  'date-time': [
    'yesterday',
    '2026-11-25',
    '2026-13-45T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59Z',
    '+275760-09-13T00:00:00Z',
    '2026-11-25T25:61:61Z',
    '1970-01-01T00:00:00Z',
    '2026-11-25T09:30:00+14:00',
  ],
};
const controlStrings = [
  'a\u0000b',
  '\u0000',
  'a\u0001\u0002\u001f\u007f',
  'line\nbreak\r\n',
  'tab\there',
  '\ud800',
  'a\udfffb',
  '\uffff\ufffe',
  '\u2028\u2029',
  '%00',
  '\\u0000',
];

const bodyMutations: Mutation[] = [
  {
    name: 'wrong type',
    applies: (d) => isJsonObject(d.body),
    apply: (d, { rng }) => {
      const field = pickField(d, rng);
      if (!field) return;
      const value = rng.pick(wrongTypeValues);
      setField(d, field, value);
      return `${field}=${JSON.stringify(value)}`;
    },
  },
  {
    name: 'missing required field',
    applies: (d) => isJsonObject(d.body) && requiredProperties(d.op).some((name) => name in (d.body as { value: Json }).value),
    apply: (d, { rng }) => {
      const value = (d.body as { value: Json }).value;
      const field = rng.pick(requiredProperties(d.op).filter((name) => name in value));
      delete value[field];
      return field;
    },
  },
  {
    name: 'extra unknown field',
    applies: (d) => isJsonObject(d.body),
    apply: (d, { rng }) => {
      const field = rng.pick(['unknown', '__proto__', 'constructor', 'id', 'organizationId', 'role', 'credits', 'a'.repeat(300), '', 'ü']);
      const value = rng.pick<unknown>(['x', 1, null, { admin: true }]);
      if (field === '__proto__' && isJsonObject(d.body)) {
        d.body = { kind: 'raw', text: JSON.stringify(d.body.value).replace(/^\{/, `{"__proto__":${JSON.stringify(value)},`) };
      } else setField(d, field, value);
      return field.length > 20 ? `${field.slice(0, 20)}…` : field;
    },
  },
  {
    name: 'boundary number',
    applies: (d) => isJsonObject(d.body),
    apply: (d, { rng }) => {
      const field = pickField(d, rng);
      if (!field) return;
      const value = rng.pick(boundaryNumbers(propertySchema(d.op, field)));
      setField(d, field, value);
      return `${field}=${JSON.stringify(value)}`;
    },
  },
  {
    name: 'number literal JSON cannot round-trip',
    applies: (d) => isJsonObject(d.body),
    apply: (d, { rng }) => {
      const field = pickField(d, rng);
      if (!field || !isJsonObject(d.body)) return;
      const literal = rng.pick(['1e999', '-1e999', '-0', '1.0', '123456789012345678901234567890', '4.9e-325', '32000.0000000000001']);
      d.body.value[field] = '\u0000literal';
      d.body = { kind: 'raw', text: JSON.stringify(d.body.value).replace('"\\u0000literal"', literal) };
      return `${field}=${literal}`;
    },
  },
  {
    name: 'over-long string',
    applies: (d) => isJsonObject(d.body),
    apply: (d, { rng }) => {
      const field = pickField(d, rng);
      if (!field) return;
      const max = propertySchema(d.op, field)?.maxLength ?? 1000;
      const length = rng.pick([max + 1, max * 2, 200_001]);
      setField(d, field, rng.pick(['x', 'é', '😀']).repeat(length));
      return `${field} of ${length} characters`;
    },
  },
  {
    name: 'bad format',
    applies: (d) => bodyFieldNames(d).some((name) => propertySchema(d.op, name)?.format || propertySchema(d.op, name)?.pattern),
    apply: (d, { rng }) => {
      const field = rng.pick(bodyFieldNames(d).filter((name) => propertySchema(d.op, name)?.format || propertySchema(d.op, name)?.pattern));
      const schema = propertySchema(d.op, field)!;
      const value = schema.format
        ? rng.pick(badFormats[schema.format] ?? ['???'])
        : rng.pick(['Upper-Case', '-leading', 'trailing-', 'double--hyphen', 'a', 'x'.repeat(49), 'spa ce', 'ünï']);
      setField(d, field, value);
      return `${field}=${value.slice(0, 40)}`;
    },
  },
  {
    name: 'control characters',
    applies: (d) => isJsonObject(d.body) || d.body?.kind === 'raw',
    apply: (d, { rng }) => {
      const text = rng.pick(controlStrings);
      if (d.body?.kind === 'raw') {
        d.body.text = rng.chance(0.5) ? d.body.text.replace(/name: /, `name: ${text}`) : `${d.body.text}${text}`;
        return JSON.stringify(text);
      }
      const field = pickField(d, rng);
      if (!field) return;
      setField(d, field, text);
      return `${field}=${JSON.stringify(text)}`;
    },
  },
  {
    name: 'unicode',
    applies: (d) => isJsonObject(d.body) || d.body?.kind === 'raw',
    apply: (d, { rng }) => {
      const text = rng.pick(unicodeSamples);
      if (d.body?.kind === 'raw') {
        d.body.text = d.body.text.replace(/\n---\n/, `\n---\n${text}\n`);
        return text;
      }
      const field = pickField(d, rng);
      if (!field) return;
      setField(d, field, text);
      return `${field}=${text}`;
    },
  },
  {
    name: 'broken agent definition',
    applies: (d) => d.op.body?.mediaType === 'text/markdown',
    apply: (d, { rng }) => {
      const text = brokenAgentDefinition(rng);
      d.body = { kind: 'raw', text };
      return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
    },
  },
  {
    name: 'JSON of the wrong shape',
    applies: (d) => d.body !== undefined,
    apply: (d, { rng }) => {
      const text = rng.pick(['null', '123', '[]', '"x"', 'true', '{}', '[{}]', '-0', '{"data":null}']);
      d.body = { kind: 'raw', text };
      return text;
    },
  },
  {
    name: 'invalid JSON',
    applies: (d) => d.body !== undefined,
    apply: (d, { rng }) => {
      const text = rng.pick([
        '{',
        '{"a":',
        "{'a':1}",
        '\uFEFF{}',
        'NaN',
        '{"a":1}garbage',
        '{"a":1,}',
        'undefined',
        '[[[[[[[[[[',
        `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
        '\u0000\u0001',
        '{"a":"\\ud800"}',
        '{"a":"\\x00"}',
      ]);
      d.body = { kind: 'raw', text };
      return text.length > 20 ? `${text.slice(0, 20)}…` : text;
    },
  },
  {
    name: 'duplicate keys',
    applies: (d) => isJsonObject(d.body) && bodyFieldNames(d).length > 0,
    apply: (d, { rng }) => {
      const value = (d.body as { value: Json }).value;
      const field = rng.pick(Object.keys(value));
      const text = JSON.stringify(value).replace(
        /^\{/,
        `{${JSON.stringify(field)}:${JSON.stringify(rng.pick<unknown>([1, 'x', null, { a: 1 }]))},`,
      );
      d.body = { kind: 'raw', text };
      return field;
    },
  },
  {
    name: 'empty body',
    applies: (d) => d.body !== undefined,
    apply: (d, { rng }) => {
      d.body = { kind: 'raw', text: rng.pick(['', ' ', '\n']) };
    },
  },
  {
    name: 'oversized body',
    applies: (d) => d.method !== 'GET',
    apply: (d, { rng }) => {
      // Just past the default 1 MiB limit; sent rarely, it is the slowest request.
      const text = JSON.stringify({ name: 'x'.repeat(1_048_600) });
      d.body = { kind: 'raw', text };
      d.contentType ??= rng.pick(['application/json', 'text/markdown']);
      return `${text.length} bytes`;
    },
  },
  {
    name: 'body on an operation without one',
    applies: (d) => !d.op.body && d.method !== 'GET',
    apply: (d, { rng }) => {
      d.body = { kind: 'json', value: rng.pick<unknown>([{ name: 'x' }, [], 'x', null]) };
      d.contentType = rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);
    },
  },
  {
    name: 'wrong or missing Content-Type',
    applies: (d) => d.body !== undefined,
    apply: (d, { rng }) => {
      const value = rng.pick<string | null>([
        null,
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/json-patch+json',
        'application/jsonx',
        'application/json; charset=utf-16',
        'APPLICATION/JSON',
        'text/markdown',
        'application/json',
        'x',
        ';',
        'application/json, text/markdown',
      ]);
      d.contentType = value;
      return value ?? 'none';
    },
  },
];

/** Agent definitions that are wrong in one way each: the front matter, its YAML, or one of its fields. */
function brokenAgentDefinition(rng: Rng): string {
  const valid = (frontMatter: string, instructions = 'Do the work.') => `---\n${frontMatter}\n---\n${instructions}\n`;
  return rng.pick([
    () => 'No front matter at all.',
    () => '---\nname: unterminated\nStill the front matter.',
    () => '---\n---\nEmpty front matter.',
    () => valid('name: [unclosed'),
    () => valid('name: a\n\tdescription: tab-indented'),
    () => valid('- a\n- b'),
    () => valid('just a string'),
    () => valid('name: dup\nname: dup'),
    () => valid('name: 123'),
    () => valid('name: [a, b]'),
    () => valid('name: {a: 1}'),
    () => valid('name: Upper_Case'),
    () => valid(`name: ${'a'.repeat(49)}`),
    () => valid('name: ok-name\ndescription: {a: 1}'),
    () => valid(`name: ok-name\ndescription: ${'d'.repeat(1001)}`),
    () => valid('name: ok-name\ntools: {a: 1}'),
    () => valid('name: ok-name\ntools: [Read, 7, null]'),
    () => valid('name: ok-name\ntools: Read, Teleport'),
    () => valid('name: ok-name\nmodel: gpt-9-ultra'),
    () => valid('name: ok-name\nmodel: [inherit]'),
    () => valid('name: ok-name\nmodel: ~'),
    () => valid('name: !!js/function "function () {}"'),
    () => valid('name: !!binary aGVsbG8='),
    () => valid('name: &a ok-name\ndescription: *a'),
    () => valid('name: *undefined_alias'),
    () => valid('name: ok-name\n? [complex, key]\n: value'),
    () => valid('name: ok-name\nextra: 1e999\nbig: 123456789012345678901234567890'),
    () => valid('name: ok-name', ''),
    () => valid('name: ok-name', '   \n\t\n'),
    () => valid('name: ok-name', 'x'.repeat(50_001)),
    () => valid(`name: ok-name\ndescription: "${'y'.repeat(16_400)}"`),
    () => `\uFEFF---\r\nname: crlf-name\r\n---\r\nCRLF instructions.\r\n`,
    () => '---\nname: trailing\n---',
    () => `${'---\n'.repeat(3)}name: many-fences\n---\nx`,
  ])();
}

const badPathSegments = [
  'not-a-uuid',
  '0',
  '-1',
  '%',
  '%ZZ',
  '%E0%A4%A',
  '%C0%AF',
  '%FF%FE',
  '%00',
  '%0A',
  '%01',
  '%u0041',
  '%2F',
  '%2e%2e',
  '..',
  '%C3%A9',
  '%F0%9F%98%80',
  'x'.repeat(3000),
  '3F1C9A52-7D2E-4B8A-9C41-2F6D8E0B7A13',
  '%20',
  '00000000-0000-0000-0000-000000000000',
];

const paramMutations: Mutation[] = [
  {
    name: 'bad path segment',
    applies: (d) => Object.keys(d.pathParams).length > 0,
    apply: (d, { rng }) => {
      const name = rng.pick(Object.keys(d.pathParams));
      const value = rng.pick(badPathSegments);
      d.pathParams[name] = value;
      // A segment that decodes to `/` or `..` may be routed elsewhere, or nowhere.
      if (['%2F', '..', '%2e%2e', '%'].includes(value)) d.routing = 'maybe';
      return `${name}=${value.slice(0, 30)}`;
    },
  },
  {
    name: 'resource of another kind',
    applies: (d) => Object.keys(d.pathParams).length > 0,
    apply: (d, { rng, fixture }) => {
      const name = rng.pick(Object.keys(d.pathParams));
      const other = rng.pick(Object.values(fixture.ids));
      d.pathParams[name] = other;
      return name;
    },
  },
  {
    name: 'bad query value',
    applies: (d) => d.op.parameters.some((p) => p.in === 'query'),
    apply: (d, { rng }) => {
      const parameter = rng.pick(d.op.parameters.filter((p) => p.in === 'query'));
      const schema = parameter.schema;
      const candidates = [
        ...(schema.format ? (badFormats[schema.format] ?? []) : []),
        ...(schema.type === 'integer' ? ['abc', '1.5', '-1', '0', '101', '9007199254740993', '1e308', '0x10', ' 5', '5 '] : []),
        ...(schema.type === 'boolean' ? ['yes', '2', 'TRUE', 'null', '1', '0'] : []),
        ...(schema.enum ? ['nope', 'OWNER', ''] : []),
        '',
        '%ZZ',
        '%E0%A4%A',
        '%00',
        '%01',
        '%C3%A9',
        'x'.repeat(600),
      ];
      const value = rng.pick(candidates);
      const raw = /%/.test(value) ? value : encodeURIComponent(value);
      d.query = d.query.filter(([k]) => k !== parameter.name).concat([[parameter.name, raw]]);
      return `${parameter.name}=${raw.slice(0, 30)}`;
    },
  },
  {
    name: 'missing required query parameter',
    applies: (d) => d.op.parameters.some((p) => p.in === 'query' && p.required),
    apply: (d, { rng }) => {
      const name = rng.pick(d.op.parameters.filter((p) => p.in === 'query' && p.required)).name;
      d.query = d.query.filter(([k]) => k !== name);
      return name;
    },
  },
  {
    name: 'unknown query parameter',
    applies: () => true,
    apply: (d, { rng }) => {
      const name = rng.pick(['foo', 'limit', 'include_deleted', 'orgId', '__proto__', 'q[]', 'a[b]', '%ZZ', '%00', '', 'x'.repeat(200)]);
      d.query.push([name, rng.pick(['1', '', flagOnly, 'x'])]);
      return name.slice(0, 30);
    },
  },
  {
    name: 'duplicated query parameter',
    applies: (d) => d.op.parameters.some((p) => p.in === 'query'),
    apply: (d, { rng, fixture }) => {
      const parameter = rng.pick(d.op.parameters.filter((p) => p.in === 'query'));
      const value = () => encodeURIComponent(String(validValue(parameter.schema, rng, fixture, parameter.name)));
      d.query.push([parameter.name, value()], [parameter.name, value()]);
      return parameter.name;
    },
  },
  {
    name: 'bad header value',
    applies: (d) => d.op.parameters.some((p) => p.in === 'header' && p.name !== 'Stripe-Signature'),
    apply: (d, { rng }) => {
      const value = rng.pick(['', ' ', 'x'.repeat(256), 'x'.repeat(5000), 'ünï', '\u00ff\u00fe', 'a,b', 'fuzz-key-1']);
      d.headers['Idempotency-Key'] = value;
      return `Idempotency-Key of ${value.length} characters`;
    },
  },
  {
    name: 'client request id',
    applies: () => true,
    apply: (d, { rng }) => {
      const value = rng.pick(['fuzz-request-1', 'x'.repeat(129), 'has space', 'ünï', '<script>', '', 'a'.repeat(128)]);
      d.headers['X-Request-Id'] = value;
      return value.slice(0, 30);
    },
  },
];

const authMutations: Mutation[] = [
  {
    name: 'no credentials',
    applies: () => true,
    apply: (d) => {
      delete d.headers.Authorization;
      delete d.headers['X-Api-Key'];
    },
  },
  {
    name: 'forged token',
    applies: () => true,
    apply: (d, { fixture }) => {
      const [header = '', payload = ''] = fixture.credentials.token.split('.');
      d.headers = { ...d.headers, Authorization: `Bearer ${header}.${payload}.${Buffer.from('forged signature').toString('base64url')}` };
      delete d.headers['X-Api-Key'];
    },
  },
  {
    name: 'token of another kind',
    applies: (_, { fixture }) =>
      Boolean(fixture.credentials.expiredToken || fixture.credentials.strangerToken || fixture.credentials.wrongAudienceToken),
    apply: (d, { rng, fixture }) => {
      const { expiredToken, strangerToken, wrongAudienceToken } = fixture.credentials;
      const [label, token] = rng.pick(
        (
          [
            ['expired', expiredToken],
            ['stranger', strangerToken],
            ['wrong audience', wrongAudienceToken],
          ] as const
        ).filter(([, t]) => t),
      );
      d.headers = { ...d.headers, Authorization: `Bearer ${token!}` };
      delete d.headers['X-Api-Key'];
      return label;
    },
  },
  {
    name: 'malformed Authorization',
    applies: () => true,
    apply: (d, { rng }) => {
      const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(`{"sub":"${rng.uuid()}","aud":"authenticated","email":"a@example.com","exp":9999999999}`).toString('base64url')}.`;
      const value = rng.pick([
        'Bearer',
        'Bearer ',
        'Basic dXNlcjpwYXNz',
        'Bearer a.b.c',
        'Bearer ...',
        'bearer x',
        `Bearer ${none}`,
        `Bearer ${'x'.repeat(6000)}`,
        'Bearer e30.e30.e30',
        'Bearer bnVsbA.bnVsbA.x',
        'Bearer W10.W10.x',
        `Bearer sk_live_${'A'.repeat(40)}`,
        'Token abc',
        'Bearer ünï',
      ]);
      d.headers = { ...d.headers, Authorization: value };
      delete d.headers['X-Api-Key'];
      return value.length > 40 ? `${value.slice(0, 40)}…` : value;
    },
  },
  {
    name: 'API key that does not exist',
    applies: () => true,
    apply: (d, { rng }) => {
      const value = rng.pick([
        `sk_live_${rng.string(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`,
        'sk_live_short',
        'not-a-key',
        `sk_live_${'ü'.repeat(40)}`,
        '',
      ]);
      delete d.headers.Authorization;
      d.headers['X-Api-Key'] = value;
      return value.slice(0, 16);
    },
  },
  {
    name: 'both credentials',
    applies: (_, { fixture }) => Boolean(fixture.credentials.apiKey),
    apply: (d, { fixture }) => {
      d.headers = { ...d.headers, Authorization: `Bearer ${fixture.credentials.token}`, 'X-Api-Key': fixture.credentials.apiKey! };
    },
  },
];

const signatureMutations: Mutation[] = [
  {
    name: 'bad Stripe-Signature',
    applies: (d) => d.op.operationId === 'receiveStripeWebhook',
    apply: (d, { rng }) => {
      const stale = Math.floor(Date.now() / 1000) - 3600;
      const value = rng.pick([
        `t=${stale},v1=${'0'.repeat(64)}`,
        't=1,v1=abc',
        'v1=abc',
        't=abc',
        '',
        'garbage',
        `t=${Math.floor(Date.now() / 1000)},v1=${'f'.repeat(64)},v0=${'0'.repeat(64)}`,
        `t=${'9'.repeat(30)},v1=x`,
        'x'.repeat(4097),
      ]);
      d.signature = rng.chance(0.2) ? { kind: 'none' } : { kind: 'literal', value };
      return d.signature.kind === 'none' ? 'none' : value.slice(0, 30);
    },
  },
];

const routingMutations: Mutation[] = [
  {
    name: 'method the path lacks',
    applies: (d, { operations }) => methodsOf(d.op.path, operations).length < methods.length,
    apply: (d, { rng, operations }) => {
      const taken = methodsOf(d.op.path, operations);
      d.method = rng.pick(methods.filter((m) => !taken.includes(m)));
      if (d.method === 'GET') d.body = undefined;
      return d.method;
    },
  },
  {
    name: 'unknown route',
    applies: () => true,
    apply: (d, { rng }) => {
      const path = d.op.path.replace(/\{([^}]+)\}/g, (_, name: string) => d.pathParams[name] ?? '');
      d.pathOverride = rng.pick([`${path}/nope`, path.replace('/v1/', '/v2/'), `/v1/${rng.string(8)}`, `${path}/${rng.uuid()}/x`]);
      return d.pathOverride.slice(0, 60);
    },
  },
  {
    name: 'odd path shape',
    applies: () => true,
    apply: (d, { rng }) => {
      const path = d.op.path.replace(/\{([^}]+)\}/g, (_, name: string) => d.pathParams[name] ?? '');
      d.pathOverride = rng.pick([
        `${path}/`,
        path.replace('/v1/', '/v1//'),
        path.toUpperCase(),
        path.replace('/v1/', '/v1/./'),
        `${path};x=1`,
        `${path}%20`,
      ]);
      d.routing = 'maybe';
      return d.pathOverride.slice(0, 60);
    },
  },
];

function methodsOf(path: string, operations: Operation[]): string[] {
  return operations.filter((op) => op.path === path).map((op) => op.method);
}

export const mutations: Mutation[] = [...bodyMutations, ...paramMutations, ...authMutations, ...signatureMutations, ...routingMutations];

/** Request `index` of a run: the same seed, index and fixture give the same request. */
export function generateRequest(operations: Operation[], fixture: FuzzFixture, seed: number, index: number): FuzzRequest {
  const rng = requestRng(seed, index);
  const ctx: MutationContext = { rng, fixture, operations };
  const draft = validDraft(rng.pick(operations), rng, fixture);
  const count = rng.chance(0.25) ? 0 : rng.chance(0.8) ? 1 : 2;
  for (let i = 0; i < count; i++) {
    const applicable = mutations.filter((m) => m.applies(draft, ctx) && (m.name !== 'oversized body' || rng.chance(0.1)));
    if (!applicable.length) break;
    const mutation = rng.pick(applicable);
    const note = mutation.apply(draft, ctx);
    draft.mutations.push(note ? `${mutation.name} (${note})` : mutation.name);
  }
  return finalize(draft, fixture, operations, seed, index);
}
