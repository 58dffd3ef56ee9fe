// One cold start of the Netlify function bundle, in a fresh process (run by scripts/bench/cold-start.ts):
// the milliseconds from just before `await import(bundle)` to the end of reading the first response's body.
// Plain JavaScript, so that no loader runs in the process measured.
//
//   node cold-start-probe.mjs <bundle.mjs> '{"method":"GET","path":"/v1/plans","headers":{...},"body":"..."}'
//
// Prints one line `BENCH_COLD_START {"ms":…,"status":…}` (the function's own logs go to stdout too).
import { pathToFileURL } from 'node:url';

const [bundle, requestJson] = process.argv.slice(2);
if (!bundle || !requestJson) {
  console.error('Usage: node cold-start-probe.mjs <bundle.mjs> <request JSON>');
  process.exit(2);
}
const request = JSON.parse(requestJson);
const bundleUrl = pathToFileURL(bundle).href;

// The platform builds the web Request (and so has loaded Node's fetch classes) before it calls the
// function: that is not the function's cold start, so it happens before the clock starts.
const incoming = new Request(new URL(request.path, 'http://127.0.0.1'), {
  method: request.method,
  headers: request.headers,
  body: request.body,
});
new Response('');

const started = performance.now();
const { default: handler } = await import(bundleUrl);
const response = await handler(incoming);
const body = await response.text();
const ms = performance.now() - started;

process.stdout.write(`\nBENCH_COLD_START ${JSON.stringify({ ms, status: response.status, body: response.ok ? undefined : body })}\n`);
// A database pool may keep the process alive: the measurement is done.
process.exit(0);
