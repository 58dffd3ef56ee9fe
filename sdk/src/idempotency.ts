// The POSTs whose contract declares an `Idempotency-Key` header: the client gives each one a key, so that a
// retry of it is replayed by the service instead of acting twice.
import type { paths } from './generated/api.js';

type HeadersOf<Operation> = Operation extends { parameters: { header?: infer Headers } } ? NonNullable<Headers> : never;

/** Paths whose POST declares `Idempotency-Key`, read from the generated types. */
export type KeyedPostPath = {
  [P in keyof paths]: [HeadersOf<paths[P]['post']>] extends [never]
    ? never
    : 'Idempotency-Key' extends keyof HeadersOf<paths[P]['post']>
      ? P
      : never;
}[keyof paths];

const keyedPostPaths = [
  '/v1/organizations',
  '/v1/organizations/{orgId}/invitations',
  '/v1/organizations/{orgId}/api-keys',
  '/v1/organizations/{orgId}/employees',
  '/v1/organizations/{orgId}/employees/import',
  '/v1/organizations/{orgId}/employees/imports',
  '/v1/organizations/{orgId}/tasks',
  '/v1/organizations/{orgId}/tasks/{taskId}/tool-outputs',
  '/v1/organizations/{orgId}/billing/checkout',
  '/v1/organizations/{orgId}/billing/portal',
  '/v1/organizations/{orgId}/webhook-endpoints',
] as const satisfies readonly KeyedPostPath[];

// When the contract gives another POST the header, this line fails to compile and names its path.
const everyKeyedPostListed: [Exclude<KeyedPostPath, (typeof keyedPostPaths)[number]>] extends [never]
  ? true
  : Exclude<KeyedPostPath, (typeof keyedPostPaths)[number]> = true;
void everyKeyedPostListed;

const keyed: ReadonlySet<string> = new Set(keyedPostPaths);

/** Whether a POST to this path template (`/v1/organizations/{orgId}/tasks`) takes an `Idempotency-Key`. */
export function takesIdempotencyKey(pathTemplate: string): boolean {
  return keyed.has(pathTemplate);
}
