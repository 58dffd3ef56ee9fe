// Every operation of the contract, by operationId: an operation added to the contract without a handler
// here is a compile error.
import type { Handler, OperationId } from '../http/types.js';
import * as account from './account.js';
import * as apiKeys from './api-keys.js';
import * as audit from './audit.js';
import * as billing from './billing.js';
import * as employees from './employees.js';
import * as events from './events.js';
import * as invitations from './invitations.js';
import * as catalog from './catalog.js';
import * as organizations from './organizations.js';
import * as members from './members.js';
import * as meta from './meta.js';
import * as tasks from './tasks.js';
import * as tools from './tools.js';
import * as webhooks from './webhooks.js';
import * as webhookEndpoints from './webhook-endpoints.js';

export type HandlerMap = { [K in OperationId]: Handler<K> };

export const handlers: HandlerMap = {
  ...meta,
  ...catalog,
  ...account,
  ...organizations,
  ...members,
  ...invitations,
  ...apiKeys,
  ...audit,
  ...employees,
  ...tasks,
  ...events,
  ...tools,
  ...billing,
  ...webhooks,
  ...webhookEndpoints,
};
