// Bundles the Netlify functions with esbuild: Netlify's runtime cannot require() our ES modules, so each
// function ships as a self-contained ESM file in dist/functions/. Minified, and split: what only some
// requests need (the Stripe SDK, the YAML library, Ajv for other contracts) sits in shared chunks under
// dist/functions/lib/, loaded on first use, so a cold start parses only what its first request runs.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

rmSync(resolve(root, 'dist/functions'), { recursive: true, force: true });
await build({
  entryPoints: {
    api: resolve(root, 'netlify/functions/api.ts'),
    'task-worker-background': resolve(root, 'netlify/functions/task-worker-background.ts'),
    'task-sweep': resolve(root, 'netlify/functions/task-sweep.ts'),
  },
  outdir: resolve(root, 'dist/functions'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  minify: true,
  splitting: true,
  // Not at the top of dist/functions/, where every file is a function.
  chunkNames: 'lib/[name]-[hash]',
  logLevel: 'warning',
  // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
console.log('Bundled dist/functions/{api,task-worker-background,task-sweep}.mjs');
