// Handler stubs, written by `npm run gen`: an operation of the contract that no module of src/handlers/ exports
// gets a stub in the module of its first tag (kebab-cased: `API keys` → api-keys.ts), so that the service still
// compiles and answers it with the contract's example (src/http/stub.ts) until its handler is written. A tag
// without a module gets one, spread into src/handlers/index.ts. Existing code is never rewritten or reordered:
// lines are only inserted after the last import, and stubs appended at the end.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** What a stub needs of the bundled contract: its paths (its `webhooks` are requests the service sends). */
export interface StubbedDocument {
  paths?: unknown;
}

export interface StubOptions {
  /** Write nothing; print the stubs that would be written. */
  check?: boolean;
  log?: (line: string) => void;
}

interface MissingHandler {
  operationId: string;
  method: string;
  path: string;
  tag: string;
}

/**
 * Writes a stub for every operation of `document` that no module of `handlersDir` exports (or, with `check`,
 * prints it), and returns the names of the files of `handlersDir` written (or that would be).
 */
export async function writeHandlerStubs(handlersDir: string, document: StubbedDocument, options: StubOptions = {}): Promise<string[]> {
  const log = options.log ?? console.log;
  const exported = exportedNames(handlersDir);
  const missing = operationsOf(document).filter((operation) => !exported.has(operation.operationId));
  if (missing.length === 0) return [];

  const byModule = new Map<string, MissingHandler[]>();
  for (const operation of missing) {
    const name = `${kebabCase(operation.tag)}.ts`;
    if (name === 'index.ts') throw new Error(`The tag ${operation.tag} would name its handler module index.ts, which gathers the others.`);
    byModule.set(name, [...(byModule.get(name) ?? []), operation]);
  }
  const indexFile = join(handlersDir, 'index.ts');
  const changed = new Map<string, string>();
  const report: string[] = [];
  const shown = (name: string) => relative(process.cwd(), join(handlersDir, name));
  let index = readFileSync(indexFile, 'utf8');
  for (const [name, operations] of byModule) {
    const file = join(handlersDir, name);
    const blocks = await Promise.all(operations.map((operation) => format(stubBlock(operation), file)));
    if (existsSync(file)) {
      const source = readFileSync(file, 'utf8');
      const imports = [
        ...(/^import\s*\{[^}]*\bstub\b[^}]*\}\s*from\s*['"]\.\.\/http\/stub\.js['"]/m.test(source) ? [] : [stubImport]),
        ...(/^import\s+(?:type\s+)?\{[^}]*\bHandler\b[^}]*\}\s*from\s*['"]\.\.\/http\/types\.js['"]/m.test(source) ? [] : [handlerImport]),
      ];
      const withImports = imports.length ? insertAfterImports(source, await format(imports.join('\n'), file)) : source;
      changed.set(name, appendBlocks(withImports, blocks));
    } else {
      const header = `// The handlers of the contract's operations tagged \`${operations[0]!.tag}\`.\n`;
      changed.set(name, await format(`${header}${stubImport}\n${handlerImport}\n\n${blocks.join('\n')}`, file));
      report.push(options.check ? `${shown(name)} would be created.` : `Created ${shown(name)}.`);
    }
    operations.forEach((operation, i) => {
      report.push(
        `${operation.method} ${operation.path} has no handler: ${options.check ? 'its stub would be' : 'stubbed'} in ${shown(name)}:`,
      );
      report.push(blocks[i]!.trimEnd().replace(/^/gm, '  '));
    });
    // A module that exists yet is not spread into the handlers would answer nothing: it is added like a new one.
    const specifier = `./${name.replace(/\.ts$/, '.js')}`;
    if (!new RegExp(`from\\s*['"]${escapeRegExp(specifier)}['"]`).test(index)) {
      const binding = bindingFor(name, index);
      index = spreadModule(index, binding, await format(`import * as ${binding} from '${specifier}';`, indexFile));
      changed.set('index.ts', index);
      report.push(`${options.check ? 'Would add' : 'Added'} ${binding} (${specifier}) to the handlers of ${shown('index.ts')}.`);
    }
  }

  if (options.check) {
    log(`Operations without a handler (run \`npm run gen\` to write their stubs):`);
  } else {
    for (const [name, content] of changed) writeFileSync(join(handlersDir, name), content);
  }
  for (const line of report) log(line);
  return [...changed.keys()];
}

/** Every name a module of `dir` exports as `export const`, `export function` or `export async function`. */
function exportedNames(dir: string): Set<string> {
  const names = new Set<string>();
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.ts') || name.endsWith('.d.ts')) continue;
    for (const match of readFileSync(join(dir, name), 'utf8').matchAll(
      /^export\s+(?:const|(?:async\s+)?function)\s+([A-Za-z_$][\w$]*)/gm,
    )) {
      names.add(match[1]!);
    }
  }
  return names;
}

function operationsOf(document: StubbedDocument): MissingHandler[] {
  const operations: MissingHandler[] = [];
  for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, Record<string, unknown>>)) {
    for (const method of methods) {
      const operation = item[method] as { operationId?: unknown; tags?: unknown } | undefined;
      if (typeof operation?.operationId !== 'string') continue;
      const tag = Array.isArray(operation.tags) ? operation.tags[0] : undefined;
      if (typeof tag !== 'string' || !kebabCase(tag)) {
        throw new Error(
          `${method.toUpperCase()} ${path} (${operation.operationId}) has no tag: its handler's module is named after its first tag.`,
        );
      }
      operations.push({ operationId: operation.operationId, method: method.toUpperCase(), path, tag });
    }
  }
  return operations;
}

const stubImport = "import { stub } from '../http/stub.js';";
const handlerImport = "import type { Handler } from '../http/types.js';";

function stubBlock({ operationId, method, path }: MissingHandler): string {
  return `// Generated by \`npm run gen\`: ${method} ${path} has no handler yet. It answers the contract's example (see src/http/stub.ts); replace it with the real handler.
export const ${operationId}: Handler<'${operationId}'> = stub('${operationId}');
`;
}

/** `lines` (ending with a newline) inserted after the end of the last import statement, or after the header comment. */
function insertAfterImports(source: string, lines: string): string {
  const last = [...source.matchAll(/^import\b[^;]*;[^\n]*\n?/gm)].at(-1);
  if (last) {
    const end = last.index + last[0].length;
    return `${source.slice(0, end)}${last[0].endsWith('\n') ? '' : '\n'}${lines}${source.slice(end)}`;
  }
  const header = /^(?:\/\/[^\n]*\n)*/.exec(source)![0];
  const rest = source.slice(header.length);
  return `${header}${lines}${rest.startsWith('\n') || rest === '' ? '' : '\n'}${rest}`;
}

/** `blocks` appended after the existing code, each after a blank line. */
function appendBlocks(source: string, blocks: string[]): string {
  const base = source === '' || source.endsWith('\n') ? source : `${source}\n`;
  return `${base}${base === '' || base.endsWith('\n\n') ? '' : '\n'}${blocks.join('\n')}`;
}

/** index.ts with `importLine` after its last import and `binding` spread after the last module spread into `handlers`. */
function spreadModule(index: string, binding: string, importLine: string): string {
  const withImport = insertAfterImports(index, importLine);
  const lastSpread = [...withImport.matchAll(/^([ \t]*)\.\.\.[\w$]+,[ \t]*$/gm)].at(-1);
  if (!lastSpread) throw new Error(`src/handlers/index.ts spreads no module into its handlers: cannot add ${binding}.`);
  const end = lastSpread.index + lastSpread[0].length;
  return `${withImport.slice(0, end)}\n${lastSpread[1]}...${binding},${withImport.slice(end)}`;
}

/** The name index.ts imports a new module under: its camel-cased file name, unless that is taken or reserved. */
function bindingFor(name: string, index: string): string {
  const camel = name.replace(/\.ts$/, '').replace(/-([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
  const taken = new Set(['handlers', ...[...index.matchAll(/\bimport\s+(?:type\s+)?\*\s+as\s+([\w$]+)/g)].map((match) => match[1])]);
  const binding = taken.has(camel) || reserved.has(camel) ? `${camel}Handlers` : camel;
  if (!/^[A-Za-z_$][\w$]*$/.test(binding)) throw new Error(`The handler module ${name} has no name index.ts could import it as.`);
  return binding;
}

const reserved = new Set([
  ...['await', 'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum'],
  ...['export', 'extends', 'false', 'finally', 'for', 'function', 'if', 'implements', 'import', 'in', 'instanceof'],
  ...['interface', 'let', 'new', 'null', 'package', 'private', 'protected', 'public', 'return', 'static', 'super'],
  ...['switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with', 'yield'],
]);

function kebabCase(tag: string): string {
  return tag
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `code` as Prettier writes it in `file` (its configuration applies), so that a generated line never fails format:check. */
async function format(code: string, file: string): Promise<string> {
  const prettier = await import('prettier');
  return prettier.format(code, { ...(await prettier.resolveConfig(file)), filepath: file });
}
