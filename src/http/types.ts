// Transport types shared by the core and the handlers. Handlers see these, never node:http or a platform's types.
import type { operations, webhooks } from '../generated/api.js';
import type { RequestContext } from '../kernel/context.js';
import type { ApiError } from '../kernel/errors.js';

type Values<T> = T[keyof T];
/** The operations of the contract's `webhooks`: requests the service sends, not ones it answers. */
type WebhookOperation = Extract<Values<{ [W in keyof webhooks]: Values<webhooks[W]> }>, { responses: unknown }>;

/** The operations the service answers: the contract's paths (its webhooks are what it sends to clients). */
export type OperationId = {
  [K in keyof operations]: operations[K] extends WebhookOperation ? (WebhookOperation extends operations[K] ? never : K) : K;
}[keyof operations];

type Get<T, K extends PropertyKey> = T extends Record<K, infer V> ? V : never;
type Defined<T> = Exclude<T, undefined>;

type PathOf<K extends OperationId> = Defined<Get<operations[K]['parameters'], 'path'>>;
type QueryOf<K extends OperationId> = Defined<Get<operations[K]['parameters'], 'query'>>;
type HeaderOf<K extends OperationId> = Defined<Get<operations[K]['parameters'], 'header'>>;
type BodyOf<K extends OperationId> = operations[K] extends { requestBody: { content: infer C } }
  ? C[keyof C]
  : operations[K] extends { requestBody?: { content: infer C } }
    ? C[keyof C] | undefined
    : undefined;

/** The validated request as a handler sees it: types come from the contract. */
export interface HandlerRequest<K extends OperationId> {
  params: PathOf<K> extends never ? Record<string, never> : PathOf<K>;
  query: QueryOf<K> extends never ? Record<string, never> : QueryOf<K>;
  headers: HeaderOf<K> extends never ? Record<string, never> : HeaderOf<K>;
  body: BodyOf<K>;
  /** The body exactly as received, for signature checks. */
  rawBody: Buffer | undefined;
  /** The Accept header as sent, for operations that answer in more than one media type. */
  accept: string | undefined;
}

/** A body written as it is produced, in the media type the operation declares (`text/event-stream`). */
export interface Stream {
  contentType: string;
  chunks: AsyncIterable<string>;
}

/** A success answered in another media type than JSON (declared by the operation), instead of the envelope. */
export interface Representation {
  contentType: string;
  text: string;
}

type Responses<K extends OperationId> = operations[K]['responses'];
type SuccessStatus<K extends OperationId> = Extract<keyof Responses<K>, 200 | 201 | 202 | 204>;
type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : never;

type ResultFor<S, B, R = unknown> = [B] extends [never]
  ? R extends { content: { 'text/event-stream': unknown } }
    ? { status: S; stream: Stream; headers?: Record<string, string> }
    : { status: S; headers?: Record<string, string> }
  : B extends { data: infer D; page: infer P }
    ? { status: S; body: D; page: P; headers?: Record<string, string> }
    : B extends { data: infer D; warnings: infer W }
      ? { status: S; body: D; warnings: W; headers?: Record<string, string> }
      : B extends { data: infer D }
        ? { status: S; body: D; headers?: Record<string, string>; representation?: Representation }
        : never;

/** The allowed `{status, body}` pairs of an operation; the core wraps `body` in the success envelope. */
export type HandlerResult<K extends OperationId> = {
  [S in SuccessStatus<K>]: ResultFor<S, JsonOf<Responses<K>[S]>, Responses<K>[S]>;
}[SuccessStatus<K>];

export type Handler<K extends OperationId> = (request: HandlerRequest<K>, ctx: RequestContext) => Promise<HandlerResult<K>>;

/** The transport-neutral request every adapter builds. */
export interface HttpRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/health`. */
  path: string;
  /** The raw query string without `?`. */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
  /** The client's network address, as the platform saw it (never a header the client could forge). */
  clientAddress?: string;
  /** Why the adapter could not read the whole request (its body stalled): answered as is, without routing. */
  readError?: ApiError;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Written after the head, as it comes, instead of `body`; ended (return()) when the client goes away. */
  stream?: AsyncIterable<string>;
}
