// The error catalogue and the contract say the same: every code of the ErrorCode enum is in errorStatus and
// nothing else is, and each answers with the status the contract's table documents for it.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorStatus } from '../../src/kernel/errors.js';

const contract = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../src/generated/openapi.json'), 'utf8')) as {
  components: { schemas: { ErrorCode: { enum: string[]; description: string } } };
  paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>>;
};
const errorCode = contract.components.schemas.ErrorCode;

/** The rows of the description's table: `| \`CODE\` | status | when | what to do |`. */
function documentedStatuses(): [code: string, status: number][] {
  return [...errorCode.description.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| [^|]+ \| [^|]+ \|$/gm)].map((row) => [row[1]!, Number(row[2])]);
}

describe('the error catalogue', () => {
  it('holds exactly the codes of the contract', () => {
    expect(Object.keys(errorStatus).sort()).toEqual([...errorCode.enum].sort());
  });

  it('documents every code once, with the status errorStatus answers', () => {
    const documented = documentedStatuses();
    expect(documented.map(([code]) => code)).toEqual(errorCode.enum);
    expect(Object.fromEntries(documented)).toEqual(errorStatus);
  });

  // Any write that reaches the database can lose a deadlock or a serialization race (40P01, 40001), which the
  // core answers as 409 CONCURRENT_UPDATE: the contract must let every such operation say so.
  it('declares 409 on every operation that writes to the database', () => {
    const undeclared = Object.values(contract.paths).flatMap((item) =>
      Object.entries(item)
        .filter(([method, operation]) => method !== 'get' && operation.responses?.['503'] && !operation.responses['409'])
        .map(([, operation]) => operation.operationId),
    );
    expect(undeclared).toEqual([]);
  });
});
