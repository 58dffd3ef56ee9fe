// The built-in tools a runner executes for a task on the machine where the files are, confined to one folder
// (the working directory): every path is resolved and realpath-checked to stay inside it, so neither `..` nor
// a symbolic link leads out. Input names follow the schemas of src/services/tools.ts. A tool that fails, or
// that this runner refuses, answers `isError` with the reason in plain words for the model; nothing throws.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';

/** What a tool call gives back: its output as text, and whether it failed or was refused. */
export interface ToolResult {
  output: string;
  isError: boolean;
}

export interface LocalToolOptions {
  /** The working directory: no tool reads or writes a path outside it. */
  root: string;
  /** Lets Write, Edit and MultiEdit change files. */
  allowWrite?: boolean;
  /** Lets Bash run commands (in the root, but a shell is not confined by paths). */
  allowBash?: boolean;
  /** Stops a running command. */
  signal?: AbortSignal;
  /** The environment of commands; when absent, the runner's own without Staffroom credentials. */
  env?: NodeJS.ProcessEnv;
}

const readingTools = ['Read', 'LS', 'Glob', 'Grep'] as const;
const writingTools = ['Write', 'Edit', 'MultiEdit'] as const;

/** The most entries Glob, Grep and LS answer with; they say so when they stop there. */
export const maxResults = 1_000;
const maxLineLength = 2_000;
const defaultReadLines = 2_000;
const maxCommandOutput = 30_000;
const defaultCommandTimeoutMs = 120_000;
const maxCommandTimeoutMs = 600_000;
/** The contract's limit on one tool output. */
const maxOutput = 100_000;
/** Walks stop here, so a search of a huge tree ends. */
const maxWalkedFiles = 100_000;
const maxSearchedFileBytes = 10 * 1024 * 1024;
const skippedFolders = new Set(['.git', 'node_modules']);
const credentialVariables = ['STAFFROOM_API_KEY', 'STAFFROOM_TOKEN'];

/** A tool's expected failure, answered to the model as `isError`. */
class ToolFailure extends Error {}

type Input = Record<string, unknown>;

interface Workspace {
  /** The root's real path: every path used is inside it. */
  real: string;
  /** The root as given, resolved: an absolute path written with it (a symlinked /tmp, say) means the same place. */
  given: string;
}

interface Located {
  real: string;
  /** The path relative to the root, with `/`, as tools answer it. */
  shown: string;
}

type Executor = (input: Input, workspace: Workspace, options: LocalToolOptions) => Promise<string | ToolResult>;

const executors: Record<string, Executor> = {
  Read: readFileLines,
  LS: listFolder,
  Glob: findFiles,
  Grep: searchFiles,
  Write: writeWholeFile,
  Edit: editFile,
  MultiEdit: editFileMany,
  Bash: runCommand,
};

/** Runs one tool call on the local machine, inside `options.root`. */
export async function runLocalTool(name: string, input: Input, options: LocalToolOptions): Promise<ToolResult> {
  const refusal = refusalOf(name, options);
  if (refusal) return { output: refusal, isError: true };
  try {
    const workspace = await workspaceOf(options.root);
    const result = await executors[name]!(input ?? {}, workspace, options);
    const { output, isError } = typeof result === 'string' ? { output: result, isError: false } : result;
    return { output: capped(output), isError };
  } catch (error) {
    return { output: capped(reasonOf(error)), isError: true };
  }
}

function refusalOf(name: string, options: LocalToolOptions): string | undefined {
  if ((readingTools as readonly string[]).includes(name)) return undefined;
  if ((writingTools as readonly string[]).includes(name))
    return options.allowWrite ? undefined : `${name} changes files, and this runner may not: it was started without --allow-write.`;
  if (name === 'Bash')
    return options.allowBash ? undefined : 'Bash runs commands, and this runner may not: it was started without --allow-bash.';
  const runs = [...readingTools, ...(options.allowWrite ? writingTools : []), ...(options.allowBash ? ['Bash'] : [])];
  return `${name} does not run on this runner; it runs ${runs.join(', ')} only.`;
}

async function workspaceOf(root: string): Promise<Workspace> {
  const given = resolve(root);
  const real = await realpath(given).catch(() => {
    throw new ToolFailure(`The working directory ${given} does not exist.`);
  });
  return { real, given };
}

function isInside(parent: string, child: string): boolean {
  const path = relative(parent, child);
  return path === '' || (path !== '..' && !path.startsWith(`..${sep}`) && !isAbsolute(path));
}

function shownPath(workspace: Workspace, real: string): string {
  return relative(workspace.real, real).split(sep).join('/') || '.';
}

const errnoOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;
const exists = (path: string): Promise<boolean> =>
  lstat(path).then(
    () => true,
    () => false,
  );

/**
 * Resolves a path the model gave (relative to the root, or absolute inside it) to its real path, refusing any
 * that leads outside the root. A path that does not exist yet (`mayBeNew`) is checked through the real path of
 * its nearest existing folder.
 */
async function locate(workspace: Workspace, value: unknown, field: string, mayBeNew = false): Promise<Located> {
  const given = text(value, field);
  let target = isAbsolute(given) ? resolve(given) : resolve(workspace.real, given);
  if (isAbsolute(given) && !isInside(workspace.real, target) && isInside(workspace.given, target))
    target = join(workspace.real, relative(workspace.given, target));
  if (!isInside(workspace.real, target))
    throw new ToolFailure(`${given} is outside the working directory; only paths inside it can be used.`);
  let real: string;
  try {
    real = await realpath(target);
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT' && errnoOf(error) !== 'ENOTDIR') throw error;
    if (!mayBeNew) throw new ToolFailure(`${given} does not exist.`);
    real = await realPathOfNew(target, given);
  }
  if (!isInside(workspace.real, real))
    throw new ToolFailure(`${given} leads outside the working directory through a symbolic link; only paths inside it can be used.`);
  return { real, shown: shownPath(workspace, real) };
}

async function realPathOfNew(target: string, given: string): Promise<string> {
  // A link that points nowhere would be followed by the write: it is refused, wherever it points.
  for (let missing = target; ; missing = dirname(missing)) {
    if (await exists(missing)) throw new ToolFailure(`${given} goes through a symbolic link that points nowhere; it is not followed.`);
    const parent = dirname(missing);
    try {
      const parentReal = await realpath(parent);
      if (!(await stat(parentReal)).isDirectory()) throw new ToolFailure(`${given} cannot be created: a part of the path is a file.`);
      return join(parentReal, relative(parent, target));
    } catch (error) {
      if (error instanceof ToolFailure) throw error;
      if (errnoOf(error) === 'ENOTDIR') throw new ToolFailure(`${given} cannot be created: a part of the path is a file.`);
      if (errnoOf(error) !== 'ENOENT') throw error;
    }
  }
}

function text(value: unknown, field: string, options: { optional?: boolean; empty?: boolean } = {}): string {
  if (value === undefined && options.optional) return '';
  if (typeof value !== 'string' || (!options.empty && value === ''))
    throw new ToolFailure(`\`${field}\` must be a${options.empty ? '' : ' non-empty'} string.`);
  return value;
}

function whole(value: unknown, field: string, minimum: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum)
    throw new ToolFailure(`\`${field}\` must be an integer of at least ${minimum}.`);
  return value;
}

function flag(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new ToolFailure(`\`${field}\` must be true or false.`);
  return value;
}

function capped(output: string): string {
  if (output.length <= maxOutput) return output;
  const note = `\n(output cut: ${output.length} characters, only the first ${maxOutput - 200} shown)`;
  return output.slice(0, maxOutput - 200) + note;
}

function cutLine(line: string): string {
  return line.length > maxLineLength ? `${line.slice(0, maxLineLength)}… (line cut: ${line.length} characters)` : line;
}

function reasonOf(error: unknown): string {
  if (error instanceof ToolFailure) return error.message;
  const path = (error as NodeJS.ErrnoException | undefined)?.path;
  const where = path ? ` (${path})` : '';
  switch (errnoOf(error)) {
    case 'EACCES':
    case 'EPERM':
      return `Permission denied${where}.`;
    case 'ENOENT':
      return `No such file or folder${where}.`;
    case 'EISDIR':
      return `That is a folder, not a file${where}.`;
    case 'ENOTDIR':
      return `A part of the path is a file, not a folder${where}.`;
    case 'ENOSPC':
      return `The disk is full${where}.`;
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

async function looksBinary(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const sample = Buffer.alloc(8_000);
    const { bytesRead } = await handle.read(sample, 0, sample.length, 0);
    return sample.subarray(0, bytesRead).includes(0);
  } finally {
    await handle.close();
  }
}

// Read: `cat -n`, streamed so a large file is never held whole.
async function readFileLines(input: Input, workspace: Workspace): Promise<string> {
  const file = await locate(workspace, input.file_path, 'file_path');
  const offset = whole(input.offset, 'offset', 1) ?? 1;
  const limit = whole(input.limit, 'limit', 1) ?? defaultReadLines;
  if ((await stat(file.real)).isDirectory()) throw new ToolFailure(`${file.shown} is a folder; list it with LS.`);
  if (await looksBinary(file.real)) throw new ToolFailure(`${file.shown} is a binary file; Read shows text files only.`);
  const lines = createInterface({ input: createReadStream(file.real, { encoding: 'utf8' }), crlfDelay: Infinity });
  let total = 0;
  let output = '';
  for await (const line of lines) {
    total++;
    if (total >= offset && total < offset + limit) output += `${String(total).padStart(6)}\t${cutLine(line)}\n`;
  }
  if (total === 0) return `(${file.shown} is empty)`;
  if (offset > total) throw new ToolFailure(`${file.shown} has ${total} lines; offset ${offset} is past its end.`);
  const last = Math.min(total, offset + limit - 1);
  if (last < total) output += `(${total - last} more lines; read on with offset ${last + 1})\n`;
  return output;
}

async function listFolder(input: Input, workspace: Workspace): Promise<string> {
  const folder = await locate(workspace, input.path, 'path');
  if (!(await stat(folder.real)).isDirectory()) throw new ToolFailure(`${folder.shown} is a file, not a folder; read it with Read.`);
  if (input.ignore !== undefined && (!Array.isArray(input.ignore) || input.ignore.some((item) => typeof item !== 'string')))
    throw new ToolFailure('`ignore` must be a list of glob patterns.');
  const ignored = ((input.ignore as string[] | undefined) ?? []).map((pattern) => globToRegExp(pattern));
  const lines = [`- ${folder.shown === '.' ? '.' : folder.shown}/`];
  let entries = 0;
  let stopped = false;
  const visit = async (dir: string, under: string, depth: number): Promise<void> => {
    let children;
    try {
      children = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      lines.push(`${'  '.repeat(depth)}(${reasonOf(error)})`);
      return;
    }
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) {
      if (skippedFolders.has(child.name)) continue;
      const path = under ? `${under}/${child.name}` : child.name;
      if (ignored.some((pattern) => pattern.test(child.name) || pattern.test(path))) continue;
      if (entries >= maxResults) {
        stopped = true;
        return;
      }
      entries++;
      const isFolder = child.isDirectory(); // a linked folder is listed, not entered
      lines.push(`${'  '.repeat(depth)}- ${child.name}${isFolder ? '/' : child.isSymbolicLink() ? ' (symbolic link)' : ''}`);
      if (isFolder) await visit(join(dir, child.name), path, depth + 1);
    }
  };
  await visit(folder.real, '', 1);
  if (entries === 0) lines.push('  (empty)');
  if (stopped) lines.push(`(listing stopped at ${maxResults} entries; list a subfolder, or use Glob)`);
  return `${lines.join('\n')}\n`;
}

interface WalkedFile {
  /** Where to read it. */
  real: string;
  /** Relative to the root, with `/`. */
  shown: string;
  /** Relative to the folder walked, with `/`. */
  under: string;
}

/** The files under a folder, in name order, without .git and node_modules; linked folders are not entered. */
async function walkFiles(workspace: Workspace, folder: string): Promise<{ files: WalkedFile[]; incomplete: boolean }> {
  const files: WalkedFile[] = [];
  const visit = async (dir: string, under: string): Promise<boolean> => {
    const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) {
      if (skippedFolders.has(child.name)) continue;
      const path = join(dir, child.name);
      const relativePath = under ? `${under}/${child.name}` : child.name;
      if (child.isDirectory()) {
        if (!(await visit(path, relativePath))) return false;
        continue;
      }
      let real = path;
      if (child.isSymbolicLink()) {
        // A linked file counts when it stays inside the root; a linked folder is never entered (no loops, no escape).
        const target = await realpath(path).catch(() => undefined);
        if (!target || !isInside(workspace.real, target) || !(await stat(target)).isFile()) continue;
        real = target;
      } else if (!child.isFile()) continue;
      if (files.length >= maxWalkedFiles) return false;
      files.push({ real, shown: shownPath(workspace, path), under: relativePath });
    }
    return true;
  };
  const complete = await visit(folder, '');
  return { files, incomplete: !complete };
}

async function searchedFolder(workspace: Workspace, value: unknown): Promise<Located> {
  if (value === undefined || value === '') return { real: workspace.real, shown: '.' };
  const folder = await locate(workspace, value, 'path');
  if (!(await stat(folder.real)).isDirectory()) throw new ToolFailure(`${folder.shown} is a file, not a folder.`);
  return folder;
}

function limits(found: number, incomplete: boolean, advice: string): string {
  const notes: string[] = [];
  if (found > maxResults) notes.push(`(${found} found; only the first ${maxResults} are listed: ${advice})`);
  if (incomplete) notes.push(`(the search stopped after ${maxWalkedFiles} files: ${advice})`);
  return notes.map((note) => `\n${note}`).join('');
}

// Glob: the files whose path under the folder searched matches, newest first.
async function findFiles(input: Input, workspace: Workspace): Promise<string> {
  const folder = await searchedFolder(workspace, input.path);
  let pattern = text(input.pattern, 'pattern');
  if (isAbsolute(pattern)) {
    const base = [folder.real, join(workspace.given, relative(workspace.real, folder.real))].find((prefix) =>
      pattern.startsWith(`${prefix}/`),
    );
    if (!base) throw new ToolFailure('An absolute pattern must start with the folder searched; write it relative to that folder instead.');
    pattern = pattern.slice(base.length + 1);
  }
  const matcher = globToRegExp(pattern.replace(/^(\.\/)+/, ''));
  const { files, incomplete } = await walkFiles(workspace, folder.real);
  const matching = files.filter((file) => matcher.test(file.under));
  if (matching.length === 0) return `No files match ${pattern}${folder.shown === '.' ? '' : ` in ${folder.shown}`}.`;
  const dated = await Promise.all(
    matching.map(async (file) => ({ file, modified: (await stat(file.real).catch(() => undefined))?.mtimeMs ?? 0 })),
  );
  dated.sort((a, b) => b.modified - a.modified || (a.file.shown < b.file.shown ? -1 : 1));
  const listed = dated.slice(0, maxResults).map(({ file }) => file.shown);
  return listed.join('\n') + limits(matching.length, incomplete, 'narrow the pattern or the path');
}

type GrepMode = 'files_with_matches' | 'content' | 'count';
const grepModes: readonly GrepMode[] = ['files_with_matches', 'content', 'count'];

async function searchFiles(input: Input, workspace: Workspace): Promise<string> {
  const source = text(input.pattern, 'pattern');
  const ignoreCase = flag(input['-i'], '-i');
  const numbered = flag(input['-n'], '-n');
  const mode = (input.output_mode ?? 'files_with_matches') as GrepMode;
  if (!grepModes.includes(mode)) throw new ToolFailure(`\`output_mode\` must be one of ${grepModes.join(', ')}.`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(source, ignoreCase ? 'i' : '');
  } catch (error) {
    throw new ToolFailure(`The pattern is not a valid regular expression: ${(error as Error).message}.`);
  }
  const glob = text(input.glob, 'glob', { optional: true });
  // As in ripgrep: a glob without `/` matches a file's name wherever it is, one with `/` its path.
  const globMatcher = glob ? globToRegExp(glob) : undefined;
  const globMatches = (file: WalkedFile) =>
    !globMatcher || globMatcher.test(glob.includes('/') ? file.under : file.under.slice(file.under.lastIndexOf('/') + 1));

  let files: WalkedFile[];
  let incomplete = false;
  const target = input.path === undefined || input.path === '' ? undefined : await locate(workspace, input.path, 'path');
  if (target && !(await stat(target.real)).isDirectory()) {
    files = [{ real: target.real, shown: target.shown, under: target.shown.slice(target.shown.lastIndexOf('/') + 1) }];
  } else {
    const walked = await walkFiles(workspace, target?.real ?? workspace.real);
    files = walked.files.filter(globMatches);
    incomplete = walked.incomplete;
  }

  const results: string[] = [];
  let found = 0;
  let matchingFiles = 0;
  let skipped = 0;
  for (const file of files) {
    const info = await stat(file.real).catch(() => undefined);
    if (!info || info.size > maxSearchedFileBytes) {
      skipped++;
      continue;
    }
    const bytes = await readFile(file.real).catch(() => undefined);
    if (!bytes || bytes.subarray(0, 8_000).includes(0)) continue; // unreadable or binary
    const lines = bytes.toString('utf8').split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    let count = 0;
    lines.forEach((line, index) => {
      if (!pattern.test(line)) return;
      count++;
      if (mode === 'content') {
        found++;
        if (results.length < maxResults) results.push(`${file.shown}:${numbered ? `${index + 1}:` : ''}${cutLine(line)}`);
      }
    });
    if (count === 0) continue;
    matchingFiles++;
    if (mode === 'content') continue;
    found++;
    if (results.length < maxResults) results.push(mode === 'count' ? `${file.shown}:${count}` : file.shown);
  }
  const notes = limits(found, incomplete, 'narrow the pattern, the path or the glob');
  const skippedNote = skipped ? `\n(${skipped} file(s) over ${maxSearchedFileBytes / 1024 / 1024} MB not searched)` : '';
  if (matchingFiles === 0) return `No matches for /${source}/${ignoreCase ? 'i' : ''}.${notes}${skippedNote}`;
  return results.join('\n') + notes + skippedNote;
}

async function writeWholeFile(input: Input, workspace: Workspace): Promise<string> {
  const file = await locate(workspace, input.file_path, 'file_path', true);
  const content = text(input.content, 'content', { empty: true });
  const before = await stat(file.real).catch(() => undefined);
  if (before?.isDirectory()) throw new ToolFailure(`${file.shown} is a folder.`);
  await mkdir(dirname(file.real), { recursive: true });
  await writeFile(file.real, content);
  const lines = content === '' ? 0 : content.split('\n').length - (content.endsWith('\n') ? 1 : 0);
  return `${before ? 'Replaced' : 'Created'} ${file.shown} (${lines} line${lines === 1 ? '' : 's'}).`;
}

interface Replacement {
  old_string: string;
  new_string: string;
  replace_all: boolean;
}

function replacementOf(value: unknown, label: string): Replacement {
  if (typeof value !== 'object' || value === null) throw new ToolFailure(`${label}must be an object with old_string and new_string.`);
  const edit = value as Input;
  return {
    old_string: text(edit.old_string, `${label}old_string`),
    new_string: text(edit.new_string, `${label}new_string`, { empty: true }),
    replace_all: flag(edit.replace_all, `${label}replace_all`),
  };
}

function occurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

function applyReplacement(content: string, edit: Replacement, shown: string, label: string): { content: string; replaced: number } {
  if (edit.old_string === edit.new_string) throw new ToolFailure(`${label}old_string and new_string are the same; nothing would change.`);
  const count = occurrences(content, edit.old_string);
  if (count === 0) throw new ToolFailure(`${label}old_string was not found in ${shown}.`);
  if (count > 1 && !edit.replace_all)
    throw new ToolFailure(
      `${label}old_string occurs ${count} times in ${shown}; include more of the text around it to make it unique, or set replace_all.`,
    );
  // split/join, not String.replace: `$&` and the like in new_string stay as written.
  return { content: content.split(edit.old_string).join(edit.new_string), replaced: count };
}

async function editableFile(workspace: Workspace, value: unknown): Promise<Located & { content: string }> {
  const file = await locate(workspace, value, 'file_path');
  if ((await stat(file.real)).isDirectory()) throw new ToolFailure(`${file.shown} is a folder, not a file.`);
  return { ...file, content: await readFile(file.real, 'utf8') };
}

async function editFile(input: Input, workspace: Workspace): Promise<string> {
  const edit = replacementOf(input, '');
  const file = await editableFile(workspace, input.file_path);
  const { content, replaced } = applyReplacement(file.content, edit, file.shown, '');
  await writeFile(file.real, content);
  return `Edited ${file.shown}: ${replaced} replacement${replaced === 1 ? '' : 's'}.`;
}

async function editFileMany(input: Input, workspace: Workspace): Promise<string> {
  if (!Array.isArray(input.edits) || input.edits.length === 0) throw new ToolFailure('`edits` must be a non-empty list of edits.');
  const edits = input.edits.map((edit, index) => replacementOf(edit, `edits[${index}].`));
  const file = await editableFile(workspace, input.file_path);
  let content = file.content;
  let replaced = 0;
  for (const [index, edit] of edits.entries()) {
    try {
      const applied = applyReplacement(content, edit, file.shown, `Edit ${index + 1} of ${edits.length}: `);
      content = applied.content;
      replaced += applied.replaced;
    } catch (error) {
      throw new ToolFailure(`${reasonOf(error)} No edit was made.`);
    }
  }
  await writeFile(file.real, content);
  return `Edited ${file.shown}: ${edits.length} edit${edits.length === 1 ? '' : 's'}, ${replaced} replacement${replaced === 1 ? '' : 's'}.`;
}

/** Keeps the start and the end of a command's output, whatever its length. */
function outputCollector(limit: number) {
  const half = Math.floor(limit / 2);
  let head = '';
  let tail = '';
  let total = 0;
  return {
    add(chunk: string) {
      total += chunk.length;
      if (head.length < half) {
        const room = half - head.length;
        head += chunk.slice(0, room);
        chunk = chunk.slice(room);
      }
      if (chunk) tail = (tail + chunk).slice(-half);
    },
    text(): string {
      if (total <= limit) return head + tail;
      return `${head}\n… (${total - head.length - tail.length} characters cut) …\n${tail}`;
    },
  };
}

function commandEnvironment(): NodeJS.ProcessEnv {
  // The runner's credentials are not the command's: a command the model wrote never sees them.
  const env = { ...process.env };
  for (const name of credentialVariables) delete env[name];
  return env;
}

async function runCommand(input: Input, workspace: Workspace, options: LocalToolOptions): Promise<ToolResult> {
  const command = text(input.command, 'command');
  const timeout = Math.min(whole(input.timeout, 'timeout', 1) ?? defaultCommandTimeoutMs, maxCommandTimeoutMs);
  if (options.signal?.aborted) throw new ToolFailure('The command was not run: the runner is stopping.');
  // Its own process group, so a timeout or a stop ends whatever the command started too.
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: workspace.real,
    env: options.env ?? commandEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const output = outputCollector(maxCommandOutput);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => output.add(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => output.add(chunk));
  let stoppedBy: 'timeout' | 'abort' | undefined;
  const stop = (reason: 'timeout' | 'abort') => {
    stoppedBy ??= reason;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  const timer = setTimeout(() => stop('timeout'), timeout);
  const onAbort = () => stop('abort');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        // What is still in the pipes arrives before `close`; a background process holding them open is not waited for.
        const grace = setTimeout(() => resolveExit({ code, signal }), 1_000);
        child.once('close', () => {
          clearTimeout(grace);
          resolveExit({ code, signal });
        });
      });
    });
    child.stdout.destroy();
    child.stderr.destroy();
    const shown = output.text().replace(/\s+$/, '') || '(no output)';
    if (stoppedBy === 'timeout') return { output: `${shown}\n(stopped: the command ran longer than ${timeout} ms)`, isError: true };
    if (stoppedBy === 'abort') return { output: `${shown}\n(stopped: the runner is stopping)`, isError: true };
    if (exit.code === null) return { output: `${shown}\n(ended by signal ${exit.signal})`, isError: true };
    return { output: `${shown}\n(exit code ${exit.code})`, isError: exit.code !== 0 };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * A glob as an anchored RegExp over `/`-separated relative paths: `*` and `?` within one segment, `**` across
 * segments (`a/**\/b` also matches `a/b`), `{a,b}` alternatives (nested too), `[abc]`, `[a-z]`, `[!x]`/`[^x]`,
 * and `\` to escape.
 */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${globSource(pattern)}$`);
}

const regExpSpecials = /[.*+?^${}()|[\]\\/]/g;

function globSource(pattern: string): string {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '\\' && i + 1 < pattern.length) {
      source += pattern[++i]!.replace(regExpSpecials, '\\$&');
    } else if (char === '*') {
      if (pattern[i + 1] === '*') {
        const atSegmentStart = i === 0 || pattern[i - 1] === '/';
        let end = i + 2;
        while (pattern[end] === '*') end++;
        if (atSegmentStart && pattern[end] === '/') {
          source += '(?:.*/)?';
          i = end; // the `/` is part of the optional group
          continue;
        }
        if (atSegmentStart && end === pattern.length) {
          source += '.*';
          i = end - 1;
          continue;
        }
        i = end - 1;
      }
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '[') {
      const close = classEnd(pattern, i);
      if (close === -1) {
        source += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      const escaped = body.replace(/\\(.)/g, '$1').replace(/[\\\]^[]/g, '\\$&');
      source += negated ? `[^/${escaped}]` : `[${escaped}]`;
      i = close;
    } else if (char === '{') {
      const close = braceEnd(pattern, i);
      const alternatives = close === -1 ? [] : splitAlternatives(pattern.slice(i + 1, close));
      if (alternatives.length < 2) {
        source += '\\{';
        continue;
      }
      source += `(?:${alternatives.map(globSource).join('|')})`;
      i = close;
    } else {
      source += char.replace(regExpSpecials, '\\$&');
    }
  }
  return source;
}

function classEnd(pattern: string, open: number): number {
  let i = open + 1;
  if (pattern[i] === '!' || pattern[i] === '^') i++;
  if (pattern[i] === ']') i++; // a `]` first is a member
  for (; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return -1;
}

function braceEnd(pattern: string, open: number): number {
  let depth = 0;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === '{') depth++;
    else if (pattern[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function splitAlternatives(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\') i++;
    else if (body[i] === '{') depth++;
    else if (body[i] === '}') depth--;
    else if (body[i] === ',' && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}
