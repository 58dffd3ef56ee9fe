// Bundles the Netlify functions with esbuild: Netlify's runtime cannot require() our ES modules, so each
// function ships as a self-contained ESM file in dist/functions/. Minified, and split: what only some
// requests need (the Stripe SDK, the YAML library, Ajv for other contracts) sits in shared chunks under
// dist/functions/lib/, loaded on first use, so a cold start parses only what its first request runs; what the
// functions never run is left out.
import { build } from 'esbuild';
import { contractAsJson, functionBuildOptions, leftOut } from './function-bundle.js';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

rmSync(resolve(root, 'dist/functions'), { recursive: true, force: true });
await build({
  ...functionBuildOptions,
  entryPoints: {
    api: resolve(root, 'netlify/functions/api.ts'),
    'task-worker-background': resolve(root, 'netlify/functions/task-worker-background.ts'),
    'task-sweep': resolve(root, 'netlify/functions/task-sweep.ts'),
  },
  outdir: resolve(root, 'dist/functions'),
  plugins: [leftOut, contractAsJson],
});
console.log('Bundled dist/functions/{api,task-worker-background,task-sweep}.mjs');
