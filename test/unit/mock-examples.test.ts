// The Prism mock answers the contract's examples, so they must read like the service's answers: each operation's
// 400 names a field that operation really has, the health example carries the contract's version, and a
// `Retry-After` is short enough that a client retrying against the mock is not kept waiting.
import { describe, expect, it } from 'vitest';
import { contract } from '../../src/http/contract.js';

type Json = Record<string, unknown>;
const doc = contract as unknown as Json & { info: { version: string }; paths: Record<string, Record<string, Json>> };
const methods = ['get', 'put', 'post', 'patch', 'delete'];

/** Follows local `$ref`s (`#/components/...`) to the object they name. */
function resolve(value: unknown): Json {
  let current = value as Json;
  for (let hops = 0; typeof current?.$ref === 'string' && hops < 20; hops++) {
    current = (current.$ref as string)
      .slice(2)
      .split('/')
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<Json>((node, key) => node[key] as Json, doc);
  }
  return current;
}

/** The top-level properties a body schema accepts, through `allOf`, `oneOf` and `anyOf`. */
function bodyFields(schema: unknown, depth = 0): string[] {
  const node = resolve(schema);
  if (!node || depth > 10) return [];
  const parts = ['allOf', 'oneOf', 'anyOf'].flatMap((key) => (node[key] as unknown[] | undefined) ?? []);
  return [...Object.keys((node.properties as Json | undefined) ?? {}), ...parts.flatMap((part) => bodyFields(part, depth + 1))];
}

/** The 400 examples of a response (`example` and each of `examples`), as the mock would answer them. */
function examplesOf(response: Json): { field: string }[][] {
  const media = ((resolve(response).content as Json | undefined)?.['application/json'] ?? {}) as Json;
  const named = Object.values((media.examples as Record<string, Json> | undefined) ?? {}).map((example) => resolve(example).value);
  return [media.example, ...named]
    .filter((example) => example !== undefined)
    .map((example) => ((example as { error?: { details?: { field: string }[] } }).error?.details ?? []) as { field: string }[]);
}

const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  methods
    .filter((method) => item[method])
    .map((method) => {
      const operation = item[method] as Json & { operationId: string; responses: Record<string, unknown> };
      const parameters = [...((item.parameters as unknown[] | undefined) ?? []), ...((operation.parameters as unknown[] | undefined) ?? [])]
        .map(resolve)
        .map((parameter) => ({ in: String(parameter.in), name: String(parameter.name) }));
      const content = ((operation.requestBody ? resolve(operation.requestBody).content : undefined) ?? {}) as Record<string, Json>;
      const body = Object.values(content).flatMap((media) => bodyFields(media.schema));
      const inputs = new Set([
        ...parameters.map((parameter) => `${parameter.in}.${parameter.name}`),
        ...(operation.requestBody ? ['body', ...body.map((name) => `body.${name}`)] : []),
      ]);
      return { id: operation.operationId, path, method, inputs, parameters, response: operation.responses['400'] as Json | undefined };
    }),
);

describe("each operation's 400 example", () => {
  it('names a field the operation has, in the service’s naming (`body.name`, `query.limit`, `path.orgId`, `header.X`)', () => {
    const problems: string[] = [];
    for (const operation of operations) {
      if (!operation.response) continue;
      // Nothing but a header to get wrong: the one 400 left is a query parameter the operation does not declare.
      const onlyUndeclared = !operation.parameters.some((parameter) => parameter.in !== 'header') && !operation.inputs.has('body');
      const examples = examplesOf(operation.response);
      if (!examples.some((details) => details.length > 0)) problems.push(`${operation.id}: no 400 example names a field`);
      for (const field of examples.flat().map((detail) => detail.field)) {
        // `body.tools.1` is the field `tools`; a header's name may hold no dot, a query parameter's neither.
        const named = field.startsWith('body.') ? field.split('.').slice(0, 2).join('.') : field;
        const undeclared = /^query\./.test(field) && !operation.inputs.has(field);
        if (operation.inputs.has(named) || (onlyUndeclared && undeclared)) continue;
        problems.push(`${operation.id}: ${field} is not one of ${[...operation.inputs].join(', ') || '(no inputs)'}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('is its own, not the shared one, wherever the operation has a parameter or a body to name', () => {
    const shared = operations.filter(
      (operation) =>
        operation.response?.$ref === '#/components/responses/BadRequest' &&
        (operation.inputs.has('body') || operation.parameters.some((parameter) => parameter.in !== 'header')),
    );
    expect(shared.map((operation) => operation.id)).toEqual([]);
  });
});

describe('the health example', () => {
  it('carries the contract version, as the service answers it', () => {
    const health = doc.paths['/v1/health']!.get as Json & { responses: Record<string, Json> };
    const media = (resolve(health.responses['200']).content as Record<string, Json>)['application/json']!;
    expect((media.example as { data: { version: string } }).data.version).toBe(doc.info.version);
    const schema = resolve((doc.components as { schemas: Json }).schemas.Health) as { properties: { version: { examples?: string[] } } };
    expect(schema.properties.version.examples ?? []).toEqual([doc.info.version]);
  });
});

describe('Retry-After examples', () => {
  it('are at most 2 seconds, so that the SDK retrying against the mock is not kept waiting', () => {
    const found: string[] = [];
    const visit = (node: unknown, where: string): void => {
      if (!node || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'Retry-After' || (key === 'RetryAfter' && where.endsWith('/headers'))) {
          const header = resolve(value);
          for (const example of [header.example, ...(((header.schema as Json | undefined)?.examples as unknown[]) ?? [])]) {
            if (example !== undefined && !(Number(example) >= 1 && Number(example) <= 2)) found.push(`${where}/${key}: ${String(example)}`);
          }
        }
        visit(value, `${where}/${key}`);
      }
    };
    visit(doc, '#');
    expect(found).toEqual([]);
  });
});
