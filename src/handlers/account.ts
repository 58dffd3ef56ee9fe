import type { Handler } from '../http/types.js';
import * as account from '../services/account.js';

export const getCurrentUser: Handler<'getCurrentUser'> = async (_req, ctx) => ({
  status: 200,
  body: await account.getCurrentUser(ctx),
});
