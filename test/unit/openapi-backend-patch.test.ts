// patches/openapi-backend+5.21.2.patch: the router builds its operation list and a tree of path segments once
// (stock openapi-backend rebuilds the list with lodash twice and compiles a RegExp per operation on every
// request), routes exactly as stock does, and quick mode with a Document object loads neither the parser nor the
// definition validator, nor Ajv before a validator is compiled, nor qs before a query string is parsed. Each check runs on the stock package as well
// (installed beside it as openapi-backend-stock), where it must fail: the test fails without the patch.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { dereferenceSync } from 'dereference-json-schema';
import type { Document, Request as BackendRequest } from 'openapi-backend';
import { contract } from '../../src/http/contract.js';

const require = createRequire(import.meta.url);
type RouterModule = typeof import('openapi-backend');
const patched = require('openapi-backend') as RouterModule;
const stock = require('openapi-backend-stock') as RouterModule;
const definition = dereferenceSync(contract as never) as unknown as Document;

const orgId = '0f8fad5b-d9cb-469f-a165-70867728950e';
const methods = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'];

/** Paths to route: every template with values, with "import" (a literal elsewhere) and a trailing slash, and misses. */
function probes(router: InstanceType<RouterModule['OpenAPIRouter']>): string[] {
  const paths = new Set(['/', '/v1', '/v1//plans', '//v1/plans', '/v1/organizations//members']);
  for (const { path } of router.getOperations()) {
    paths.add(path.replace(/\{[^}]+\}/g, orgId));
    paths.add(`${path.replace(/\{[^}]+\}/g, 'import')}/`);
    paths.add(`${path}x`);
    paths.add(`${path}/extra`);
  }
  return [...paths];
}

/** How many RegExps `work` constructs. */
function regExpsBuilt(work: () => void): number {
  const original = globalThis.RegExp;
  let built = 0;
  globalThis.RegExp = new Proxy(original, {
    construct(target, args: [string]) {
      built++;
      return Reflect.construct(target, args) as object;
    },
    apply(target, self, args: [string]) {
      built++;
      return Reflect.apply(target, self, args) as RegExp;
    },
  });
  try {
    work();
  } finally {
    globalThis.RegExp = original;
  }
  return built;
}

describe('the openapi-backend patch', () => {
  it('routes every method and path exactly as stock openapi-backend does', () => {
    const ours = new patched.OpenAPIRouter({ definition });
    const theirs = new stock.OpenAPIRouter({ definition });
    const paths = probes(theirs);
    expect(paths.length).toBeGreaterThan(150);
    for (const path of paths) {
      for (const method of methods) {
        const request = { method, path, headers: {} };
        expect(ours.matchOperation(request)?.operationId, `${method} ${path}`).toBe(theirs.matchOperation(request)?.operationId);
      }
    }
    for (const { operationId } of theirs.getOperations()) {
      expect(ours.getOperation(operationId!)).toEqual(theirs.getOperation(operationId!));
    }
  });

  it('parses and validates requests exactly as stock openapi-backend does', async () => {
    const backend = async (module: RouterModule) => {
      const api = new module.OpenAPIBackend({ definition: structuredClone(contract) as never, quick: true, coerceTypes: true });
      await api.init();
      return api;
    };
    const [ours, theirs] = await Promise.all([backend(patched), backend(stock)]);
    const requests: BackendRequest[] = [
      { method: 'GET', path: '/v1/plans', headers: { Accept: '*/*', 'X-Request-Id': 'a' }, query: {} },
      {
        method: 'GET',
        path: `/v1/organizations/${orgId}/tasks`,
        headers: { Cookie: 'a=1; b=2' },
        query: { limit: '5', status: ['queued', 'running'] },
      },
      { method: 'GET', path: `/v1/organizations/${orgId}/tasks?limit=500&cursor=x`, headers: {} },
      { method: 'PATCH', path: `/v1/organizations/${orgId}`, headers: { 'Content-Type': 'application/json' }, body: { name: 7 } },
      { method: 'POST', path: `/v1/organizations/${orgId}/employees`, headers: { 'content-type': 'application/json' }, body: '{"name":' },
    ];
    for (const request of requests) {
      const operation = theirs.matchOperation(request)!;
      expect(ours.router.parseRequest(request, operation)).toEqual(theirs.router.parseRequest(request, operation));
      expect(ours.router.parseRequest(request)).toEqual(theirs.router.parseRequest(request));
      expect(ours.validateRequest(request, operation)).toEqual(theirs.validateRequest(request, operation));
    }
  });

  it('in quick mode routes from the operations alone and dereferences the rest when first needed, answering as stock does', async () => {
    const backend = async (module: RouterModule) => {
      const api = new module.OpenAPIBackend({ definition: structuredClone(contract) as unknown as Document, quick: true });
      await api.init();
      return api;
    };
    const [ours, theirs] = await Promise.all([backend(patched), backend(stock)]);
    const ids = theirs.getOperations().map((operation) => operation.operationId!);
    expect(ours.getOperations().map((operation) => operation.operationId)).toEqual(ids);
    for (const id of ids) {
      // What routing and parsing read is resolved: parameters, their schemas' first level, the request body.
      const routed = ours.router.getOperation(id)!;
      for (const parameter of routed.parameters ?? []) expect(JSON.stringify(parameter).startsWith('{"$ref"')).toBe(false);
      expect(routed.requestBody && '$ref' in routed.requestBody).toBeFalsy();
      expect(ours.mockResponseForOperation(id)).toEqual(theirs.mockResponseForOperation(id));
    }
    expect(ours.definition).toEqual(theirs.definition);
  });

  it('builds the operation list and the path matchers once, not on every request', () => {
    const routeMany = (module: RouterModule) => {
      const router = new module.OpenAPIRouter({ definition });
      const request = { method: 'get', path: `/v1/organizations/${orgId}/employees/${orgId}`, headers: {} };
      router.parseRequest(request, router.matchOperation(request)); // the first request may build what the router keeps
      const sameList = router.getOperations() === router.getOperations();
      const built = regExpsBuilt(() => {
        for (let i = 0; i < 10; i++) {
          router.matchOperation(request);
          router.parseRequest(request, router.matchOperation(request));
        }
      });
      return { sameList, built };
    };
    expect(routeMany(patched)).toEqual({ sameList: true, built: 0 });
    const before = routeMany(stock);
    expect(before.sameList).toBe(false);
    expect(before.built).toBeGreaterThan(10 * 50);
  });

  it('in quick mode with a Document object loads neither the parser, the definition validator, the mock generator, Ajv nor qs', () => {
    const loaded = (module: string) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            '-e',
            `const { OpenAPIBackend } = require(${JSON.stringify(module)});
             const api = new OpenAPIBackend({ definition: ${JSON.stringify({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: {} })}, quick: true });
             api.init().then(() => console.log(JSON.stringify(Object.keys(require.cache))));`,
          ],
          { cwd: process.cwd(), encoding: 'utf8' },
        ),
      ) as string[];
    const heavy = (files: string[]) =>
      ['json-schema-ref-parser', 'openapi-schema-validator', 'mock-json-schema', '/ajv/dist/ajv.js', '/node_modules/qs/'].filter((name) =>
        files.some((file) => file.includes(name)),
      );
    expect(heavy(loaded('openapi-backend'))).toEqual([]);
    expect(heavy(loaded('openapi-backend-stock'))).toHaveLength(5);
  });
});
