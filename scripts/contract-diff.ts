// What a new contract breaks for clients of the released one: operations removed, requests that were valid
// and no longer are (a new required field or parameter, a narrower type, an enum value gone, a tighter limit),
// and responses that no longer carry what clients read (a field, a success status, a property made optional).
// OpenAPI 3.1 with JSON Schema 2020-12, on bundled documents (local $refs only). Used by `npm run api:check`.

type Json = Record<string, unknown>;
type Direction = 'request' | 'response';

const methods = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const;

export function breakingChanges(released: Json, current: Json): string[] {
  const found: string[] = [];
  const oldPaths = (released.paths ?? {}) as Record<string, Json>;
  const newPaths = (current.paths ?? {}) as Record<string, Json>;
  for (const [path, oldItem] of Object.entries(oldPaths)) {
    for (const method of methods) {
      const oldOp = oldItem[method] as Json | undefined;
      if (!oldOp) continue;
      const where = `${method.toUpperCase()} ${path}`;
      const newOp = newPaths[path]?.[method] as Json | undefined;
      if (!newOp) {
        found.push(`${where}: the operation was removed`);
        continue;
      }
      if (oldOp.operationId !== newOp.operationId)
        found.push(`${where}: operationId ${String(oldOp.operationId)} became ${String(newOp.operationId)}`);
      compareOperation(released, current, where, oldOp, newOp, [...list(oldItem.parameters)], [...list(newPaths[path]!.parameters)], found);
    }
  }
  return found;
}

function compareOperation(
  oldDoc: Json,
  newDoc: Json,
  where: string,
  oldOp: Json,
  newOp: Json,
  oldShared: unknown[],
  newShared: unknown[],
  found: string[],
): void {
  // Parameters, by location and name.
  const params = (doc: Json, op: Json, shared: unknown[]) => {
    const byKey = new Map<string, Json>();
    for (const raw of [...shared, ...list(op.parameters)]) {
      const p = resolve(doc, raw);
      byKey.set(`${String(p.in)} ${String(p.name).toLowerCase()}`, p);
    }
    return byKey;
  };
  const oldParams = params(oldDoc, oldOp, oldShared);
  const newParams = params(newDoc, newOp, newShared);
  for (const [key, p] of newParams) {
    const before = oldParams.get(key);
    if (!before && p.required) found.push(`${where}: new required parameter ${key}`);
    if (before && p.required && !before.required) found.push(`${where}: parameter ${key} became required`);
  }
  for (const [key, before] of oldParams) {
    const after = newParams.get(key);
    // Unknown query parameters are refused with a 400, so a removed one breaks the clients that send it.
    if (!after) {
      if (before.in !== 'header') found.push(`${where}: parameter ${key} was removed`);
      continue;
    }
    compareSchema(oldDoc, newDoc, `${where} parameter ${key}`, before.schema, after.schema, 'request', found, new Set());
  }

  // The request body.
  const oldBody = oldOp.requestBody ? resolve(oldDoc, oldOp.requestBody) : undefined;
  const newBody = newOp.requestBody ? resolve(newDoc, newOp.requestBody) : undefined;
  if (newBody?.required && !oldBody?.required) found.push(`${where}: the request body became required`);
  if (oldBody && newBody) {
    const oldContent = (oldBody.content ?? {}) as Record<string, Json>;
    const newContent = (newBody.content ?? {}) as Record<string, Json>;
    for (const [type, media] of Object.entries(oldContent)) {
      if (!newContent[type]) found.push(`${where}: the request body no longer accepts ${type}`);
      else compareSchema(oldDoc, newDoc, `${where} request body`, media.schema, newContent[type]!.schema, 'request', found, new Set());
    }
  } else if (oldBody && !newBody) {
    found.push(`${where}: the request body is no longer accepted`);
  }

  // Success responses: still there, still carrying what they carried.
  const oldResponses = (oldOp.responses ?? {}) as Record<string, unknown>;
  const newResponses = (newOp.responses ?? {}) as Record<string, unknown>;
  for (const [status, raw] of Object.entries(oldResponses)) {
    if (!/^2/.test(status)) continue;
    if (!newResponses[status]) {
      found.push(`${where}: the ${status} response was removed`);
      continue;
    }
    const oldContent = (resolve(oldDoc, raw).content ?? {}) as Record<string, Json>;
    const newContent = (resolve(newDoc, newResponses[status]).content ?? {}) as Record<string, Json>;
    for (const [type, media] of Object.entries(oldContent)) {
      if (!newContent[type]) found.push(`${where}: the ${status} response no longer comes as ${type}`);
      else
        compareSchema(oldDoc, newDoc, `${where} ${status} response`, media.schema, newContent[type]!.schema, 'response', found, new Set());
    }
  }

  // Error codes: each error response lists the codes it can carry (an enum on its `error.code`), and clients
  // switch over an operation's codes exhaustively; so a code new to the operation, at any status, is a new value
  // in a response enum. An operation whose released error responses were not narrowed promised no list.
  const oldCodes = operationErrorCodes(oldDoc, oldResponses);
  const newCodes = operationErrorCodes(newDoc, newResponses);
  if (oldCodes && !newCodes) found.push(`${where}: its error responses no longer list the codes they carry`);
  if (oldCodes && newCodes) {
    for (const [code, status] of newCodes) if (!oldCodes.has(code)) found.push(`${where}: may now answer error code ${code} (${status})`);
  }

  // Security: an operation anyone could call now wants credentials.
  const isPublic = (doc: Json, op: Json) => {
    const security = (op.security ?? doc.security ?? []) as unknown[];
    return security.length === 0 || security.some((requirement) => Object.keys(requirement as Json).length === 0);
  };
  if (isPublic(oldDoc, oldOp) && !isPublic(newDoc, newOp)) found.push(`${where}: now requires credentials`);
}

/** A reported change that reviewers judged to break no client (api/released/accepted-changes.yaml), and why. */
export interface AcceptedChange {
  /** A reported line; `*` stands for any text. */
  change: string;
  reason: string;
}

/** The changes no accepted entry matches, and the entries that match none of them (stale: to remove). */
export function withoutAccepted(changes: string[], accepted: AcceptedChange[]): { breaking: string[]; stale: AcceptedChange[] } {
  const patterns = accepted.map((entry) => {
    if (typeof entry.change !== 'string' || typeof entry.reason !== 'string' || !entry.reason.trim())
      throw new Error(`An accepted change needs a \`change\` and a \`reason\`: ${JSON.stringify(entry)}`);
    const source = entry.change
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    return { entry, pattern: new RegExp(`^${source}$`), used: false };
  });
  const breaking = changes.filter((change) => {
    const matching = patterns.filter(({ pattern }) => pattern.test(change));
    for (const match of matching) match.used = true;
    return matching.length === 0;
  });
  return { breaking, stale: patterns.filter(({ used }) => !used).map(({ entry }) => entry) };
}

/**
 * Requests: what was valid must stay valid (no narrowing). Responses: what clients read must stay (no field
 * removed or made optional, no type changed, no enum widened that clients switch over).
 */
function compareSchema(
  oldDoc: Json,
  newDoc: Json,
  where: string,
  oldRaw: unknown,
  newRaw: unknown,
  direction: Direction,
  found: string[],
  seen: Set<string>,
): void {
  if (oldRaw === undefined || newRaw === undefined) return;
  const key = `${refOf(oldRaw)}|${refOf(newRaw)}|${direction}`;
  if (seen.has(key) && key !== '||' + direction) return;
  seen.add(key);
  const before = resolve(oldDoc, oldRaw);
  const after = resolve(newDoc, newRaw);

  const oldTypes = types(before);
  const newTypes = types(after);
  if (oldTypes && newTypes) {
    const lost = oldTypes.filter((t) => !newTypes.includes(t) && !(t === 'integer' && newTypes.includes('number')));
    const gained = newTypes.filter((t) => !oldTypes.includes(t) && !(t === 'integer' && oldTypes.includes('number')));
    if (direction === 'request' && lost.length) found.push(`${where}: no longer accepts ${lost.join(', ')}`);
    if (direction === 'response' && (gained.length || lost.length))
      found.push(`${where}: type ${oldTypes.join('|')} became ${newTypes.join('|')}`);
  }

  const oldEnum = enumOf(before);
  const newEnum = enumOf(after);
  if (direction === 'request' && newEnum) {
    const gone = (oldEnum ?? []).filter((v) => !newEnum.some((n) => JSON.stringify(n) === JSON.stringify(v)));
    if (!oldEnum) found.push(`${where}: now accepts only ${newEnum.map((v) => JSON.stringify(v)).join(', ')}`);
    else if (gone.length) found.push(`${where}: no longer accepts ${gone.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  if (direction === 'response' && oldEnum && newEnum && after['x-extensible-enum'] !== true) {
    const added = newEnum
      .filter((v) => !oldEnum.some((o) => JSON.stringify(o) === JSON.stringify(v)))
      .filter((v) => !(typeof v === 'string' && optsIn(newDoc, after, v)));
    if (added.length) found.push(`${where}: may now answer ${added.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  if (direction === 'response' && oldEnum && !newEnum)
    found.push(`${where}: may now answer values beyond ${oldEnum.map((v) => JSON.stringify(v)).join(', ')}`);

  // A request schema that listed its values (enum or const) accepted just those: a new limit is narrower only if
  // one of them breaks it.
  const oldValuesPass = (test: (value: unknown) => boolean) => oldEnum !== undefined && oldEnum.every(test);
  if (direction === 'request') {
    const length = (value: unknown) => (typeof value === 'string' ? [...value].length : undefined);
    const valueChecks: Record<string, (bound: number) => (value: unknown) => boolean> = {
      maxLength: (bound) => (value) => (length(value) ?? 0) <= bound,
      minLength: (bound) => (value) => (length(value) ?? bound) >= bound,
      maximum: (bound) => (value) => typeof value !== 'number' || value <= bound,
      minimum: (bound) => (value) => typeof value !== 'number' || value >= bound,
      maxItems: () => () => false,
      minItems: () => () => false,
    };
    for (const [limit, tighter] of [
      ['maxLength', (a: number, b: number) => b < a],
      ['maxItems', (a: number, b: number) => b < a],
      ['maximum', (a: number, b: number) => b < a],
      ['minLength', (a: number, b: number) => b > a],
      ['minItems', (a: number, b: number) => b > a],
      ['minimum', (a: number, b: number) => b > a],
    ] as const) {
      const a = before[limit];
      const b = after[limit];
      if (
        typeof b === 'number' &&
        (typeof a !== 'number' || tighter(a, b)) &&
        !oldValuesPass(valueChecks[limit]!(b)) &&
        !alreadyLimited(oldDoc, before, limit, b)
      )
        found.push(`${where}: ${limit} ${a ?? 'none'} became ${b}`);
    }
    const newPattern = typeof after.pattern === 'string' ? new RegExp(after.pattern, 'u') : undefined;
    if (
      after.pattern !== undefined &&
      after.pattern !== before.pattern &&
      !oldValuesPass((v) => typeof v === 'string' && !!newPattern?.test(v))
    )
      found.push(`${where}: pattern ${String(before.pattern ?? 'none')} became ${String(after.pattern)}`);
    if (after.format !== undefined && after.format !== before.format && !withinFormat(before, after.format))
      found.push(`${where}: format ${String(before.format ?? 'none')} became ${String(after.format)}`);
  }

  const oldProps = (before.properties ?? {}) as Record<string, unknown>;
  const newProps = (after.properties ?? {}) as Record<string, unknown>;
  const oldRequired = new Set(list(before.required) as string[]);
  const newRequired = new Set(list(after.required) as string[]);
  if (direction === 'request') {
    for (const name of newRequired) if (!oldRequired.has(name)) found.push(`${where}: new required field ${name}`);
    for (const name of Object.keys(oldProps)) {
      if (!(name in newProps) && after.additionalProperties === false) found.push(`${where}: field ${name} is no longer accepted`);
    }
  } else {
    for (const name of oldRequired) {
      if (!(name in newProps) && !newRequired.has(name)) found.push(`${where}: field ${name} was removed`);
      else if (!newRequired.has(name)) found.push(`${where}: field ${name} is no longer always present`);
    }
    for (const name of Object.keys(oldProps))
      if (!(name in newProps) && !oldRequired.has(name)) found.push(`${where}: field ${name} was removed`);
  }
  for (const [name, schema] of Object.entries(oldProps)) {
    if (name in newProps) compareSchema(oldDoc, newDoc, `${where}.${name}`, schema, newProps[name], direction, found, seen);
  }
  if (before.items !== undefined && after.items !== undefined)
    compareSchema(oldDoc, newDoc, `${where}[]`, before.items, after.items, direction, found, seen);
  for (const combinator of ['allOf'] as const) {
    const a = list(before[combinator]);
    const b = list(after[combinator]);
    for (let i = 0; i < Math.min(a.length, b.length); i++) compareSchema(oldDoc, newDoc, where, a[i], b[i], direction, found, seen);
  }
}

/**
 * Whether a new request limit only states one the old schema already imposed another way: a `date` is 10
 * characters, and an array of distinct values of an n-value enum holds at most n items.
 */
function alreadyLimited(doc: Json, schema: Json, limit: string, bound: number): boolean {
  if (limit === 'maxLength') return schema.format === 'date' && bound >= 10;
  if (limit === 'maxItems' && schema.uniqueItems === true) {
    const values = schema.items === undefined ? undefined : enumOf(resolve(doc, schema.items));
    return values !== undefined && bound >= values.length;
  }
  return false;
}

const integerFormats: Record<string, [number, number]> = { int32: [-(2 ** 31), 2 ** 31 - 1], int64: [-(2 ** 63), 2 ** 63] };

/** Whether an integer's old bounds already kept it within a new `int32`/`int64` format (which adds no other check). */
function withinFormat(schema: Json, format: unknown): boolean {
  const range = integerFormats[String(format)];
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  return range !== undefined && typeof low === 'number' && typeof high === 'number' && low >= range[0] && high <= range[1];
}

/**
 * A response enum may grow without breaking anyone in two ways the contract states: the schema says clients must
 * expect new values (`x-extensible-enum: true`, as the error codes do), or a new value appears only to clients
 * that asked for it (`x-opt-in-values: { value: Schema.property }`, naming an optional request field that a
 * client of the older contract cannot have sent).
 */
function optsIn(doc: Json, schema: Json, value: string): boolean {
  const optIn = (schema['x-opt-in-values'] as Record<string, unknown> | undefined)?.[value];
  if (typeof optIn !== 'string') return false;
  const [name, property] = optIn.split('.');
  const target = ((doc.components as Json | undefined)?.schemas as Record<string, Json> | undefined)?.[name ?? ''];
  const properties = (target?.properties ?? {}) as Record<string, unknown>;
  return property !== undefined && property in properties && !list(target?.required).includes(property);
}

/**
 * The error codes an error response declares: the enum its schema puts on `error.code` (through `allOf`, `$ref`s
 * and properties), or undefined when its code is open (the whole extensible `ErrorCode`, or no envelope).
 */
export function errorCodesOf(doc: Json, response: unknown): string[] | undefined {
  const content = (resolve(doc, response).content ?? {}) as Record<string, Json>;
  const schema = content['application/json']?.schema;
  if (schema === undefined) return undefined;
  const codes = new Set<string>();
  let narrowed = false;
  // Every schema that applies to `error.code`: all of them constrain it, so the narrowest enum is the answer.
  const visit = (raw: unknown, path: string[], depth: number): void => {
    if (depth > 20) return;
    const node = resolve(doc, raw);
    if (path.length === 0) {
      const values = enumOf(node);
      if (values && node['x-extensible-enum'] !== true) {
        if (!narrowed) for (const value of values) codes.add(String(value));
        else for (const code of [...codes]) if (!values.includes(code)) codes.delete(code);
        narrowed = true;
      }
    } else {
      const child = (node.properties as Record<string, unknown> | undefined)?.[path[0]!];
      if (child !== undefined) visit(child, path.slice(1), depth + 1);
    }
    for (const part of list(node.allOf)) visit(part, path, depth + 1);
  };
  visit(schema, ['error', 'code'], 0);
  return narrowed ? [...codes] : undefined;
}

/** Each code an operation's error responses declare, with its status; undefined when any of them is open. */
function operationErrorCodes(doc: Json, responses: Record<string, unknown>): Map<string, string> | undefined {
  const codes = new Map<string, string>();
  for (const [status, response] of Object.entries(responses)) {
    if (!/^[45]/.test(status)) continue;
    const declared = errorCodesOf(doc, response);
    if (!declared) return undefined;
    for (const code of declared) codes.set(code, status);
  }
  return codes;
}

function types(schema: Json): string[] | undefined {
  if (typeof schema.type === 'string') return [schema.type];
  if (Array.isArray(schema.type)) return schema.type as string[];
  if ('const' in schema) return undefined;
  return undefined;
}

function enumOf(schema: Json): unknown[] | undefined {
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  if ('const' in schema) return [schema.const];
  return undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function refOf(value: unknown): string {
  return value && typeof value === 'object' && typeof (value as Json).$ref === 'string' ? ((value as Json).$ref as string) : '';
}

/** Follows local $refs (`#/components/...`) to the object they name. */
function resolve(doc: Json, value: unknown): Json {
  let current = (value ?? {}) as Json;
  for (let hops = 0; typeof current.$ref === 'string' && hops < 20; hops++) {
    const ref = current.$ref as string;
    if (!ref.startsWith('#/')) throw new Error(`Only local references are compared, not ${ref}.`);
    current = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, part) => (node as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc) as Json;
    if (current === undefined) throw new Error(`Unresolved reference ${ref}.`);
  }
  return current;
}
