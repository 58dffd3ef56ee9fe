// Cold starts of Netlify functions: `npm run build:functions` (ours) or an esbuild bundle made the same way (a
// peer), then fresh `node` processes that each import the bundle and answer one request
// (scripts/bench/cold-start-probe.mjs), pinned to the server core.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { functionBuildOptions } from '../function-bundle.js';
import type { BenchRequest } from './wrk.js';
import { runPinned } from './processes.js';

export const bundlePath = (root: string): string => resolve(root, 'dist/functions/api.mjs');

export interface ColdStartResult {
  runs: number[];
  medianMs: number;
  maxMs: number;
}

/** `npm run build:functions`, its output shown only when it fails. */
export async function buildFunctions(root: string): Promise<void> {
  const child = spawn('npm', ['run', '-s', 'build:functions'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolveExit, reject) => {
    child.once('error', reject);
    child.once('close', resolveExit);
  });
  if (code !== 0) throw new Error(`npm run build:functions failed (${code}):\n${output}`);
}

/**
 * Bundles a function's source (relative to the root) into `outdir` as api.mjs, with the options ours is bundled
 * with (not what ours leaves out: a stock peer loads it); returns its path.
 */
export async function bundlePeerFunction(root: string, source: string, outdir: string): Promise<string> {
  await build({ ...functionBuildOptions, entryPoints: { api: resolve(root, source) }, outdir });
  return resolve(outdir, 'api.mjs');
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** `runs` fresh processes, each importing `bundle` and timing its first request; fails unless every one answers 2xx. */
export async function measureColdStart(options: {
  root: string;
  bundle: string;
  cpu: number;
  request: BenchRequest;
  env: NodeJS.ProcessEnv;
  runs: number;
}): Promise<ColdStartResult> {
  const probe = resolve(options.root, 'scripts/bench/cold-start-probe.mjs');
  const runs: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    const { code, stdout, stderr } = await runPinned(
      options.cpu,
      process.execPath,
      [probe, options.bundle, JSON.stringify(options.request)],
      {
        cwd: options.root,
        env: options.env,
        timeoutMs: 30_000,
      },
    );
    const line = stdout.split('\n').find((l) => l.startsWith('BENCH_COLD_START '));
    const result = line ? (JSON.parse(line.slice('BENCH_COLD_START '.length)) as { ms: number; status: number; body?: string }) : undefined;
    if (code !== 0 || !result)
      throw new Error(`The cold-start probe of ${options.bundle} failed (exit ${code}):\n${stdout.slice(-2_000)}${stderr.slice(-2_000)}`);
    if (result.status < 200 || result.status > 299) {
      throw new Error(
        `The cold-start probe of ${options.bundle} got ${result.status} for ${options.request.method} ${options.request.path}: ${result.body ?? ''}`,
      );
    }
    runs.push(result.ms);
  }
  return { runs, medianMs: median(runs), maxMs: Math.max(...runs) };
}
