// Bundles the Netlify functions with esbuild: Netlify's runtime cannot require() our ES modules, so each
// function ships as one self-contained ESM file in dist/functions/.
import { build } from 'esbuild';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

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
  logLevel: 'warning',
  // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
console.log('Bundled dist/functions/{api,task-worker-background,task-sweep}.mjs');
