// The typed Staffroom client: openapi-fetch over the types generated from the contract. The same code
// talks to the Prism mock, a local server or production; only `baseUrl` changes.
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from '../src/generated/api.js';

export type { components, operations, paths };
/** Answers typed as JSON: a representation in another media type (an employee as Markdown) is asked for with `Accept` and `parseAs: 'text'`. */
export type StaffroomClient = Client<paths, 'application/json'>;

export interface StaffroomClientOptions {
  /** e.g. `http://localhost:3000` (local), `http://127.0.0.1:4010` (mock) or the production URL. */
  baseUrl: string;
  /** A Supabase access token, sent as `Authorization: Bearer`. */
  accessToken?: string | (() => string | Promise<string>);
  /** An organization API key, sent as `X-Api-Key`. */
  apiKey?: string;
  fetch?: ClientOptions['fetch'];
  headers?: Record<string, string>;
}

export function createStaffroomClient(options: StaffroomClientOptions): StaffroomClient {
  const client = createClient<paths, 'application/json'>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: options.headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const credentials: Middleware = {
    async onRequest({ request }) {
      const token = typeof options.accessToken === 'function' ? await options.accessToken() : options.accessToken;
      if (token) request.headers.set('Authorization', `Bearer ${token}`);
      if (options.apiKey) request.headers.set('X-Api-Key', options.apiKey);
      return request;
    },
  };
  client.use(credentials);
  return client;
}
