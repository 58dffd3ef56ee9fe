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
  if (response.stream) return new Response(request.method === 'HEAD' ? null : readable(response.stream), response);
  const noBody = response.status === 204 || response.status === 304 || request.method === 'HEAD';
  return new Response(noBody ? null : response.body, { status: response.status, headers: response.headers });
}

/** A stream of text as a web ReadableStream, pulled as the platform sends it; canceled when the client goes away. */
function readable(stream: AsyncIterable<string>): ReadableStream<Uint8Array> {
  const chunks = stream[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await chunks.return?.();
    },
  });
}
