// The Redoc page for /docs, built by @redocly/cli from the bundled contract with Redoc inlined (no CDN).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const docsPath = join(root, 'dist/docs/index.html');
const contractPath = join(root, 'src/generated/openapi.json');

function isStale(): boolean {
  return !existsSync(docsPath) || statSync(docsPath).mtimeMs < statSync(contractPath).mtimeMs;
}

export async function buildDocs({ force = false } = {}): Promise<string> {
  if (!force && !isStale()) return docsPath;
  const redocly = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
  await promisify(execFile)(
    process.execPath,
    [redocly, 'build-docs', contractPath, '--output', docsPath, '--title', 'Staffroom API', '--inlineBundle'],
    { cwd: dirname(contractPath), env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
  );
  return docsPath;
}

/** The built page, rebuilt first when the contract is newer; undefined when it cannot be built here. */
export async function readDocs(): Promise<string | undefined> {
  try {
    await buildDocs();
    return readFileSync(docsPath, 'utf8');
  } catch {
    return existsSync(docsPath) ? readFileSync(docsPath, 'utf8') : undefined;
  }
}
