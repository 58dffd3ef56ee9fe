// A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: requests on fd 3,
// answers and events on fd 4, each message NUL-terminated JSON), so the tests need no WebSocket and no npm package.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The Chromium executable: `CHROMIUM` if set, else the first of the usual names on PATH. */
export function findChromium(): string | undefined {
  const candidates = process.env.CHROMIUM
    ? [process.env.CHROMIUM]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .flatMap((dir) => ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'].map((name) => join(dir, name)));
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

type Params = Record<string, unknown>;
// Protocol answers are JSON whose shape each caller knows; `any` keeps the callers short.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Result = any;
export type EventListener = (params: Result, sessionId: string | undefined) => void;

export interface Chromium {
  /** Sends a command (to a page when `sessionId` is given) and resolves with its result. */
  send(method: string, params?: Params, sessionId?: string): Promise<Result>;
  /** Calls `listener` for every event named `method`, from any session. */
  on(method: string, listener: EventListener): void;
  close(): Promise<void>;
}

export async function launchChromium(executable: string, { timeoutMs = 10_000 } = {}): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'staffroom-chromium-'));
  const child: ChildProcess = spawn(
    executable,
    [
      '--headless',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      // Root in a container has no user namespaces for the sandbox; the browser only ever sees a loopback page.
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-sync',
      '--disable-background-networking',
      '--disable-component-update',
      // No name resolves but the loopback address: the page cannot reach the network even if something asks it to.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  const input = child.stdio[3] as Writable;
  const output = child.stdio[4] as Readable;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));

  let nextId = 1;
  const pending = new Map<number, { resolve: (value: Result) => void; reject: (error: Error) => void; method: string }>();
  const listeners = new Map<string, EventListener[]>();
  let buffered = '';
  output.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let end = buffered.indexOf('\0'); end !== -1; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end)) as {
        id?: number;
        method?: string;
        params?: Result;
        result?: Result;
        error?: { message: string };
        sessionId?: string;
      };
      buffered = buffered.slice(end + 1);
      if (message.id !== undefined) {
        const call = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) call?.reject(new Error(`${call.method}: ${message.error.message}`));
        else call?.resolve(message.result);
      } else if (message.method) {
        for (const listener of listeners.get(message.method) ?? []) listener(message.params, message.sessionId);
      }
    }
  });
  // 'close' follows exit and the pipes' end; a failed spawn emits 'error' alone.
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (error) => {
      spawnError = error;
      resolve();
    });
  });
  input.on('error', () => {}); // a write after the browser has gone: the pending call is rejected below
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const call of pending.values()) call.reject(new Error(`Chromium exited during ${call.method}: ${spawnError?.message ?? stderr}`));
    pending.clear();
  });

  const browser: Chromium = {
    send(method, params = {}, sessionId) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        if (gone) return reject(new Error(`Chromium has exited; cannot send ${method}`));
        pending.set(id, { resolve, reject, method });
        input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
      });
    },
    on(method, listener) {
      listeners.set(method, [...(listeners.get(method) ?? []), listener]);
    },
    async close() {
      // Asked first, so that it takes its renderers with it; killed when it does not go within 2 s.
      const killer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      browser.send('Browser.close').catch(() => child.kill('SIGKILL'));
      await exited;
      clearTimeout(killer);
      rmSync(profile, { recursive: true, force: true });
    },
  };
  let timer: NodeJS.Timeout | undefined;
  const started = await Promise.race([
    browser.send('Browser.getVersion').then(
      () => true,
      () => false,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    exited.then(() => false),
  ]);
  clearTimeout(timer);
  if (!started) {
    await browser.close();
    throw new Error(`Chromium (${executable}) did not start: ${spawnError?.message ?? stderr}`);
  }
  return browser;
}

export interface Page {
  /** Each console error, uncaught exception, refused or failed request and answer >= 400 so far, one line each. */
  problems: string[];
  /** The value of `expression` in the page (awaited when it is a promise). */
  evaluate<T>(expression: string): Promise<T>;
  /** Waits until `ready` is true, polling every 100 ms; throws `<url>: <what>` with the problems after `timeoutMs`. */
  until(what: string, ready: () => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** Waits until no request has been open for `quietMs`. */
  settle(quietMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens `url` in a new tab that may reach `origin` only (any other request is refused and is a problem) and
 * waits for its load event.
 */
export async function openPage(browser: Chromium, url: string, { origin }: { origin: string }): Promise<Page> {
  const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
  const problems: string[] = [];
  const open = new Map<string, string>();
  let lastActivity = Date.now();
  let loaded = false;
  const handlers: Record<string, (params: Result) => void> = {
    'Runtime.consoleAPICalled': ({ type, args }) => {
      if (type === 'error' || type === 'assert') {
        problems.push(
          `console.${type}: ${args.map((arg: { value?: unknown; description?: string }) => arg.value ?? arg.description).join(' ')}`,
        );
      }
    },
    'Runtime.exceptionThrown': ({ exceptionDetails }) =>
      problems.push(`uncaught: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`),
    // Errors the page's code does not see: refused by the policy, failed loads.
    'Log.entryAdded': ({ entry }) => {
      if (entry.level === 'error') problems.push(`${entry.source} error: ${entry.text}${entry.url ? ` (${entry.url})` : ''}`);
    },
    'Network.requestWillBeSent': ({ requestId, request }) => {
      open.set(requestId, request.url);
      lastActivity = Date.now();
    },
    'Network.responseReceived': ({ response }) => {
      if (response.status >= 400) problems.push(`${response.status} for ${response.url}`);
    },
    'Network.loadingFinished': ({ requestId }) => {
      open.delete(requestId);
      lastActivity = Date.now();
    },
    'Network.loadingFailed': ({ requestId, canceled, blockedReason, errorText }) => {
      if (!canceled) problems.push(`request failed: ${open.get(requestId) ?? requestId} (${blockedReason ?? errorText})`);
      open.delete(requestId);
      lastActivity = Date.now();
    },
    // Every request the page makes (data: URLs make none) comes here first: only `origin`'s go on.
    'Fetch.requestPaused': ({ requestId, request }) => {
      if (new URL(request.url).origin === origin) return void browser.send('Fetch.continueRequest', { requestId }, sessionId);
      problems.push(`request to another origin: ${request.url}`);
      void browser.send('Fetch.failRequest', { requestId, errorReason: 'BlockedByClient' }, sessionId);
    },
    'Page.loadEventFired': () => (loaded = true),
  };
  for (const [method, handle] of Object.entries(handlers)) browser.on(method, (params, from) => from === sessionId && handle(params));
  for (const domain of ['Runtime', 'Log', 'Network', 'Page']) await browser.send(`${domain}.enable`, {}, sessionId);
  await browser.send('Fetch.enable', { patterns: [{ urlPattern: '*' }] }, sessionId);

  const page: Page = {
    problems,
    async evaluate<T>(expression: string) {
      const { result, exceptionDetails } = await browser.send(
        'Runtime.evaluate',
        { expression, returnByValue: true, awaitPromise: true },
        sessionId,
      );
      if (exceptionDetails) throw new Error(`${url}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
      return result.value as T;
    },
    async until(what, ready, timeoutMs = 15_000) {
      for (const deadline = Date.now() + timeoutMs; !(await ready()); await new Promise((resolve) => setTimeout(resolve, 100))) {
        if (Date.now() > deadline)
          throw new Error(`${url}: ${what} within ${timeoutMs} ms; problems so far: ${problems.join('; ') || 'none'}`);
      }
    },
    settle: (quietMs = 500) => page.until('the network did not go quiet', () => open.size === 0 && Date.now() - lastActivity >= quietMs),
    close: () => browser.send('Target.closeTarget', { targetId }),
  };
  await browser.send('Page.navigate', { url }, sessionId);
  await page.until('no load event', () => loaded);
  return page;
}
