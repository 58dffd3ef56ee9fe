// The operations the service implements, by operationId. An operation of the contract missing here
// answers 501 NOT_IMPLEMENTED (and its responses in the contract list 501 until it is implemented).
import type { Handler, OperationId } from '../http/types.js';
import * as account from './account.js';
import * as apiKeys from './api-keys.js';
import * as audit from './audit.js';
import * as billing from './billing.js';
import * as employees from './employees.js';
import * as invitations from './invitations.js';
import * as catalog from './catalog.js';
import * as organizations from './organizations.js';
import * as members from './members.js';
import * as meta from './meta.js';
import * as tasks from './tasks.js';
import * as webhooks from './webhooks.js';

export type HandlerMap = { [K in OperationId]?: Handler<K> };

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
  ...billing,
  ...webhooks,
};
