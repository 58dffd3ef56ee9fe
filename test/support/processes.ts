// Starting the contract tools (Prism, dredd, respect) as child processes on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { freePort } from '../../src/db/embedded.js';
export { freePort };

export const require = createRequire(import.meta.url);

export interface Started {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Runs `node <script> ...args` and resolves once `ready` appears in its output. */
export async function startNodeProcess(script: string, args: string[], ready: RegExp, timeoutMs = 60_000): Promise<Started> {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  let output = '';
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not get ready:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}:\n${output}`));
    });
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output, stop };
}

/** Runs `node <script> ...args` to completion and returns its exit code and output. */
export async function runNodeProcess(
  script: string,
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ code: number | null; output: string }> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...options.env,
      REDOCLY_TELEMETRY: 'off',
      REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
      NO_COLOR: '1',
      FORCE_COLOR: '0',
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, output };
}

/**
 * `npm start` as a child process on `dataDir` and `port` (embedded Postgres), resolved once it listens. `env` is
 * the whole environment it gets (add to process.env as the test needs).
 */
export async function startLocalServer(options: { dataDir: string; port: number; env: NodeJS.ProcessEnv }): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: resolve(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...options.env, DATA_DIR: options.dataDir, PORT: String(options.port), LOG_LEVEL: 'info', NODE_ENV: 'development' },
  });
  let output = '';
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not get ready:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Staffroom listening')) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
  });
  return child;
}

/** Sends `signal` to a child and resolves once it has exited (at once if it had). */
export function stopChildProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolveStopped) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolveStopped();
    child.once('exit', () => resolveStopped());
    child.kill(signal);
  });
}

export type PrismMock = Started & { url: string };

/** A Prism mock of the bundled contract on a free loopback port; `url` is its base URL. */
export async function startPrismMock(): Promise<PrismMock> {
  const port = await freePort();
  const contract = resolve(import.meta.dirname, '../../src/generated/openapi.json');
  const started = await startNodeProcess(
    require.resolve('@stoplight/prism-cli/dist/index.js'),
    // Prism's own CORS answer (`Access-Control-Allow-Credentials`, `-Allow-Headers` on every response) is not the
    // service's: off, so the contract check holds the mock's answers to the headers the contract declares.
    ['mock', contract, '--host', '127.0.0.1', '--port', String(port), '--cors=false'],
    /Prism is listening/,
  );
  return { ...started, url: `http://127.0.0.1:${port}` };
}
