// The cold-start peer of `npm run bench`: a Netlify function (Functions 2.0: a web Request in, a web Response out)
// written as openapi-backend's documentation suggests, on the package as published (`openapi-backend-stock`,
// without patches/) and Staffroom's bundled contract. Quick mode, validators compiled by Ajv (JSON Schema 2020-12
// with ajv-formats, through customizeAjv) on an operation's first request, handlers registered by operationId.
// It serves GET /v1/plans with a small JSON body and nothing else: what its cold start costs is the framework's.
// Bundled like netlify/functions/api.ts (scripts/bench/cold-start.ts, bundleStockFunction) into the bench's folder.
import ajv2020 from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { OpenAPIBackend, type Context, type Document } from 'openapi-backend-stock';
import definition from '../../src/generated/openapi.json' with { type: 'json' };

// Both are CommonJS: their default export is the module itself, which also carries `default`.
const Ajv2020 = ajv2020.default;
const addFormats = ajvFormats.default;

const json = (status: number, value: unknown): Response =>
  new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json; charset=utf-8' } });

const failure = (status: number, code: string, message: string) => () => json(status, { success: false, error: { code, message } });

let backend: Promise<OpenAPIBackend> | undefined; // kept across invocations of one warm instance

function startBackend(): Promise<OpenAPIBackend> {
  const api = new OpenAPIBackend({
    definition: definition as unknown as Document,
    quick: true,
    strict: true,
    coerceTypes: true,
    customizeAjv: (_original, options) => {
      const ajv = new Ajv2020({ ...options, strict: false, allErrors: true });
      addFormats(ajv);
      return ajv;
    },
  });
  api.register({
    listPlans: () => json(200, { success: true, data: [{ id: 'free', name: 'Free' }] }),
    validationFail: (c: Context) =>
      json(400, { success: false, error: { code: 'VALIDATION_ERROR', message: String(c.validation.errors) } }),
    unauthorizedHandler: failure(401, 'UNAUTHORIZED', 'Only GET /v1/plans is served here.'),
    notFound: failure(404, 'NOT_FOUND', 'No such route.'),
    methodNotAllowed: failure(405, 'METHOD_NOT_ALLOWED', 'Not with this method.'),
    notImplemented: failure(501, 'NOT_IMPLEMENTED', 'Only GET /v1/plans is served here.'),
  });
  return api.init();
}

export default async function handler(request: Request): Promise<Response> {
  const api = await (backend ??= startBackend());
  const url = new URL(request.url);
  const body = request.body ? await request.text() : undefined;
  return (await api.handleRequest({
    method: request.method,
    path: url.pathname,
    query: url.search.slice(1),
    headers: Object.fromEntries(request.headers),
    body,
  })) as Response;
}
