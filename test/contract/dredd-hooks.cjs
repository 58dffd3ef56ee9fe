// dredd hooks: run the transactions of the operations' success responses (dredd has no way to provoke a
// 429 or a 500), and normalise the server's
// `; charset=utf-8` before dredd compares media types.
const { appendFileSync, readFileSync } = require('node:fs');
const { resolve } = require('node:path');
const hooks = require('hooks');
const crypto = require('node:crypto');
const Stripe = require('stripe');

// The test that runs dredd provides a signed-in user and an organization of theirs; the contract's example
// ids in request paths are replaced by the fixture's.
const fixture = JSON.parse(process.env.DREDD_FIXTURE || '{}');
const exampleIds = {
  orgId: '3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13',
  userId: '8b2e4d61-0c3f-4a7e-b5d9-1e6f2a3c4b5d',
  invitationId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a',
  keyId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  employeeId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  taskId: '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918',
  endpointId: '6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d',
  deliveryId: '2b3c4d5e-6f70-4182-9a3b-4c5d6e7f8091',
};
// Request bodies that must carry a fixture's secret rather than the example's.
const fixtureBodies = {
  acceptInvitation: () => ({ token: fixture.invitationToken }),
  submitToolOutputs: () => ({ outputs: fixture.toolOutputs }),
  // The example's URL is on the internet; the fixture's receiver is local (the server allows local addresses).
  createWebhookEndpoint: () => ({ url: fixture.webhookUrl, eventTypes: ['task.succeeded', 'task.failed'] }),
};

const contract = JSON.parse(readFileSync(resolve(__dirname, '../../src/generated/openapi.json'), 'utf8'));

function operationOf(transaction) {
  const item = contract.paths[transaction.origin.resourceName];
  return item && item[transaction.request.method.toLowerCase()];
}

hooks.beforeEach((transaction) => {
  const operation = operationOf(transaction);
  const status = Number(transaction.expected.statusCode);
  if (!operation) {
    transaction.fail = `No operation in the contract for ${transaction.name}`;
    return;
  }
  if (status >= 300) {
    transaction.skip = true;
    return;
  }
  if (fixture.token) transaction.request.headers.Authorization = `Bearer ${fixture.token}`;
  // A browser page of an allowed origin: the CORS headers every response declares come back.
  transaction.request.headers.Origin = 'https://app.example.com';
  // A first page is what clients ask for; the example cursor points at the example data.
  const withoutCursor = (uri) => uri.replace(/([?&])cursor=[^&]*&?/, '$1').replace(/[?&]$/, '');
  transaction.request.uri = withoutCursor(transaction.request.uri);
  transaction.fullPath = withoutCursor(transaction.fullPath);
  // The import example has the slug of the create example, which runs first: import over it.
  if (operation.operationId === 'importEmployee') {
    transaction.request.uri = transaction.request.uri.replace('overwrite=false', 'overwrite=true');
    transaction.fullPath = transaction.fullPath.replace('overwrite=false', 'overwrite=true');
  }
  // putOrganizationTool answers 200 for the tool the fixture defined, 201 for one it did not.
  if (operation.operationId === 'putOrganizationTool' && status === 201) {
    const fresh = `mcp__dredd__${crypto.randomUUID().slice(0, 8)}`;
    transaction.request.uri = transaction.request.uri.replace('mcp__github__create_issue', fresh);
    transaction.fullPath = transaction.fullPath.replace('mcp__github__create_issue', fresh);
  }
  // The If-Match example is no version of the fixture's resources: send the change unconditionally.
  delete transaction.request.headers['If-Match'];
  // Every operation's example has the same Idempotency-Key; a client uses a new key for each new request.
  if (transaction.request.headers['Idempotency-Key']) transaction.request.headers['Idempotency-Key'] = crypto.randomUUID();
  const body = fixtureBodies[operation.operationId];
  if (body) transaction.request.body = JSON.stringify(body());
  // A batch import answers one result per file, like its example: a new employee, then a slug already taken.
  if (operation.operationId === 'importEmployees') {
    const files = [
      { name: 'bulk.md', content: `---\nname: bulk-${crypto.randomUUID().slice(0, 8)}\n---\nWork.` },
      { name: 'taken.md', content: '---\nname: code-reviewer\n---\nWork.' },
    ];
    const type = transaction.request.headers['Content-Type'] || '';
    if (type.startsWith('multipart/form-data')) {
      const boundary = 'staffroom-dredd';
      transaction.request.headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`;
      transaction.request.body =
        files
          .map((f) => `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${f.name}"\r\n\r\n${f.content}\r\n`)
          .join('') + `--${boundary}--\r\n`;
    } else {
      transaction.request.body = JSON.stringify({ files });
    }
  }
  // Some operations need ids of their own (e.g. a task that can still be canceled).
  const ids = { ...fixture, ...((fixture.overrides || {})[operation.operationId] || {}) };
  for (const [name, exampleId] of Object.entries(exampleIds)) {
    if (!ids[name]) continue;
    transaction.request.uri = transaction.request.uri.replace(exampleId, ids[name]);
    transaction.fullPath = transaction.fullPath.replace(exampleId, ids[name]);
    if (typeof transaction.request.body === 'string') transaction.request.body = transaction.request.body.replace(exampleId, ids[name]);
  }
  // Webhooks are authenticated by Stripe's signature over the exact body (as sent): sign it as Stripe would.
  if (operation.operationId === 'receiveStripeWebhook' && fixture.webhookSecret) {
    transaction.request.headers['Stripe-Signature'] = Stripe.webhooks.generateTestHeaderString({
      payload: transaction.request.body,
      secret: fixture.webhookSecret,
    });
  }
});

hooks.beforeEachValidation((transaction) => {
  const headers = transaction.real && transaction.real.headers;
  if (headers && typeof headers['content-type'] === 'string') {
    headers['content-type'] = headers['content-type'].replace(/;\s*charset=utf-8$/i, '');
  }
  // Idempotent-Replayed is declared for the replays of a request, which a first request is not.
  const expected = transaction.expected && transaction.expected.headers;
  if (expected) delete expected['Idempotent-Replayed'];
  // Dredd compares a text body with its example letter for letter: an agent file of the fixture's own
  // employee must have the file's shape instead (front matter, then instructions).
  const type = expected && (expected['Content-Type'] || expected['content-type']);
  // An event stream is compared by its framing: the example is one task's events, the fixture's another's.
  if (typeof type === 'string' && type.startsWith('text/event-stream') && transaction.real) {
    if (/^retry: \d+\n\n((id|event|data): [^\n]*\n|\n|:[^\n]*\n)*$/.test(transaction.real.body))
      transaction.expected.body = transaction.real.body;
    else transaction.fail = `not an event stream: ${String(transaction.real.body).slice(0, 80)}`;
  }
  if (typeof type === 'string' && type.startsWith('text/markdown') && transaction.real) {
    if (/^---\nname: [a-z0-9-]+\n[\s\S]*\n---\n\n[\s\S]+$/.test(transaction.real.body)) transaction.expected.body = transaction.real.body;
    else transaction.fail = `not an agent file: ${String(transaction.real.body).slice(0, 80)}`;
  }
});

// What ran and how it ended, one line each, for the test to check that every success response was exercised.
hooks.afterEach((transaction) => {
  if (!process.env.DREDD_RECORD || transaction.skip) return;
  const operation = operationOf(transaction);
  const line = {
    operationId: operation && operation.operationId,
    status: Number(transaction.expected.statusCode),
    result: transaction.test && transaction.test.status,
  };
  appendFileSync(process.env.DREDD_RECORD, `${JSON.stringify(line)}\n`);
});
