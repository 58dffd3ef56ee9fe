import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { globToRegExp, maxResults, runLocalTool, type LocalToolOptions } from '../../src/runner/tools.js';

let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'staffroom-runner-tools-'));
  root = join(base, 'work');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'top secret\n');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const put = (path: string, content: string, modifiedSecondsAgo?: number) => {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
  if (modifiedSecondsAgo !== undefined) {
    const at = new Date(Date.now() - modifiedSecondsAgo * 1000);
    utimesSync(join(root, path), at, at);
  }
};
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const run = (name: string, input: Record<string, unknown>, options: Partial<LocalToolOptions> = {}) =>
  runLocalTool(name, input, { root, ...options });
const writable = { allowWrite: true };

describe('Read', () => {
  it('numbers lines like cat -n', async () => {
    put('notes.txt', 'first\nsecond\n');
    expect(await run('Read', { file_path: 'notes.txt' })).toEqual({ output: '     1\tfirst\n     2\tsecond\n', isError: false });
  });

  it('reads a range with offset and limit, and says what is left', async () => {
    put('lines.txt', Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n'));
    const { output, isError } = await run('Read', { file_path: 'lines.txt', offset: 3, limit: 2 });
    expect(isError).toBe(false);
    expect(output).toBe('     3\tline 3\n     4\tline 4\n(6 more lines; read on with offset 5)\n');
    expect((await run('Read', { file_path: 'lines.txt', offset: 11 })).output).toMatch(/has 10 lines; offset 11 is past its end/);
  });

  it('cuts lines over 2000 characters and accepts an absolute path inside the root', async () => {
    put('long.txt', 'x'.repeat(2_500));
    const { output } = await run('Read', { file_path: join(root, 'long.txt') });
    expect(output).toContain(`\t${'x'.repeat(2_000)}… (line cut: 2500 characters)`);
    expect(output).not.toContain('x'.repeat(2_001));
  });

  it('answers plain errors for a missing file, a folder, a binary file and a bad offset', async () => {
    put('dir/a.txt', 'a');
    writeFileSync(join(root, 'image.bin'), Buffer.from([0x89, 0x50, 0x00, 0x01]));
    expect(await run('Read', { file_path: 'nope.txt' })).toEqual({ output: 'nope.txt does not exist.', isError: true });
    expect((await run('Read', { file_path: 'dir' })).output).toMatch(/is a folder/);
    expect((await run('Read', { file_path: 'image.bin' })).output).toMatch(/binary/);
    expect((await run('Read', { file_path: 'dir/a.txt', offset: 0 })).output).toMatch(/`offset` must be an integer of at least 1/);
  });
});

describe('paths stay inside the root', () => {
  it('refuses ../, an absolute path outside and a symlink pointing outside', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(root, 'link.txt'));
    symlinkSync(outside, join(root, 'linked-dir'));
    for (const file_path of ['../outside/secret.txt', join(outside, 'secret.txt'), 'a/../../outside/secret.txt']) {
      const result = await run('Read', { file_path });
      expect(result.isError).toBe(true);
      expect(result.output).toMatch(/outside the working directory/);
    }
    for (const file_path of ['link.txt', 'linked-dir/secret.txt']) {
      const result = await run('Read', { file_path });
      expect(result).toMatchObject({ isError: true, output: expect.stringMatching(/symbolic link/) });
      expect(result.output).not.toContain('top secret');
    }
  });

  it('refuses to write through a symlinked folder, a dangling link or ..', async () => {
    symlinkSync(outside, join(root, 'linked-dir'));
    symlinkSync(join(outside, 'not-yet.txt'), join(root, 'dangling.txt'));
    for (const file_path of ['linked-dir/new.txt', 'linked-dir/deeper/new.txt', 'dangling.txt', '../new.txt']) {
      const result = await run('Write', { file_path, content: 'x' }, writable);
      expect(result.isError, file_path).toBe(true);
    }
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
    expect(existsSync(join(outside, 'deeper'))).toBe(false);
    expect(existsSync(join(outside, 'not-yet.txt'))).toBe(false);
    expect(existsSync(join(base, 'new.txt'))).toBe(false);
  });

  it('follows a symlink that stays inside', async () => {
    put('real.txt', 'inside\n');
    symlinkSync(join(root, 'real.txt'), join(root, 'alias.txt'));
    expect(await run('Read', { file_path: 'alias.txt' })).toEqual({ output: '     1\tinside\n', isError: false });
  });

  it('accepts the root given through a symlink, and absolute paths written with it', async () => {
    const alias = join(base, 'alias');
    symlinkSync(root, alias);
    put('a.txt', 'hello');
    expect((await runLocalTool('Read', { file_path: join(alias, 'a.txt') }, { root: alias })).output).toBe('     1\thello\n');
  });
});

describe('permissions', () => {
  it('refuses Write, Edit, MultiEdit without allowWrite and Bash without allowBash', async () => {
    put('a.txt', 'a');
    for (const [name, input] of [
      ['Write', { file_path: 'b.txt', content: 'b' }],
      ['Edit', { file_path: 'a.txt', old_string: 'a', new_string: 'b' }],
      ['MultiEdit', { file_path: 'a.txt', edits: [{ old_string: 'a', new_string: 'b' }] }],
    ] as const) {
      expect(await run(name, input)).toEqual({ output: expect.stringMatching(/--allow-write/), isError: true });
    }
    expect(existsSync(join(root, 'b.txt'))).toBe(false);
    expect(read('a.txt')).toBe('a');
    expect(await run('Bash', { command: 'touch ran' }, writable)).toEqual({ output: expect.stringMatching(/--allow-bash/), isError: true });
    expect(existsSync(join(root, 'ran'))).toBe(false);
  });

  it('refuses tools that do not run here', async () => {
    for (const name of ['WebFetch', 'Task', 'mcp__github__create_issue', 'Nonsense']) {
      const result = await run(name, {}, { allowWrite: true, allowBash: true });
      expect(result.isError).toBe(true);
      expect(result.output).toBe(`${name} does not run on this runner; it runs Read, LS, Glob, Grep, Write, Edit, MultiEdit, Bash only.`);
    }
  });
});

describe('Write', () => {
  it('creates a file with its folders, and replaces one', async () => {
    expect(await run('Write', { file_path: 'src/new/a.ts', content: 'one\ntwo\n' }, writable)).toEqual({
      output: 'Created src/new/a.ts (2 lines).',
      isError: false,
    });
    expect(read('src/new/a.ts')).toBe('one\ntwo\n');
    expect((await run('Write', { file_path: 'src/new/a.ts', content: '' }, writable)).output).toBe('Replaced src/new/a.ts (0 lines).');
    expect(read('src/new/a.ts')).toBe('');
  });
});

describe('Edit', () => {
  it('replaces a unique string, literally', async () => {
    put('a.ts', 'const a = 1;\nconst b = 2;\n');
    expect(await run('Edit', { file_path: 'a.ts', old_string: 'b = 2', new_string: "b = '$&'" }, writable)).toEqual({
      output: 'Edited a.ts: 1 replacement.',
      isError: false,
    });
    expect(read('a.ts')).toBe("const a = 1;\nconst b = '$&';\n");
  });

  it('refuses a string that is not unique unless replace_all, and one that is absent', async () => {
    put('a.ts', 'x x x');
    const twice = await run('Edit', { file_path: 'a.ts', old_string: 'x', new_string: 'y' }, writable);
    expect(twice).toEqual({ output: expect.stringMatching(/occurs 3 times in a\.ts.*replace_all/), isError: true });
    expect(read('a.ts')).toBe('x x x');
    expect(await run('Edit', { file_path: 'a.ts', old_string: 'x', new_string: 'y', replace_all: true }, writable)).toMatchObject({
      output: 'Edited a.ts: 3 replacements.',
    });
    expect(read('a.ts')).toBe('y y y');
    expect(await run('Edit', { file_path: 'a.ts', old_string: 'z', new_string: 'y' }, writable)).toEqual({
      output: 'old_string was not found in a.ts.',
      isError: true,
    });
    expect((await run('Edit', { file_path: 'a.ts', old_string: 'y', new_string: 'y' }, writable)).isError).toBe(true);
  });
});

describe('MultiEdit', () => {
  it('applies the edits in order', async () => {
    put('a.txt', 'alpha beta');
    const edits = [
      { old_string: 'alpha', new_string: 'gamma' },
      { old_string: 'gamma beta', new_string: 'done' },
    ];
    expect(await run('MultiEdit', { file_path: 'a.txt', edits }, writable)).toEqual({
      output: 'Edited a.txt: 2 edits, 2 replacements.',
      isError: false,
    });
    expect(read('a.txt')).toBe('done');
  });

  it('changes nothing when one edit fails', async () => {
    put('a.txt', 'alpha beta beta');
    const result = await run(
      'MultiEdit',
      {
        file_path: 'a.txt',
        edits: [
          { old_string: 'alpha', new_string: 'gamma' },
          { old_string: 'beta', new_string: 'delta' },
        ],
      },
      writable,
    );
    expect(result).toEqual({
      output: expect.stringMatching(/^Edit 2 of 2: old_string occurs 2 times.*No edit was made\.$/),
      isError: true,
    });
    expect(read('a.txt')).toBe('alpha beta beta');
  });
});

describe('globToRegExp', () => {
  it.each([
    ['*.ts', 'a.ts', true],
    ['*.ts', 'src/a.ts', false],
    ['**/*.ts', 'a.ts', true],
    ['**/*.ts', 'src/deep/a.ts', true],
    ['src/**/*.ts', 'src/a.ts', true],
    ['src/**/*.ts', 'src/x/y/a.ts', true],
    ['src/**/*.ts', 'lib/a.ts', false],
    ['src/**', 'src/x/y', true],
    ['a?c.md', 'abc.md', true],
    ['a?c.md', 'a/c.md', false],
    ['*.{ts,js}', 'a.js', true],
    ['*.{ts,js}', 'a.json', false],
    ['{src,test}/**/*.{ts,mts}', 'test/unit/a.mts', true],
    ['{a,{b,c}x}.txt', 'cx.txt', true],
    ['[abc].txt', 'b.txt', true],
    ['[!abc].txt', 'b.txt', false],
    ['[a-c]*.txt', 'car.txt', true],
    ['[^a-c]*.txt', 'dog.txt', true],
    ['file(1).txt', 'file(1).txt', true],
    ['a.b', 'axb', false],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'a.txt', false],
    ['{a}.txt', '{a}.txt', true],
  ])('%s against %s is %s', (pattern, path, matches) => {
    expect(globToRegExp(pattern).test(path)).toBe(matches);
  });
});

describe('Glob', () => {
  it('lists matches relative to the root, newest first, skipping .git and node_modules', async () => {
    put('src/old.ts', '', 300);
    put('src/lib/new.ts', '', 10);
    put('src/readme.md', '');
    put('node_modules/pkg/index.ts', '');
    put('.git/hooks/x.ts', '');
    expect(await run('Glob', { pattern: '**/*.ts' })).toEqual({ output: 'src/lib/new.ts\nsrc/old.ts', isError: false });
    expect((await run('Glob', { pattern: '*.ts', path: 'src' })).output).toBe('src/old.ts');
    expect((await run('Glob', { pattern: '*.py' })).output).toBe('No files match *.py.');
    expect((await run('Glob', { pattern: '*', path: '..' })).isError).toBe(true);
  });

  it(`stops at ${maxResults} results and says so`, async () => {
    for (let i = 0; i < maxResults + 5; i++) put(`many/f${i}.txt`, '');
    const { output } = await run('Glob', { pattern: 'many/*.txt' });
    expect(output.split('\n').filter((line) => line.startsWith('many/'))).toHaveLength(maxResults);
    expect(output).toContain(`(${maxResults + 5} found; only the first ${maxResults} are listed`);
  });
});

describe('Grep', () => {
  beforeEach(() => {
    put('src/a.ts', 'const TODO = 1;\nfine\n// todo: later\n');
    put('src/b.js', 'todo\n');
    put('docs/c.md', 'nothing here\n');
    put('node_modules/x/todo.ts', 'TODO\n');
  });

  it('lists the files with matches by default', async () => {
    expect(await run('Grep', { pattern: 'TODO' })).toEqual({ output: 'src/a.ts', isError: false });
    expect((await run('Grep', { pattern: 'todo', '-i': true })).output).toBe('src/a.ts\nsrc/b.js');
  });

  it('answers matching lines, numbered with -n', async () => {
    expect((await run('Grep', { pattern: 'todo', '-i': true, output_mode: 'content' })).output).toBe(
      'src/a.ts:const TODO = 1;\nsrc/a.ts:// todo: later\nsrc/b.js:todo',
    );
    expect((await run('Grep', { pattern: 'todo', output_mode: 'content', '-n': true })).output).toBe(
      'src/a.ts:3:// todo: later\nsrc/b.js:1:todo',
    );
  });

  it('counts matches per file', async () => {
    expect((await run('Grep', { pattern: 'todo', '-i': true, output_mode: 'count' })).output).toBe('src/a.ts:2\nsrc/b.js:1');
  });

  it('filters by glob and path, and searches one file', async () => {
    expect((await run('Grep', { pattern: 'todo', '-i': true, glob: '*.js' })).output).toBe('src/b.js');
    expect((await run('Grep', { pattern: 'todo', '-i': true, glob: 'src/*.ts' })).output).toBe('src/a.ts');
    expect((await run('Grep', { pattern: 'here', path: 'docs' })).output).toBe('docs/c.md');
    expect((await run('Grep', { pattern: 'later', path: 'src/a.ts', output_mode: 'content', '-n': true })).output).toBe(
      'src/a.ts:3:// todo: later',
    );
  });

  it('says when nothing matches and refuses a bad pattern', async () => {
    expect(await run('Grep', { pattern: 'absent' })).toEqual({ output: 'No matches for /absent/.', isError: false });
    expect(await run('Grep', { pattern: '(' })).toEqual({ output: expect.stringMatching(/not a valid regular expression/), isError: true });
    expect((await run('Grep', { pattern: 'x', output_mode: 'lines' })).isError).toBe(true);
  });
});

describe('LS', () => {
  it('lists a tree, folders marked, ignoring patterns, .git and node_modules', async () => {
    put('src/a.ts', '');
    put('src/lib/b.ts', '');
    put('dist/out.js', '');
    put('node_modules/x/i.js', '');
    put('.git/HEAD', '');
    put('notes.txt', '');
    expect(await run('LS', { path: '.', ignore: ['dist'] })).toEqual({
      output: '- ./\n  - notes.txt\n  - src/\n    - a.ts\n    - lib/\n      - b.ts\n',
      isError: false,
    });
    expect((await run('LS', { path: 'src', ignore: ['*.ts'] })).output).toBe('- src/\n  - lib/\n');
    expect((await run('LS', { path: 'notes.txt' })).isError).toBe(true);
    expect((await run('LS', { path: outside })).isError).toBe(true);
  });
});

describe('Bash', () => {
  const shell = { allowBash: true };

  it('runs in the root and notes the exit code', async () => {
    put('here.txt', '');
    expect(await run('Bash', { command: 'ls; echo oops >&2' }, shell)).toEqual({ output: 'here.txt\noops\n(exit code 0)', isError: false });
    expect(await run('Bash', { command: 'exit 3' }, shell)).toEqual({ output: '(no output)\n(exit code 3)', isError: true });
  });

  it('keeps the start and end of long output, within 30,000 characters', async () => {
    const { output } = await run('Bash', { command: 'yes abcdefghi | head -n 10000; echo END' }, shell);
    expect(output.length).toBeLessThan(30_200);
    expect(output).toMatch(/characters cut/);
    expect(output).toMatch(/^abcdefghi\n/);
    expect(output).toMatch(/END\n\(exit code 0\)$/);
  });

  it('stops a command at its timeout, and when the runner stops', async () => {
    const started = Date.now();
    expect(await run('Bash', { command: 'echo started; sleep 30', timeout: 300 }, shell)).toEqual({
      output: 'started\n(stopped: the command ran longer than 300 ms)',
      isError: true,
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    expect((await run('Bash', { command: 'sleep 30' }, { ...shell, signal: controller.signal })).output).toMatch(/runner is stopping/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('hides the runner credentials from commands', async () => {
    process.env.STAFFROOM_API_KEY = 'sk_secret';
    try {
      expect((await run('Bash', { command: 'echo "key=$STAFFROOM_API_KEY"' }, shell)).output).toBe('key=\n(exit code 0)');
    } finally {
      delete process.env.STAFFROOM_API_KEY;
    }
  });
});
