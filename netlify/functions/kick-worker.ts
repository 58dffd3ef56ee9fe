// Shared by the API function (bundled into it; not a function itself). On its own, apart from worker-core.ts, so
// that the API function's cold start does not load the worker, the LLM providers and the webhook dispatcher.

/** Asks Netlify to run the background worker now (fire and forget); the sweep catches anything missed. */
export function kickBackgroundWorker(siteUrl: string | undefined): void {
  if (!siteUrl) return;
  void fetch(`${siteUrl.replace(/\/+$/, '')}/.netlify/functions/task-worker-background`, { method: 'POST' }).catch(() => undefined);
}
