// How a Netlify function is bundled (esbuild): the options and plugins that scripts/build-functions.ts uses, and
// that the bench's cold-start peer is bundled with too, so that both are bundled the same way.
import { readFile } from 'node:fs/promises';
import type { BuildOptions, Plugin } from 'esbuild';

/**
 * Packages openapi-backend loads only for a definition given as a file, or outside quick mode (the patch in
 * patches/ made those requires lazy): the function hands it the bundled contract as an object in quick mode, so
 * they are left out of the bundle, and a require of one says why instead of parsing ~150 KB at every cold start.
 */
export const leftOut: Plugin = {
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

/**
 * The bundled contract as a JSON text that the function parses, instead of the object literal esbuild would write:
 * V8 reads a large JSON text several times faster than the same data as JavaScript source.
 */
export const contractAsJson: Plugin = {
  name: 'contract-as-json',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]generated[\\/]openapi\.json$/ }, async (args) => ({
      contents: `export default JSON.parse(${JSON.stringify(JSON.stringify(JSON.parse(await readFile(args.path, 'utf8'))))});`,
      loader: 'js',
    }));
  },
};

/** Self-contained ESM files, minified and split: what only some requests need sits in lib/, loaded on first use. */
export const functionBuildOptions: BuildOptions = {
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  minify: true,
  splitting: true,
  // Not at the top of the output folder, where every file is a function.
  chunkNames: 'lib/[name]-[hash]',
  logLevel: 'warning',
  plugins: [contractAsJson],
  // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
};
