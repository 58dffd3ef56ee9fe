// Every item of a list operation, page after page, following `page.nextCursor`.
import type { paths } from './generated/api.js';
import type { StaffroomClient } from './client.js';
import { StaffroomError } from './errors.js';

type ListBodyOf<P extends keyof paths> = paths[P] extends { get: { responses: { 200: { content: { 'application/json': infer Body } } } } }
  ? Body
  : never;

/** The paths whose GET answers a page: `{ data: [...], page: { nextCursor } }`. */
export type ListPath = { [P in keyof paths]: ListBodyOf<P> extends { data: unknown[]; page: unknown } ? P : never }[keyof paths];

export type ListItem<P extends ListPath> = ListBodyOf<P> extends { data: (infer Item)[] } ? Item : never;

type ParametersOf<P extends ListPath> = paths[P] extends { get: { parameters: infer Parameters } } ? Parameters : never;

type PathAndQuery<P extends ListPath> = Pick<ParametersOf<P>, Extract<keyof ParametersOf<P>, 'path' | 'query'>>;

/** The list's path and query parameters, without `cursor` (the iterator sets it). */
export type ListParams<P extends ListPath> = {
  [K in keyof PathAndQuery<P>]: K extends 'query' ? Omit<NonNullable<PathAndQuery<P>[K]>, 'cursor'> : PathAndQuery<P>[K];
};

/**
 * Every item of a list, fetching the next page as the loop reaches it. Throws StaffroomError when a page is refused.
 *
 *     for await (const employee of paginate(client, '/v1/organizations/{orgId}/employees', { path: { orgId } })) { ... }
 */
export async function* paginate<P extends ListPath>(
  client: StaffroomClient,
  path: P,
  ...[params, options]: Partial<ListParams<P>> extends ListParams<P>
    ? [params?: ListParams<P>, options?: { signal?: AbortSignal }]
    : [params: ListParams<P>, options?: { signal?: AbortSignal }]
): AsyncGenerator<ListItem<P>, void, undefined> {
  const { path: pathParams, query } = (params ?? {}) as { path?: Record<string, unknown>; query?: Record<string, unknown> };
  let cursor: string | undefined;
  for (;;) {
    const { data, error, response } = (await client.GET(
      path as never,
      {
        params: { path: pathParams, query: { ...query, ...(cursor === undefined ? {} : { cursor }) } },
        ...(options?.signal ? { signal: options.signal } : {}),
      } as never,
    )) as { data?: { data: ListItem<P>[]; page: { nextCursor: string | null } }; error?: unknown; response: Response };
    if (!data) throw StaffroomError.fromResponse(response, error);
    yield* data.data;
    const next = data.page.nextCursor;
    // A cursor that does not move (a mock's example page) would loop for ever.
    if (!next || next === cursor) return;
    cursor = next;
  }
}
