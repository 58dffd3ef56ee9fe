// The breaking-change check: the released contract against itself is clean, and each kind of change that
// breaks a client of it is named, while additions are not.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { breakingChanges, withoutAccepted } from '../../scripts/contract-diff.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const bundled = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../src/generated/openapi.json'), 'utf8')) as Doc;
const changed = (edit: (doc: Doc) => void): string[] => {
  const doc = structuredClone(bundled);
  edit(doc);
  return breakingChanges(bundled, doc);
};

describe('the breaking-change check', () => {
  it('finds nothing between a contract and itself, nor in additions', () => {
    expect(breakingChanges(bundled, bundled)).toEqual([]);
    expect(
      changed((doc) => {
        doc.paths['/v1/things'] = { get: { operationId: 'listThings', responses: { '200': { description: 'OK' } } } };
        doc.components.schemas.Organization.properties.nickname = { type: 'string' };
        doc.components.schemas.OrganizationCreate.properties.nickname = { type: 'string' };
        doc.components.schemas.OrganizationCreate.properties.name.maxLength = 1000;
      }),
    ).toEqual([]);
  });

  it('names a removed operation and a renamed one', () => {
    expect(
      changed((doc) => {
        delete doc.paths['/v1/organizations/{orgId}/audit-events'];
        doc.paths['/v1/plans'].get.operationId = 'getPlans';
      }),
    ).toEqual([
      'GET /v1/plans: operationId listPlans became getPlans',
      'GET /v1/organizations/{orgId}/audit-events: the operation was removed',
    ]);
  });

  it('names a new required request field, a narrowed type, a tighter limit and an enum value gone', () => {
    const found = changed((doc) => {
      const create = doc.components.schemas.OrganizationCreate;
      create.required = [...create.required, 'slug'];
      create.properties.name.maxLength = 10;
      create.properties.defaultModel = { type: 'integer' };
    });
    expect(found).toContain('POST /v1/organizations request body: new required field slug');
    expect(found).toContain('POST /v1/organizations request body.name: maxLength 100 became 10');
    expect(found).toContain('POST /v1/organizations request body.defaultModel: no longer accepts string');
  });

  it('names a new required parameter and a removed query parameter', () => {
    const found = changed((doc) => {
      const list = doc.paths['/v1/organizations'].get;
      list.parameters = list.parameters.filter((p: Doc) => p.name !== 'includeDeleted');
      list.parameters.push({ name: 'region', in: 'query', required: true, schema: { type: 'string' } });
    });
    expect(found).toEqual([
      'GET /v1/organizations: new required parameter query region',
      'GET /v1/organizations: parameter query includedeleted was removed',
    ]);
  });

  it('names a removed response field, one made optional, a changed type and a new enum value in a response', () => {
    const found = changed((doc) => {
      const organization = doc.components.schemas.Organization;
      delete organization.properties.slug;
      organization.required = organization.required.filter((name: string) => name !== 'slug' && name !== 'planId');
      organization.properties.name = { type: 'integer' };
      organization.properties.role = { type: 'string', enum: ['owner', 'admin', 'member', 'guest'] };
      doc.components.schemas.Model.properties.provider = { type: 'string' };
    });
    expect(found).toContain('GET /v1/organizations/{orgId} 200 response.data: field slug was removed');
    expect(found).toContain('GET /v1/organizations/{orgId} 200 response.data: field planId is no longer always present');
    expect(found).toContain('GET /v1/organizations/{orgId} 200 response.data.name: type string became integer');
    expect(found).toContain('GET /v1/organizations/{orgId} 200 response.data.role: may now answer "guest"');
    expect(found).toContain('GET /v1/models 200 response.data[].provider: may now answer values beyond "openai", "anthropic", "offline"');
  });

  it('lets an enum grow where the contract says so: an extensible one, or values only an opt-in request field brings', () => {
    const withValue = (doc: Doc, value: string) => {
      const role = doc.components.schemas.Role;
      role.enum = [...role.enum, value];
      return role;
    };
    expect(changed((doc) => (withValue(doc, 'guest')['x-extensible-enum'] = true))).toEqual([]);
    expect(
      changed((doc) => {
        withValue(doc, 'guest')['x-opt-in-values'] = { guest: 'OrganizationCreate.guests' };
        doc.components.schemas.OrganizationCreate.properties.guests = { type: 'boolean' };
      }),
    ).toEqual([]);
    // The named field must exist, and be optional: a required one was never the client's choice.
    expect(changed((doc) => (withValue(doc, 'guest')['x-opt-in-values'] = { guest: 'OrganizationCreate.guests' }))).toContain(
      'GET /v1/organizations/{orgId} 200 response.data.role: may now answer "guest"',
    );
    expect(
      changed((doc) => {
        withValue(doc, 'guest')['x-opt-in-values'] = { guest: 'OrganizationCreate.name' };
      }),
    ).toContain('GET /v1/organizations/{orgId} 200 response.data.role: may now answer "guest"');
  });

  it('names an error code new to an operation, at a status it declared or a new one, like a new response enum value', () => {
    const codesAt = (doc: Doc, path: string, method: string, status: string): string[] =>
      doc.paths[path][method].responses[status].content['application/json'].schema.allOf[1].properties.error.properties.code.enum;
    const found = changed((doc) => {
      codesAt(doc, '/v1/organizations/{orgId}/tasks', 'post', '409').push('LAST_OWNER');
      const cancel = doc.paths['/v1/organizations/{orgId}/tasks/{taskId}/cancel'].post;
      cancel.responses['402'] = structuredClone(doc.paths['/v1/organizations/{orgId}/tasks'].post.responses['402']);
    });
    expect(found).toEqual([
      'POST /v1/organizations/{orgId}/tasks: may now answer error code LAST_OWNER (409)',
      'POST /v1/organizations/{orgId}/tasks/{taskId}/cancel: may now answer error code PAYMENT_REQUIRED (402)',
    ]);
    // Fewer codes break nobody's switch.
    expect(
      changed((doc) => {
        const codes = codesAt(doc, '/v1/organizations/{orgId}/tasks', 'post', '409');
        codes.splice(codes.indexOf('MODEL_RETIRED'), 1);
      }),
    ).toEqual([]);
    // A list given up (the whole extensible catalogue again) is a new value too.
    expect(
      changed((doc) => {
        const conflict = doc.paths['/v1/organizations/{orgId}/tasks'].post.responses['409'].content['application/json'];
        conflict.schema = { $ref: '#/components/schemas/ErrorEnvelope' };
      }),
    ).toEqual(['POST /v1/organizations/{orgId}/tasks: its error responses no longer list the codes they carry']);
    // Against a released contract whose errors listed no codes, narrowing them breaks nothing.
    const open = structuredClone(bundled);
    open.paths['/v1/organizations/{orgId}/tasks'].post.responses['409'].content['application/json'].schema = {
      $ref: '#/components/schemas/ErrorEnvelope',
    };
    expect(breakingChanges(open, bundled)).toEqual([]);
  });

  it('names a removed success response and an operation that now wants credentials', () => {
    const found = changed((doc) => {
      delete doc.paths['/v1/health'].get.responses['200'];
      doc.paths['/v1/plans'].get.security = [{ bearerAuth: [] }];
    });
    expect(found).toEqual(['GET /v1/health: the 200 response was removed', 'GET /v1/plans: now requires credentials']);
  });

  it('lets a listed set of request values become a pattern that accepts them all, and names one that does not', () => {
    const base = structuredClone(bundled);
    base.paths['/v1/models'].get.parameters = [
      { name: 'provider', in: 'query', schema: { type: 'string', enum: ['openai', 'anthropic'] } },
    ];
    const after = (pattern: string) => {
      const doc = structuredClone(base);
      doc.paths['/v1/models'].get.parameters = [{ name: 'provider', in: 'query', schema: { type: 'string', pattern, maxLength: 20 } }];
      return breakingChanges(base, doc);
    };
    expect(after('^[a-z]+$')).toEqual([]);
    expect(after('^open')).toEqual(['GET /v1/models parameter query provider: pattern none became ^open']);
  });

  it('lets a request limit state one the old schema already imposed, and names one it did not', () => {
    const base = structuredClone(bundled);
    const usageFrom = (doc: Doc) => doc.paths['/v1/organizations/{orgId}/usage'].get.parameters.find((p: Doc) => p.name === 'from').schema;
    delete usageFrom(base).maxLength;
    delete base.components.schemas.WebhookEndpointCreate.properties.eventTypes.maxItems;
    delete base.components.parameters.Limit.schema.format;
    const stripe = base.components.schemas.StripeEvent.properties.created;
    for (const keyword of ['format', 'minimum', 'maximum']) delete stripe[keyword];
    // A date is 10 characters, distinct event types are at most as many as the enum has, and 1..100 is an int32.
    expect(breakingChanges(base, bundled)).not.toContainEqual(expect.stringMatching(/query from|eventTypes|query limit/));
    const tighter = structuredClone(bundled);
    usageFrom(tighter).maxLength = 9;
    tighter.components.schemas.WebhookEndpointCreate.properties.eventTypes.maxItems = 3;
    expect(breakingChanges(base, tighter)).toEqual(
      expect.arrayContaining([
        'GET /v1/organizations/{orgId}/usage parameter query from: maxLength none became 9',
        'POST /v1/organizations/{orgId}/webhook-endpoints request body.eventTypes: maxItems none became 3',
        // An integer with no bounds before: int64 is a bound.
        'POST /v1/webhooks/stripe request body.created: format none became int64',
      ]),
    );
  });

  it('leaves out the changes reviewers accepted, by exact line or `*`, and names accepted entries nothing matches', () => {
    const reported = ['GET /v1/a parameter path orgid: maxLength none became 36', 'GET /v1/b request body.name: maxLength 100 became 10'];
    const reason = 'a database limit';
    expect(withoutAccepted(reported, [{ change: '* parameter path *id: maxLength none became 36', reason }])).toEqual({
      breaking: ['GET /v1/b request body.name: maxLength 100 became 10'],
      stale: [],
    });
    // `*` is the only wildcard: a `.` or a `{` is itself.
    expect(withoutAccepted(['GET /v1/{x}.y: z'], [{ change: 'GET /v1/{x}.y: *', reason }]).breaking).toEqual([]);
    expect(withoutAccepted(['GET /v1/{x}ay: z'], [{ change: 'GET /v1/{x}.y: *', reason }]).breaking).toEqual(['GET /v1/{x}ay: z']);
    const stale = { change: 'GET /v1/gone: *', reason };
    expect(withoutAccepted(reported, [stale]).stale).toEqual([stale]);
    expect(() => withoutAccepted(reported, [{ change: 'GET /v1/a*', reason: ' ' }])).toThrow(/reason/);
  });
});
