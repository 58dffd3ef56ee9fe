// Child processes of the bench: servers pinned to a core with taskset, run to completion or until stopped.
// Every child is tracked, so that the bench leaves none behind when it fails or is interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();

/** Kills what is still running (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopAll(graceMs = 5_000): Promise<void> {
  await Promise.all([...live].map((child) => stopChild(child, graceMs)));
}

export function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      return resolve();
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      live.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Whether `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(`${dir}/${command}`));
}

/** Spawns `taskset -c <cpu> <command> ...args`; its output goes to `logFile`, or nowhere. */
export function spawnPinned(
  cpu: number,
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; logFile?: string },
): ChildProcess {
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn('taskset', ['-c', String(cpu), command, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', out, out],
  });
  if (typeof out === 'number') closeSync(out); // the child has its own copy
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Runs a pinned command to completion (or SIGKILL after `timeoutMs`) and returns its exit code and output. */
export function runPinned(
  cpu: number,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd: string; timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('taskset', ['-c', String(cpu), command, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Waits until GET `url` answers 2xx; fails when the child exits first or `timeoutMs` pass. */
export async function waitUntilReady(child: ChildProcess, url: string, timeoutMs: number, logFile?: string): Promise<void> {
  const started = Date.now();
  const output = () =>
    logFile && existsSync(logFile) ? `\n--- its output (${logFile}) ---\n${readFileSync(logFile, 'utf8').slice(-4_000)}` : '';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`The server exited (${child.exitCode ?? child.signalCode}) before answering ${url}.${output()}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`No 2xx from ${url} within ${timeoutMs} ms.${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
