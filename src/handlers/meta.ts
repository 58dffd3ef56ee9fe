import type { Handler } from '../http/types.js';
import { checkHealth } from '../services/health.js';

export const getHealth: Handler<'getHealth'> = async (_req, ctx) => ({
  status: 200,
  body: await checkHealth(ctx),
});
