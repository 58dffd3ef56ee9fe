// Load from wrk (one thread, 10 connections, latency distribution), pinned to its own core. Each request is
// described by a small generated Lua script (method, headers, body), so GETs and POSTs are sent alike.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPinned } from './processes.js';

export interface BenchRequest {
  method: 'GET' | 'POST';
  /** Path and query, e.g. `/v1/plans`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number;
  requests: number;
  /** Responses with a status outside 2xx and 3xx. */
  non2xx: number;
  /** Connect, read, write and timeout errors. */
  socketErrors: number;
}

/** A Lua string in long brackets: no escaping to get wrong, whatever the text holds. */
function luaString(text: string): string {
  let level = '';
  while (text.includes(`]${level}]`)) level += '=';
  return `[${level}[${text}]${level}]`;
}

/** Writes the wrk script of `request` into `dir` and returns its path. */
export function writeWrkScript(dir: string, name: string, request: BenchRequest): string {
  const lines = [`wrk.method = ${luaString(request.method)}`];
  if (request.body !== undefined) lines.push(`wrk.body = ${luaString(request.body)}`);
  for (const [header, value] of Object.entries(request.headers ?? {}))
    lines.push(`wrk.headers[ ${luaString(header)} ] = ${luaString(value)}`); // spaced: `[[` would open a long string
  const path = join(dir, `${name.replace(/[^A-Za-z0-9_-]+/g, '_')}.lua`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** 250us, 1.20ms, 2.00s, 1.00m: wrk's durations, in milliseconds. */
export function durationMs(value: string, unit: string): number {
  const factor: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  const scale = factor[unit];
  if (scale === undefined) throw new Error(`Unknown wrk duration unit "${unit}".`);
  return Number(value) * scale;
}

export function parseWrkOutput(output: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(output);
  const requests = /(\d+) requests in /.exec(output);
  if (!rps || !p99 || !requests) throw new Error(`Could not read wrk's output:\n${output}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSecond: Number(rps[1]),
    p99Ms: durationMs(p99[1]!, p99[2]!),
    requests: Number(requests[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** `taskset -c <cpu> wrk -t1 -c10 -d<seconds>s --latency -s <script> <url>`, then its parsed result. */
export async function runWrk(options: { cpu: number; url: string; script: string; seconds: number; cwd: string }): Promise<WrkResult> {
  const args = ['-t1', '-c10', `-d${options.seconds}s`, '--latency', '-s', options.script, options.url];
  const { code, stdout, stderr } = await runPinned(options.cpu, 'wrk', args, {
    cwd: options.cwd,
    timeoutMs: (options.seconds + 30) * 1_000,
  });
  // wrk reports a broken Lua script on stderr and runs on without it: that is a failure too.
  if (code !== 0 || stderr.trim()) throw new Error(`wrk exited with ${code}:\n${stdout}${stderr}`);
  return parseWrkOutput(stdout);
}
