// Request and response validation: Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) compiled from the
// contract. Each operation's validators are compiled the first time it is called and kept: a cold start
// compiles only what its first request needs.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
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
  forOperation(operation: Operation): OperationValidators;
  /** A problem with a JSON response body, as text, or undefined when it conforms. */
  checkResponse(operation: Operation, status: number, body: unknown): string | undefined;
}

export function createValidation(document: OpenApiDocument): Validation {
  const ajvs = new Map<string, Ajv2020>();
  const ajv = (kind: 'parameters' | 'body' | 'response'): Ajv2020 => {
    let instance = ajvs.get(kind);
    if (!instance) {
      instance = new Ajv2020({
        strict: false,
        allErrors: true,
        // Parameters arrive as text; bodies keep their JSON types. Responses are checked, never changed.
        coerceTypes: kind === 'parameters',
        useDefaults: kind !== 'response',
      });
      addFormats.default(instance);
      // The whole document, so that `$ref`s resolve as written; compiled only where referenced.
      instance.addSchema(document as object, 'contract', undefined, false);
      ajvs.set(kind, instance);
    }
    return instance;
  };
  const byOperation = new Map<string, OperationValidators>();
  const responses = new Map<string, ValidateFunction | null>();

  function compileParameters(operation: Operation): ValidateFunction {
    const location = (additionalProperties: boolean) => ({
      type: 'object',
      properties: {} as Record<string, unknown>,
      required: [] as string[],
      additionalProperties,
    });
    const schema = {
      type: 'object',
      properties: { path: location(false), query: location(false), header: location(true) },
    };
    for (const parameter of operation.parameters) {
      if (parameter.in === 'cookie') continue;
      const target = schema.properties[parameter.in];
      // Header names are case-insensitive and arrive lower-cased.
      const name = parameter.in === 'header' ? parameter.name.toLowerCase() : parameter.name;
      target.properties[name] = parameter.schema ? withContractRefs(parameter.schema) : {};
      if (parameter.required) target.required.push(name);
    }
    return ajv('parameters').compile(schema);
  }

  function compileBody(operation: Operation): ValidateFunction | undefined {
    const json = operation.requestBody?.content['application/json']?.schema;
    if (!json) return undefined;
    // Wrapped, so that errors point at `/requestBody/...` and name the field `body.<path>`.
    return ajv('body').compile({
      type: 'object',
      properties: { requestBody: withContractRefs(json) },
    });
  }

  return {
    forOperation(operation) {
      let validators = byOperation.get(operation.operationId);
      if (!validators) {
        const parameters = compileParameters(operation);
        const body = compileBody(operation);
        validators = {
          parameters: (parts) => (parameters(parts) ? undefined : (parameters.errors ?? [])),
          body: body && ((value) => (body({ requestBody: value }) ? undefined : (body.errors ?? []))),
        };
        byOperation.set(operation.operationId, validators);
      }
      return validators;
    },

    checkResponse(operation, status, body) {
      const key = `${operation.operationId} ${status}`;
      let validate = responses.get(key);
      if (validate === undefined) {
        const schema = operation.responses[String(status)]?.content?.['application/json']?.schema;
        validate = schema ? ajv('response').compile(withContractRefs(schema)) : null;
        responses.set(key, validate);
      }
      if (!validate || validate(body)) return undefined;
      return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`).join('; ');
    },
  };
}

/** A copy of a schema taken out of the document whose local `$ref`s point into the document. */
function withContractRefs(schema: JsonSchema): JsonSchema {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `contract${value}` : value,
  ) as JsonSchema;
}
