// @staffroom/sdk: the typed Staffroom client and its helpers, typed from the contract (api/openapi.yaml).
// Runs in browsers and Node ≥ 20: it uses only fetch, TextDecoder and Web Crypto.
export type { components, operations, paths } from './src/generated/api.js';
export {
  createStaffroomClient,
  retryableCodes,
  retrying,
  type RetryPolicy,
  type StaffroomClient,
  type StaffroomClientOptions,
  type SupabaseAuthSource,
} from './src/client.js';
export {
  attempt,
  StaffroomError,
  StaffroomNetworkError,
  StaffroomTimeoutError,
  unwrap,
  type Attempt,
  type ErrorCode,
  type ErrorCodeOf,
  type ErrorCodeOfResult,
  type ErrorDetail,
  type OperationError,
  type OperationId,
} from './src/errors.js';
export { paginate, type ListItem, type ListParams, type ListPath } from './src/pagination.js';
export { importEmployee, type Employee, type ImportedEmployee } from './src/employees.js';
export {
  isFinalStatus,
  listTeam,
  streamTaskEvents,
  waitForTask,
  type Event,
  type EventOf,
  type EventType,
  type StreamTaskEventsOptions,
  type Task,
  type TaskStatus,
  type WaitForTaskOptions,
} from './src/tasks.js';
export { verifyWebhook, WebhookVerificationError, type WebhookHeaders, type WebhookPayload } from './src/webhooks.js';
