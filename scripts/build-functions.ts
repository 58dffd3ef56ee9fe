// Bundles the Netlify functions with esbuild: Netlify's runtime cannot require() our ES modules, so each
// function ships as a self-contained ESM file in dist/functions/. Minified, and split: what only some
// requests need (the Stripe SDK, the YAML library, Ajv for other contracts) sits in shared chunks under
// dist/functions/lib/, loaded on first use, so a cold start parses only what its first request runs; what the
// functions never run is left out.
import { build, type Plugin } from 'esbuild';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/**
 * Packages openapi-backend loads only for a definition given as a file, or outside quick mode (the patch in
 * patches/ made those requires lazy): the function hands it the bundled contract as an object in quick mode, so
 * they are left out of the bundle, and a require of one says why instead of parsing ~150 KB at every cold start.
 */
const leftOut: Plugin = {
  name: 'left-out',
  setup(build) {
    build.onResolve({ filter: /^(@apidevtools\/json-schema-ref-parser|openapi-schema-validator)$/ }, (args) => ({
      path: args.path,
      namespace: 'left-out',
    }));
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is left out of the function bundle: openapi-backend needs it only for a definition given as a file or outside quick mode.`)});`,
      loader: 'js',
    }));
  },
};

rmSync(resolve(root, 'dist/functions'), { recursive: true, force: true });
/**
 * The bundled contract as a JSON text that the function parses, instead of the object literal esbuild would write:
 * V8 reads a large JSON text several times faster than the same data as JavaScript source.
 */
const contractAsJson: Plugin = {
  name: 'contract-as-json',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]generated[\\/]openapi\.json$/ }, async (args) => ({
      contents: `export default JSON.parse(${JSON.stringify(JSON.stringify(JSON.parse(await readFile(args.path, 'utf8'))))});`,
      loader: 'js',
    }));
  },
};

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
  plugins: [leftOut, contractAsJson],
  // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
console.log('Bundled dist/functions/{api,task-worker-background,task-sweep}.mjs');
