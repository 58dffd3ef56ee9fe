// What a frontend team's first five minutes look like, with the packed SDK (`npm install staffroom-sdk-*.tgz`):
// sign in with a token, hire an employee from an agent file, register a webhook receiver, start a task and print
// its events as they happen, then the signed `task.succeeded` the receiver got.
//
//   STAFFROOM_URL=http://127.0.0.1:3000 STAFFROOM_TOKEN=$(npm run -s token -- you@example.com) node follow-task.mjs
//
// The service must allow a webhook receiver on this machine (WEBHOOKS_ALLOW_PRIVATE_URLS=true npm start).
import { createServer } from 'node:http';
import { createStaffroomClient, importEmployee, streamTaskEvents, unwrap, verifyWebhook } from '@staffroom/sdk';

const baseUrl = process.env.STAFFROOM_URL ?? 'http://127.0.0.1:3000';
const client = createStaffroomClient({ baseUrl, accessToken: process.env.STAFFROOM_TOKEN });

// Your first organization is the one with the free plan's monthly credits (the list is newest first): use it,
// or make it on a first run.
const organizations = await unwrap(client.GET('/v1/organizations', { params: { query: { limit: 100 } } }));
const organization = organizations.at(-1) ?? (await unwrap(client.POST('/v1/organizations', { body: { name: 'First five minutes' } })));
const { employee, warnings } = await importEmployee(
  client,
  organization.id,
  '---\nname: release-notes-writer\ndescription: Writes release notes.\nmodel: sonnet\n---\nWrite short, plain release notes.\n',
  { overwrite: true },
);
console.log(`hired ${employee.slug} on ${employee.model ?? 'the organization default model'}`);
for (const warning of warnings) console.log(`  ${warning.field}: ${warning.message}`);

// A receiver for the organization's webhooks: it checks each signature before it believes a word.
let secret = '';
let delivered;
const received = new Promise((resolve) => (delivered = resolve));
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    try {
      const payload = verifyWebhook(secret, req.headers, body);
      res.writeHead(204).end();
      delivered({ id: req.headers['webhook-id'], payload });
    } catch (error) {
      res.writeHead(400).end();
      console.log(`webhook refused: ${error.message}`);
    }
  });
}).listen(0, '127.0.0.1');
await new Promise((resolve) => receiver.once('listening', resolve));
const endpoint = await unwrap(
  client.POST('/v1/organizations/{orgId}/webhook-endpoints', {
    params: { path: { orgId: organization.id } },
    body: { url: `http://127.0.0.1:${receiver.address().port}/hooks`, eventTypes: ['task.succeeded'] },
  }),
);
secret = endpoint.secret;

const task = await unwrap(
  client.POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId: organization.id } },
    body: { employeeId: employee.id, input: 'Version 1.4 adds live task events and webhooks.' },
  }),
);
for await (const event of streamTaskEvents(client, organization.id, task.id)) {
  const detail =
    event.type === 'task.output_delta'
      ? JSON.stringify(event.data.text)
      : event.type === 'task.step_completed'
        ? `${event.data.costCredits} credit(s)`
        : event.data.status;
  console.log(`event ${event.id} ${event.type} ${detail}`);
}

const timeout = setTimeout(() => {
  console.log('no webhook within 30 s');
  process.exit(1);
}, 30_000);
const { id, payload } = await received;
clearTimeout(timeout);
console.log(`webhook ${id} verified: ${payload.type} for task ${payload.data.taskId === task.id ? 'this one' : payload.data.taskId}`);
receiver.close();
