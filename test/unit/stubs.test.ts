// Handler stubs: `npm run gen` writes one for an operation of the contract that has no handler (so the service
// compiles and answers the contract's example), and `npm test` fails while one is left.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as prettier from 'prettier';
import { afterEach, describe, expect, it } from 'vitest';
import { writeHandlerStubs } from '../../scripts/gen-stubs.js';
import { handlers } from '../../src/handlers/index.js';
import { stub, stubbedOperation } from '../../src/http/stub.js';

const root = resolve(import.meta.dirname, '../..');

describe('handlers', () => {
  it('no operation is answered by a stub', () => {
    const stubbed = Object.entries(handlers)
      .filter(([, handler]) => stubbedOperation(handler) !== undefined)
      .map(([operationId]) => operationId);
    expect(stubbed, `these operations answer the contract's example: write their handlers in src/handlers/`).toEqual([]);
  });

  it('tells a stub from a handler', () => {
    expect(stubbedOperation(stub('getHealth'))).toBe('getHealth');
    expect(stubbedOperation(handlers.getHealth)).toBeUndefined();
  });
});

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'staffroom-stubs-'));
  dirs.push(dir);
  return dir;
}

async function expectPrettierClean(file: string): Promise<void> {
  const clean = await prettier.check(readFileSync(file, 'utf8'), { ...(await prettier.resolveConfig(file)), filepath: file });
  expect(clean, `${file} is not formatted as Prettier writes it`).toBe(true);
}

const indexBefore = `// Every operation of the contract, by operationId.
import type { Handler, OperationId } from '../http/types.js';
import * as widgets from './widgets.js';

export type HandlerMap = { [K in OperationId]: Handler<K> };

export const handlers: HandlerMap = {
  ...widgets,
};
`;

// No import of stub or Handler, a multi-line import last, and a handler that is a function declaration.
const widgetsBefore = `import { ApiError } from '../kernel/errors.js';
import {
  countWidgetsOfEveryWarehouseInEveryRegion,
  listWidgetsOfEveryWarehouseInEveryRegion,
  type WidgetOfEveryWarehouseInEveryRegion,
} from '../services/widgets.js';

export async function listWidgets(): Promise<WidgetOfEveryWarehouseInEveryRegion[]> {
  if ((await countWidgetsOfEveryWarehouseInEveryRegion()) === 0) throw new ApiError('NOT_FOUND', 'No widgets.');
  return listWidgetsOfEveryWarehouseInEveryRegion();
}
`;

const document = {
  paths: {
    '/v1/widgets': {
      parameters: [],
      get: { operationId: 'listWidgets', tags: ['Widgets'] },
      post: { operationId: 'createWidget', tags: ['Widgets'] },
    },
    '/v1/gadget-parts/{partId}/inspections': {
      // Long enough for Prettier to break the declaration.
      get: { operationId: 'listInspectionsOfEveryGadgetPartInStock', tags: ['Gadget parts'] },
    },
  },
  // Requests the service sends, not operations it answers.
  webhooks: { widgetMade: { post: { operationId: 'receiveWidgetMade', tags: ['Widgets'] } } },
};

describe('writeHandlerStubs', () => {
  it('appends a stub to the tag’s module, creates the module of a new tag and spreads it, then writes nothing', async () => {
    const dir = temporaryDir();
    cpSync(join(root, '.prettierrc.json'), join(dir, '.prettierrc.json'));
    const handlersDir = join(dir, 'src/handlers');
    mkdirSync(handlersDir, { recursive: true });
    writeFileSync(join(handlersDir, 'index.ts'), indexBefore);
    writeFileSync(join(handlersDir, 'widgets.ts'), widgetsBefore);
    const read = (name: string) => readFileSync(join(handlersDir, name), 'utf8');

    const checked: string[] = [];
    expect(await writeHandlerStubs(handlersDir, document, { check: true, log: (line) => checked.push(line) })).toEqual([
      'widgets.ts',
      'gadget-parts.ts',
      'index.ts',
    ]);
    expect(checked.join('\n')).toContain("export const createWidget: Handler<'createWidget'> = stub('createWidget');");
    expect(read('widgets.ts')).toBe(widgetsBefore);
    expect(read('index.ts')).toBe(indexBefore);
    expect(existsSync(join(handlersDir, 'gadget-parts.ts'))).toBe(false);

    const logged: string[] = [];
    expect(await writeHandlerStubs(handlersDir, document, { log: (line) => logged.push(line) })).toEqual([
      'widgets.ts',
      'gadget-parts.ts',
      'index.ts',
    ]);
    expect(logged.join('\n')).toMatch(/POST \/v1\/widgets has no handler: stubbed in .*widgets\.ts/);
    expect(logged.join('\n')).not.toContain('receiveWidgetMade');

    expect(read('widgets.ts')).toBe(`import { ApiError } from '../kernel/errors.js';
import {
  countWidgetsOfEveryWarehouseInEveryRegion,
  listWidgetsOfEveryWarehouseInEveryRegion,
  type WidgetOfEveryWarehouseInEveryRegion,
} from '../services/widgets.js';
import { stub } from '../http/stub.js';
import type { Handler } from '../http/types.js';

export async function listWidgets(): Promise<WidgetOfEveryWarehouseInEveryRegion[]> {
  if ((await countWidgetsOfEveryWarehouseInEveryRegion()) === 0) throw new ApiError('NOT_FOUND', 'No widgets.');
  return listWidgetsOfEveryWarehouseInEveryRegion();
}

// Generated by \`npm run gen\`: POST /v1/widgets has no handler yet. It answers the contract's example (see src/http/stub.ts); replace it with the real handler.
export const createWidget: Handler<'createWidget'> = stub('createWidget');
`);
    expect(read('gadget-parts.ts')).toBe(`// The handlers of the contract's operations tagged \`Gadget parts\`.
import { stub } from '../http/stub.js';
import type { Handler } from '../http/types.js';

// Generated by \`npm run gen\`: GET /v1/gadget-parts/{partId}/inspections has no handler yet. It answers the contract's example (see src/http/stub.ts); replace it with the real handler.
export const listInspectionsOfEveryGadgetPartInStock: Handler<'listInspectionsOfEveryGadgetPartInStock'> = stub(
  'listInspectionsOfEveryGadgetPartInStock',
);
`);
    expect(read('index.ts')).toBe(`// Every operation of the contract, by operationId.
import type { Handler, OperationId } from '../http/types.js';
import * as widgets from './widgets.js';
import * as gadgetParts from './gadget-parts.js';

export type HandlerMap = { [K in OperationId]: Handler<K> };

export const handlers: HandlerMap = {
  ...widgets,
  ...gadgetParts,
};
`);
    // Every line that was there is still there, unchanged and in its order.
    for (const [name, before] of [
      ['widgets.ts', widgetsBefore],
      ['index.ts', indexBefore],
    ] as const) {
      const after = read(name).split('\n');
      let at = -1;
      for (const line of before.split('\n')) {
        at = after.indexOf(line, at + 1);
        expect(at, `${name} lost or moved: ${line}`).toBeGreaterThanOrEqual(0);
      }
    }
    for (const name of ['widgets.ts', 'gadget-parts.ts', 'index.ts']) await expectPrettierClean(join(handlersDir, name));

    const written = { widgets: read('widgets.ts'), gadgetParts: read('gadget-parts.ts'), index: read('index.ts') };
    const again: string[] = [];
    expect(await writeHandlerStubs(handlersDir, document, { log: (line) => again.push(line) })).toEqual([]);
    expect(await writeHandlerStubs(handlersDir, document, { check: true, log: (line) => again.push(line) })).toEqual([]);
    expect(again).toEqual([]);
    expect({ widgets: read('widgets.ts'), gadgetParts: read('gadget-parts.ts'), index: read('index.ts') }).toEqual(written);
  });

  it('refuses an operation without a tag', async () => {
    const dir = temporaryDir();
    writeFileSync(join(dir, 'index.ts'), indexBefore);
    await expect(
      writeHandlerStubs(dir, { paths: { '/v1/things': { get: { operationId: 'listThings' } } } }, { log: () => {} }),
    ).rejects.toThrow(/GET \/v1\/things \(listThings\) has no tag/);
  });
});

// Operations added to a copy of the contract: one of an existing tag (Meta: meta.ts already imports Handler), one of
// a new tag (Widgets).
const addedPaths = `  /v1/widgets:
    get:
      operationId: listWidgets
      tags: [Widgets]
      summary: List the widgets
      security: []
      responses:
        '200':
          description: The widgets.
          content:
            application/json:
              schema:
                type: object
                required: [success, data]
                properties:
                  success:
                    const: true
                  data:
                    type: array
                    items:
                      type: string
              example:
                success: true
                data: [sprocket]
  /v1/health/deep:
    get:
      operationId: getDeepHealth
      tags: [Meta]
      summary: Check every dependency
      security: []
      responses:
        '200':
          description: Every dependency answers.
          content:
            application/json:
              schema:
                type: object
                required: [success, data]
                properties:
                  success:
                    const: true
                  data:
                    type: object
              example:
                success: true
                data: {}
`;

describe('npm run gen on a copy of the service', () => {
  it('stubs the operations added to the contract, and the handlers typecheck', { timeout: 120_000 }, async () => {
    const dir = temporaryDir();
    for (const entry of ['api', 'src', 'scripts', 'package.json', 'tsconfig.json', 'CHANGELOG.md', 'redocly.yaml', '.prettierrc.json']) {
      cpSync(join(root, entry), join(dir, entry), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const contract = join(dir, 'api/openapi.yaml');
    writeFileSync(contract, readFileSync(contract, 'utf8').replace(/^paths:\n/m, `paths:\n${addedPaths}`));
    const metaBefore = readFileSync(join(dir, 'src/handlers/meta.ts'), 'utf8');

    const require = createRequire(import.meta.url);
    const run = (bin: string, args: string[]) =>
      execFileSync(process.execPath, [require.resolve(bin), ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const output = run('tsx/cli', ['scripts/gen.ts']);
    expect(output).toMatch(/GET \/v1\/widgets has no handler: stubbed in src\/handlers\/widgets\.ts/);
    expect(output).toMatch(/GET \/v1\/health\/deep has no handler: stubbed in src\/handlers\/meta\.ts/);

    const meta = readFileSync(join(dir, 'src/handlers/meta.ts'), 'utf8');
    expect(meta).toBe(
      `${metaBefore.replace(/^(import .*\n)(?!import )/m, "$1import { stub } from '../http/stub.js';\n")}
// Generated by \`npm run gen\`: GET /v1/health/deep has no handler yet. It answers the contract's example (see src/http/stub.ts); replace it with the real handler.
export const getDeepHealth: Handler<'getDeepHealth'> = stub('getDeepHealth');
`,
    );
    const index = readFileSync(join(dir, 'src/handlers/index.ts'), 'utf8');
    expect(index).toContain("import * as widgets from './widgets.js';\n");
    expect(index).toContain('  ...widgets,\n');
    expect(run('tsx/cli', ['scripts/gen.ts', '--check'])).toContain('Generated files are up to date.');

    // The handlers and everything they import: where a missing or mistyped handler fails to compile.
    const tsconfig = JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...tsconfig, include: ['src/handlers'] }));
    run('typescript/bin/tsc', ['-p', '.']);
    for (const name of ['meta.ts', 'widgets.ts', 'index.ts']) await expectPrettierClean(join(dir, 'src/handlers', name));
  });
});
