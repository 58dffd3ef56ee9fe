// A Netlify background function (up to 15 minutes): drains the task queue. The API function kicks it
// after each createTask; the scheduled task-sweep runs the same drain every minute, which also picks up
// tasks whose worker died (expired leases).
import { drainQueue } from './worker-core.js';

export default async function handler(): Promise<Response> {
  const finished = await drainQueue();
  return new Response(JSON.stringify({ finished }), { status: 202, headers: { 'Content-Type': 'application/json' } });
}
