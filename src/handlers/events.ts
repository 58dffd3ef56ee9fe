import type { Handler } from '../http/types.js';
import * as events from '../services/events.js';

export const streamTaskEvents: Handler<'streamTaskEvents'> = async (req, ctx) => ({
  status: 200,
  stream: {
    contentType: 'text/event-stream; charset=utf-8',
    chunks: await events.openTaskEventStream(ctx, req.params.orgId, req.params.taskId, {
      lastEventId: req.headers['Last-Event-ID'],
      after: req.query.after,
    }),
  },
  // Proxies must pass each event on at once (nginx buffers responses unless told not to).
  headers: { 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' },
});

export const listOrganizationEvents: Handler<'listOrganizationEvents'> = async (req, ctx) => {
  const page = await events.listOrganizationEvents(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};
