// The web-standard adapter (a Request in, a Response out): what Netlify Functions 2.0 call.
import type { App } from '../app.js';

/** `stripPrefix`: a path the platform puts before the API's own (a function's address), removed when present. */
export async function handleWebRequest(app: App, request: Request, stripPrefix?: string): Promise<Response> {
  const url = new URL(request.url);
  const path = stripPrefix && url.pathname.startsWith(stripPrefix) ? url.pathname.slice(stripPrefix.length) || '/' : url.pathname;
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
  const response = await app.handle({
    method: request.method,
    path,
    query: url.search.slice(1),
    headers: Object.fromEntries(request.headers),
    body: body && body.length > 0 ? body : undefined,
    // Netlify puts the client's address in this header, replacing any the client sent.
    clientAddress: request.headers.get('x-nf-client-connection-ip') ?? undefined,
  });
  const noBody = response.status === 204 || response.status === 304 || request.method === 'HEAD';
  return new Response(noBody ? null : response.body, { status: response.status, headers: response.headers });
}
