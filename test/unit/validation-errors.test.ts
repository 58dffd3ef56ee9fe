import { describe, expect, it } from 'vitest';
import { toErrorDetails } from '../../src/http/validation-errors.js';

const error = (instancePath: string, keyword: string, params: Record<string, unknown>, message?: string) => ({
  instancePath,
  keyword,
  params,
  schemaPath: '#',
  message,
});

describe('toErrorDetails', () => {
  it('names body, query and path fields', () => {
    expect(
      toErrorDetails([
        error('/requestBody/name', 'minLength', { limit: 1 }, 'must NOT have fewer than 1 characters'),
        error('/query/limit', 'maximum', { limit: 100 }, 'must be <= 100'),
        error('/path/orgId', 'format', { format: 'uuid' }, 'must match format "uuid"'),
      ]),
    ).toEqual([
      { field: 'body.name', message: 'must NOT have fewer than 1 characters' },
      { field: 'query.limit', message: 'must be <= 100' },
      { field: 'path.orgId', message: 'must match format "uuid"' },
    ]);
  });

  it('names the missing and the unknown property, not their parent', () => {
    expect(
      toErrorDetails([
        error('/requestBody', 'required', { missingProperty: 'email' }),
        error('/requestBody', 'additionalProperties', { additionalProperty: 'nmae' }),
        error('/requestBody/tools/1', 'enum', { allowedValues: ['Read', 'Grep'] }),
      ]),
    ).toEqual([
      { field: 'body.email', message: 'is required' },
      { field: 'body.nmae', message: 'is not a known property' },
      { field: 'body.tools.1', message: 'must be one of: Read, Grep' },
    ]);
  });

  it('drops the oneOf summary when a branch already named a nested field, and de-duplicates', () => {
    expect(
      toErrorDetails([
        error('/requestBody/quantity', 'maximum', { limit: 100 }, 'must be <= 100'),
        error('/requestBody/quantity', 'maximum', { limit: 100 }, 'must be <= 100'),
        error('/requestBody', 'oneOf', { passingSchemas: null }, 'must match exactly one schema in oneOf'),
      ]),
    ).toEqual([{ field: 'body.quantity', message: 'must be <= 100' }]);
  });

  it('decodes JSON pointer escapes', () => {
    expect(toErrorDetails([error('/header/x~1y', 'type', {}, 'must be string')])).toEqual([
      { field: 'header.x/y', message: 'must be string' },
    ]);
  });
});
