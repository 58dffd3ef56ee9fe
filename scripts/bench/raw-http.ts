// The `raw-http` baseline of `npm run bench`: plain node:http with no framework, no contract and no database.
// GET /v1/plans answers the exact bytes Staffroom answers (read once from BENCH_PLANS_FILE, with the
// Content-Type in BENCH_PLANS_CONTENT_TYPE); POST /v1/echo reads the body, JSON.parse's it and answers it in
// Staffroom's envelope. Listens on HOST:PORT. Started by scripts/bench/index.ts, pinned to one core.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBody, sendJson } from './baseline-http.js';

const port = Number(process.env.PORT);
const host = process.env.HOST ?? '127.0.0.1';
const plansFile = process.env.BENCH_PLANS_FILE;
if (!Number.isInteger(port) || port <= 0 || !plansFile) {
  console.error('raw-http needs PORT and BENCH_PLANS_FILE.');
  process.exit(2);
}
const plansBody = readFileSync(plansFile);
const plansContentType = process.env.BENCH_PLANS_CONTENT_TYPE ?? 'application/json; charset=utf-8';

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/v1/plans') {
    res.writeHead(200, { 'Content-Type': plansContentType, 'Content-Length': plansBody.length });
    res.end(plansBody);
    return;
  }
  if (req.method === 'POST' && path === '/v1/echo') {
    const text = (await readBody(req)).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      sendJson(res, 400, { success: false, error: { code: 'VALIDATION_ERROR', message: 'The request body is not valid JSON.' } });
      return;
    }
    sendJson(res, 200, { success: true, data: value });
    return;
  }
  sendJson(res, 404, { success: false, error: { code: 'NOT_FOUND', message: 'No such route.' } });
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    console.error(error);
    if (!res.headersSent) sendJson(res, 500, { success: false, error: { code: 'INTERNAL', message: 'raw-http failed.' } });
  });
});
server.listen(port, host);

function shutdown(): void {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
