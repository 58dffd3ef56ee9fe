// @staffroom/sdk: the typed Staffroom client and its helpers, typed from the contract (api/openapi.yaml).
// Runs in browsers and Node ≥ 20: it uses only fetch, TextDecoder and Web Crypto.
export type { components, operations, paths } from './src/generated/api.js';
export { createStaffroomClient, type StaffroomClient, type StaffroomClientOptions, type SupabaseAuthSource } from './src/client.js';
export { StaffroomError, StaffroomNetworkError, StaffroomTimeoutError, unwrap, type ErrorCode, type ErrorDetail } from './src/errors.js';
export { paginate, type ListItem, type ListParams, type ListPath } from './src/pagination.js';
export { importEmployee, type Employee } from './src/employees.js';
export {
  isFinalStatus,
  streamTaskEvents,
  waitForTask,
  type Event,
  type EventType,
  type StreamTaskEventsOptions,
  type Task,
  type TaskStatus,
  type WaitForTaskOptions,
} from './src/tasks.js';
export { verifyWebhook, WebhookVerificationError, type WebhookHeaders, type WebhookPayload } from './src/webhooks.js';
