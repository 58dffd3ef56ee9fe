// Tool input schemas at run time: an organization's tool brings its own JSON Schema, checked when it is defined
// (it must compile and describe an object) and used to check each call a model makes before a client sees it.
import type { ErrorObject, ValidateFunction } from 'ajv';

type Schema = Record<string, unknown>;
type Compile = (schema: Schema) => ValidateFunction;

let compiler: Promise<Compile> | undefined;
const compiled = new Map<string, ValidateFunction>();

/** Ajv is loaded on first use: most requests never need it. */
function loadCompiler(): Promise<Compile> {
  compiler ??= Promise.all([import('ajv/dist/2020.js'), import('ajv-formats')]).then(([ajvModule, { default: addFormats }]) => {
    // Both are CommonJS: their default export is the module itself, however it is loaded.
    const Ajv2020 = ajvModule.default as unknown as typeof ajvModule.Ajv2020;
    // Not strict: published tool schemas use keywords and formats of their own; unknown ones are ignored.
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true, unicodeRegExp: true });
    addFormats.default(ajv);
    return (schema: Schema) => ajv.compile(schema);
  });
  return compiler;
}

async function validator(schema: Schema): Promise<ValidateFunction> {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = (await loadCompiler())(structuredClone(schema));
    if (compiled.size >= 500) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, validate);
  }
  return validate;
}

const describe = (errors: ErrorObject[] | null | undefined): string =>
  (errors ?? [])
    .slice(0, 5)
    .map((error) => `${error.instancePath || 'the input'} ${error.message ?? 'is invalid'}`)
    .join('; ');

/** Why a schema cannot be a tool's input schema, or undefined when it can. */
export async function schemaProblem(schema: Schema): Promise<string | undefined> {
  if (schema.type !== 'object') return 'must describe an object ("type": "object")';
  try {
    await validator(schema);
    return undefined;
  } catch (error) {
    return `is not a valid JSON Schema: ${(error as Error).message.slice(0, 200)}`;
  }
}

/** Why `input` does not satisfy `schema`, or undefined when it does. */
export async function inputProblem(schema: Schema, input: unknown): Promise<string | undefined> {
  const validate = await validator(schema);
  return validate(input) ? undefined : describe(validate.errors);
}
