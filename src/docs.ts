// The Redoc page for /docs, built by @redocly/cli from the bundled contract with Redoc inlined (no CDN), in our
// template (src/docs-page.hbs: the favicon), with the two fixes of `fixRedocPage`.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const docsPath = join(root, 'dist/docs/index.html');
const contractPath = join(root, 'src/generated/openapi.json');
const templatePath = join(root, 'src/docs-page.hbs');

/** Whether the page is older than what it is built from: the contract, the template or this builder. */
function isStale(): boolean {
  if (!existsSync(docsPath)) return true;
  const built = statSync(docsPath).mtimeMs;
  return [contractPath, templatePath, import.meta.filename].some((source) => built < statSync(source).mtimeMs);
}

/** A small SVG word drawn by the page itself, in place of Redocly's logo from its CDN. */
function wordmark(text: string, width: number): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="16" viewBox="0 0 ${width} 16"><text x="0" y="12.5" font-family="sans-serif" font-size="13" font-weight="600" fill="#0044d4">${text}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/**
 * Two fixes to the page Redoc 3.0 builds; each throws when it finds nothing to change, so that a Redoc upgrade
 * that changes the markup fails the build instead of bringing the fault back.
 * - The sidebar's links are prerendered as paths (`href="/tasks"`, from a router at `/`), which 404 when opened
 *   in a new tab, while the page routes by hash once it runs (`#/tasks`): prerender them as the page renders them
 *   (React Router marks its links `data-discover`; Markdown links such as `/v1/changelog` stay as they are).
 * - Its "API docs by Redocly" image comes from cdn.redoc.ly, which the page's policy refuses (a console error on
 *   every load) and an offline reader cannot reach: draw it from a data: URL instead.
 */
export function fixRedocPage(html: string): string {
  let links = 0;
  let logos = 0;
  const fixed = html
    .replace(/ href="\/([^"]*)" data-discover="true"/g, (_match, path: string) => {
      links++;
      return ` href="#/${path}" data-discover="true"`;
    })
    .replace(/https:\/\/cdn\.redoc\.ly\/redoc\/logo-mini(-full)?\.svg/g, (_match, full?: string) => {
      logos++;
      return full ? wordmark('Redocly', 60) : wordmark('R', 10);
    });
  if (links === 0) throw new Error('fixRedocPage: no prerendered router link (href="/…" data-discover) found in the built page');
  if (logos !== 2) throw new Error(`fixRedocPage: expected Redocly's two CDN logo URLs in the built page, found ${logos}`);
  return fixed;
}

export async function buildDocs({ force = false } = {}): Promise<string> {
  if (!force && !isStale()) return docsPath;
  const redocly = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
  // Built beside the page and fixed on the way in, so that the page at docsPath is never Redoc's unfixed one.
  const builtPath = `${docsPath}.redoc.html`;
  try {
    await promisify(execFile)(
      process.execPath,
      [
        redocly,
        'build-docs',
        contractPath,
        '--output',
        builtPath,
        '--title',
        'Staffroom API',
        '--inlineBundle',
        '--template',
        templatePath,
      ],
      { cwd: dirname(contractPath), env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
    );
    writeFileSync(docsPath, fixRedocPage(readFileSync(builtPath, 'utf8')));
  } finally {
    rmSync(builtPath, { force: true });
  }
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
