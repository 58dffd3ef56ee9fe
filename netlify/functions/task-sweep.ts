// Scheduled every minute: expires and sweeps (whatever the queue holds), then drains what is due, including
// tasks whose lease expired.
import { drainQueue } from './worker-core.js';

export default async function handler(): Promise<Response> {
  const finished = await drainQueue(process.env, { housekeeping: true });
  return new Response(JSON.stringify({ finished }), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

export const config = { schedule: '* * * * *' };
