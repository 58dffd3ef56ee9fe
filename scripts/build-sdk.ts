// Builds @staffroom/sdk into sdk/dist/: one ES module bundling its dependencies (openapi-fetch,
// standardwebhooks), so that an app installs nothing else, and its type declarations. The declarations of
// the bundled libraries are copied beside ours, as a consumer has no copy of them to resolve.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const sdk = join(root, 'sdk');
const dist = join(sdk, 'dist');
const require = createRequire(import.meta.url);

/** The package's version is the contract's: an app can tell which contract its SDK speaks. */
function checkVersion(): void {
  const contract = JSON.parse(readFileSync(join(root, 'src/generated/openapi.json'), 'utf8')) as { info: { version: string } };
  const pkg = JSON.parse(readFileSync(join(sdk, 'package.json'), 'utf8')) as { version: string };
  if (pkg.version !== contract.info.version) {
    throw new Error(`sdk/package.json has version ${pkg.version} but the contract is ${contract.info.version}: set it to the contract's.`);
  }
}

/** Where a package's files are, from its package.json (whatever its `exports` allow). */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (
    !existsSync(join(dir, 'package.json')) ||
    (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name !== name
  ) {
    dir = dirname(dir);
  }
  return dir;
}

async function bundle(): Promise<string[]> {
  const result = await build({
    entryPoints: [join(sdk, 'index.ts')],
    outfile: join(dist, 'index.js'),
    bundle: true,
    format: 'esm',
    // Neither Node nor a browser: only the globals both have (fetch, TextDecoder, crypto, AbortSignal).
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: ['es2022'],
    sourcemap: true,
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  });
  const bundled = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) bundled.add(match[1]!);
  }
  return [...bundled].sort();
}

/** Their licences travel with what is copied of them. */
function writeNotices(packages: string[]): void {
  const notices = packages.map((name) => {
    const dir = packageDir(name);
    const license = readdirSync(dir).find((file) => /^licen[cs]e/i.test(file));
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    return `${name}@${version}\n\n${license ? readFileSync(join(dir, license), 'utf8').trim() : '(no licence file)'}\n`;
  });
  writeFileSync(join(dist, 'THIRD-PARTY-NOTICES.txt'), `@staffroom/sdk bundles these packages:\n\n${notices.join('\n---\n\n')}`);
}

function declarations(): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(sdk, 'tsconfig.json')], { stdio: 'inherit' });
  const vendor = join(dist, 'vendor');
  mkdirSync(vendor, { recursive: true });
  const vendored: Record<string, string> = {
    'openapi-fetch': join(packageDir('openapi-fetch'), 'dist/index.d.mts'),
    'openapi-typescript-helpers': join(packageDir('openapi-typescript-helpers'), 'dist/index.d.mts'),
    standardwebhooks: join(packageDir('standardwebhooks'), 'dist/index.d.ts'),
  };
  for (const [name, file] of Object.entries(vendored)) copyFileSync(file, join(vendor, `${name}.d.ts`));
  for (const file of declarationFiles(dist)) {
    let text = readFileSync(file, 'utf8');
    for (const name of Object.keys(vendored)) {
      let target = relative(dirname(file), join(vendor, `${name}.js`)).replaceAll('\\', '/');
      if (!target.startsWith('.')) target = `./${target}`;
      text = text.replaceAll(`from '${name}'`, `from '${target}'`);
    }
    writeFileSync(file, text);
  }
  const unresolved = declarationFiles(dist).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/from ['"]([^'".][^'"]*)['"]/g)].map((m) => `${relative(dist, file)}: ${m[1]}`),
  );
  if (unresolved.length) throw new Error(`Type declarations import packages a consumer does not have:\n${unresolved.join('\n')}`);
}

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? declarationFiles(join(dir, entry.name)) : entry.name.endsWith('.d.ts') ? [join(dir, entry.name)] : [],
  );
}

checkVersion();
rmSync(dist, { recursive: true, force: true });
const bundled = await bundle();
// openapi-typescript-helpers has no code in the bundle, only its type declarations beside it.
writeNotices([...bundled, 'openapi-typescript-helpers']);
declarations();
console.log(`Built sdk/dist (bundled: ${bundled.join(', ')}).`);
