// The `express-alone` peer of `npm run bench`: express 5 as a hello world is written, with its defaults
// (ETag, X-Powered-By) and one route. GET /v1/plans answers the bytes Staffroom answers (read once from
// BENCH_PLANS_FILE, with the Content-Type in BENCH_PLANS_CONTENT_TYPE), as raw-http does. Against raw-http it is
// the price of express itself; against it, the API mounted in express is the price of Staffroom's core.
// Listens on HOST:PORT. Started by scripts/bench/index.ts, pinned to one core.
import { readFileSync } from 'node:fs';
import express from 'express';

const port = Number(process.env.PORT);
const host = process.env.HOST ?? '127.0.0.1';
const plansFile = process.env.BENCH_PLANS_FILE;
if (!Number.isInteger(port) || port <= 0 || !plansFile) {
  console.error('express-alone needs PORT and BENCH_PLANS_FILE.');
  process.exit(2);
}
const plansBody = readFileSync(plansFile);
const plansContentType = process.env.BENCH_PLANS_CONTENT_TYPE ?? 'application/json; charset=utf-8';

const app = express();
app.get('/v1/plans', (_req, res) => {
  res.type(plansContentType).send(plansBody);
});
const server = app.listen(port, host);

function shutdown(): void {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
