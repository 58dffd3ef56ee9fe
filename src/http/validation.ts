// Request and response validation: Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) over schemas built
// from the contract. For the bundled contract, `npm run gen` compiles the request validators ahead of time
// into src/generated/validators/ (standalone code, a module per operation imported on its first request:
// nothing is compiled at start, and a cold start evaluates only what it serves); for any other contract, and
// for the response check outside production, Ajv is loaded and compiles each operation's validators the first
// time it is called.
import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import type { JsonSchema, OpenApiDocument, Operation } from './contract.js';

/** What the parameters validator sees; coercion and defaults are applied to it in place. */
export interface RequestParts {
  path: Record<string, string>;
  query: Record<string, string | string[]>;
  header: Record<string, string | string[] | undefined>;
}

export interface OperationValidators {
  /** Path, query and header parameters: strings coerced to their declared types, defaults filled in. */
  parameters(parts: RequestParts): ErrorObject[] | undefined;
  /** A JSON body, defaults filled in; undefined when the operation takes no JSON body. */
  body?(value: unknown): ErrorObject[] | undefined;
}

export interface Validation {
  /** The operation's validators: at once once loaded, else a promise of them (the first request of the operation). */
  forOperation(operation: Operation): OperationValidators | Promise<OperationValidators>;
  /** A problem with a JSON response body, as text, or undefined when it conforms. */
  checkResponse(operation: Operation, status: number, body: unknown): string | undefined;
}

/** Validators compiled ahead of time: a loader per operationId. */
export interface Precompiled {
  loaders: Readonly<Record<string, () => Promise<{ parameters: ValidateFunction; body?: ValidateFunction }>>>;
}

export type ValidatorKind = 'parameters' | 'body' | 'response';

/** Ajv's options for each kind: parameters arrive as text; bodies keep their JSON types; responses are checked, never changed. */
export function ajvOptions(kind: ValidatorKind): Options {
  return { strict: false, allErrors: true, coerceTypes: kind === 'parameters', useDefaults: kind !== 'response' };
}

/** The schema of an operation's `{path, query, header}`; unknown path and query parameters are refused. */
export function parametersSchema(operation: Operation): JsonSchema {
  const location = (additionalProperties: boolean) => ({
    type: 'object',
    properties: {} as Record<string, unknown>,
    required: [] as string[],
    additionalProperties,
  });
  const properties = { path: location(false), query: location(false), header: location(true) };
  for (const parameter of operation.parameters) {
    if (parameter.in === 'cookie') continue;
    const target = properties[parameter.in];
    // Header names are case-insensitive and arrive lower-cased.
    const name = parameter.in === 'header' ? parameter.name.toLowerCase() : parameter.name;
    target.properties[name] = parameter.schema ? withContractRefs(parameter.schema) : {};
    if (parameter.required) target.required.push(name);
  }
  return { type: 'object', properties };
}

/** The schema of `{requestBody}` for a JSON body (wrapped, so errors point at `/requestBody/...`), if any. */
export function bodySchema(operation: Operation): JsonSchema | undefined {
  const json = operation.requestBody?.content['application/json']?.schema;
  return json ? { type: 'object', properties: { requestBody: withContractRefs(json) } } : undefined;
}

export async function createValidation(
  document: OpenApiDocument,
  options: { precompiled?: Precompiled; checkResponses: boolean },
): Promise<Validation> {
  const { precompiled } = options;
  const compiler = !precompiled || options.checkResponses ? await loadCompiler(document) : undefined;
  const byOperation = new Map<string, OperationValidators>();
  const responses = new Map<string, ValidateFunction | null>();

  const wrap = (parameters: ValidateFunction, body: ValidateFunction | undefined): OperationValidators => ({
    parameters: (parts) => (parameters(parts) ? undefined : (parameters.errors ?? [])),
    body: body && ((value) => (body({ requestBody: value }) ? undefined : (body.errors ?? []))),
  });
  const loading = new Map<string, Promise<OperationValidators>>();

  return {
    forOperation(operation) {
      const id = operation.operationId;
      const validators = byOperation.get(id);
      if (validators) return validators;
      if (precompiled) {
        let pending = loading.get(id);
        if (!pending) {
          const load = precompiled.loaders[id];
          if (!load) throw new Error(`No validators for ${id}: run \`npm run gen\`.`);
          pending = load().then(({ parameters, body }) => {
            const loaded = wrap(parameters, body);
            byOperation.set(id, loaded);
            return loaded;
          });
          loading.set(id, pending);
        }
        return pending;
      }
      const schema = bodySchema(operation);
      const compiled = wrap(compiler!('parameters', parametersSchema(operation)), schema && compiler!('body', schema));
      byOperation.set(id, compiled);
      return compiled;
    },

    checkResponse(operation, status, body) {
      const key = `${operation.operationId} ${status}`;
      let validate = responses.get(key);
      if (validate === undefined) {
        const schema = operation.responses[String(status)]?.content?.['application/json']?.schema;
        validate = schema && compiler ? compiler('response', withContractRefs(schema)) : null;
        responses.set(key, validate);
      }
      if (!validate || validate(body)) return undefined;
      return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`).join('; ');
    },
  };
}

/** Loads Ajv (only when something must be compiled at run time) with one instance per kind. */
async function loadCompiler(document: OpenApiDocument): Promise<(kind: ValidatorKind, schema: JsonSchema) => ValidateFunction> {
  // Both are CommonJS: their default export is the module itself, however it is loaded.
  const [ajvModule, { default: addFormats }] = await Promise.all([import('ajv/dist/2020.js'), import('ajv-formats')]);
  type Ajv = typeof ajvModule.Ajv2020;
  const Ajv2020 = ajvModule.default as unknown as Ajv;
  const instances = new Map<ValidatorKind, InstanceType<Ajv>>();
  return (kind, schema) => {
    let ajv = instances.get(kind);
    if (!ajv) {
      ajv = new Ajv2020(ajvOptions(kind));
      addFormats.default(ajv);
      // The whole document, so that `$ref`s resolve as written; compiled only where referenced.
      ajv.addSchema(document as object, 'contract', undefined, false);
      instances.set(kind, ajv);
    }
    return ajv.compile(schema);
  };
}

/** A copy of a schema taken out of the document whose local `$ref`s point into the document. */
function withContractRefs(schema: JsonSchema): JsonSchema {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `contract${value}` : value,
  ) as JsonSchema;
}
