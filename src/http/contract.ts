// The contract's operations, read once at start from the bundled document: what routing, request
// validation and the response check work from.
import bundled from '../generated/openapi.json' with { type: 'json' };

export type JsonSchema = Record<string, unknown>;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonSchema;
}

export interface MediaType {
  schema?: JsonSchema;
}

export interface Operation {
  operationId: string;
  /** Upper case, as it arrives on the wire. */
  method: string;
  /** The path template, e.g. `/v1/organizations/{orgId}`. */
  path: string;
  parameters: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, { content?: Record<string, MediaType> }>;
  /** Alternatives, each a set of schemes that must all pass; empty: public. */
  security: Record<string, string[]>[];
  /** Set when the contract marks the operation `deprecated`: since when (`x-deprecated-since`), and until when (`x-sunset`). */
  deprecation?: Deprecation;
  /** Parameters and top-level JSON body fields the contract marks `deprecated`: a request that sends one is told so. */
  deprecatedInputs: { in: 'query' | 'header' | 'body'; name: string; deprecation: Deprecation }[];
}

export interface Deprecation {
  since: string;
  sunset?: string;
}

export interface OpenApiDocument {
  info: { version: string };
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, unknown>; [section: string]: unknown };
}

export const contract = bundled as unknown as OpenApiDocument;

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every operation of the document, with parameters, bodies and responses resolved from their `$ref`s. */
export function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    const shared = (item.parameters ?? []) as unknown[];
    for (const method of methods) {
      const op = item[method] as Record<string, unknown> | undefined;
      if (!op || typeof op.operationId !== 'string') continue;
      const parameters = new Map<string, Parameter>();
      // Operation-level parameters override path-level ones of the same name and location.
      for (const raw of [...shared, ...((op.parameters ?? []) as unknown[])]) {
        const parameter = resolve<Parameter>(document, raw);
        parameters.set(`${parameter.in}:${parameter.name}`, parameter);
      }
      const responses: Operation['responses'] = {};
      for (const [status, response] of Object.entries((op.responses ?? {}) as Record<string, unknown>)) {
        responses[status] = resolve(document, response);
      }
      operations.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        path,
        parameters: [...parameters.values()],
        requestBody: op.requestBody ? resolve(document, op.requestBody) : undefined,
        responses,
        security: (op.security ?? document.security ?? []) as Record<string, string[]>[],
        deprecation: op.deprecated === true ? deprecationOf(op, op.operationId) : undefined,
        deprecatedInputs: deprecatedInputsOf(document, op.operationId, [...parameters.values()], op.requestBody),
      });
    }
  }
  return operations;
}

function deprecationOf(node: Record<string, unknown>, name: string): Deprecation {
  const since = node['x-deprecated-since'];
  const sunset = node['x-sunset'];
  const isDate = (value: unknown) => typeof value === 'string' && !Number.isNaN(Date.parse(value));
  // Deprecation (RFC 9745) is a date: whatever is deprecated must say since when.
  if (!isDate(since)) throw new Error(`${name} is deprecated: give it an x-deprecated-since date.`);
  if (sunset !== undefined && !isDate(sunset)) throw new Error(`${name}: x-sunset must be a date.`);
  return { since: since as string, sunset: sunset as string | undefined };
}

function deprecatedInputsOf(
  document: OpenApiDocument,
  operationId: string,
  parameters: Parameter[],
  requestBody: unknown,
): Operation['deprecatedInputs'] {
  const inputs: Operation['deprecatedInputs'] = [];
  for (const parameter of parameters) {
    const node = parameter as unknown as Record<string, unknown>;
    if (node.deprecated === true && (parameter.in === 'query' || parameter.in === 'header')) {
      const name = parameter.in === 'header' ? parameter.name.toLowerCase() : parameter.name;
      inputs.push({ in: parameter.in, name, deprecation: deprecationOf(node, `${operationId} ${parameter.in} ${parameter.name}`) });
    }
  }
  const json = requestBody
    ? resolve<{ content?: Record<string, { schema?: unknown }> }>(document, requestBody).content?.['application/json']
    : undefined;
  const schema = json?.schema ? resolve<{ properties?: Record<string, unknown> }>(document, json.schema) : undefined;
  for (const [name, raw] of Object.entries(schema?.properties ?? {})) {
    const property = resolve<Record<string, unknown>>(document, raw);
    if (property.deprecated === true)
      inputs.push({ in: 'body', name, deprecation: deprecationOf(property, `${operationId} body.${name}`) });
  }
  return inputs;
}

/** Follows a local `$ref` (`#/components/...`) until it reaches the object itself. */
function resolve<T>(document: OpenApiDocument, value: unknown): T {
  let current = value as { $ref?: string };
  for (let hops = 0; typeof current?.$ref === 'string'; hops++) {
    if (hops > 16 || !current.$ref.startsWith('#/')) throw new Error(`Cannot resolve ${current.$ref} in the contract.`);
    current = current.$ref
      .slice(2)
      .split('/')
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], document) as { $ref?: string };
  }
  if (current === undefined) throw new Error('A $ref of the contract points at nothing.');
  return current as T;
}
