// dredd hooks: run the transactions of the implemented operations' success responses (dredd has no way
// to provoke a 429 or a 500), skip what the service does not serve yet, and normalise express's
// `; charset=utf-8` before dredd compares media types.
const { readFileSync } = require('node:fs');
const { resolve } = require('node:path');
const hooks = require('hooks');

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
  if (operation.responses['501'] || status >= 300) transaction.skip = true;
});

hooks.beforeEachValidation((transaction) => {
  const headers = transaction.real && transaction.real.headers;
  if (headers && typeof headers['content-type'] === 'string') {
    headers['content-type'] = headers['content-type'].replace(/;\s*charset=utf-8$/i, '');
  }
});
