// Routing by openapi-backend over the contract: literal segments before parameters, a method that only a
// parameter path has still reaches it, 405 with the allowed methods, trailing slashes, decoded parameters.
import { describe, expect, it } from 'vitest';
import { createContractBackend } from '../../src/http/backend.js';
import { contract, operationsOf } from '../../src/http/contract.js';
import { loaders } from '../../src/generated/validators/index.js';

const router = await createContractBackend(contract, operationsOf(contract), { precompiled: { loaders }, checkResponses: false });
const orgId = '0f8fad5b-d9cb-469f-a165-70867728950e';
const employees = `/v1/organizations/${orgId}/employees`;

describe('the router', () => {
  it('finds a path without parameters, ignoring trailing slashes', () => {
    expect(router.match('GET', '/v1/plans')).toMatchObject({ kind: 'operation', operation: { operationId: 'listPlans' }, params: {} });
    expect(router.match('GET', '/v1/plans//')).toMatchObject({ kind: 'operation', operation: { operationId: 'listPlans' } });
  });

  it('fills in path parameters, percent-decoded', () => {
    expect(router.match('PATCH', `/v1/organizations/${orgId}/members/a%2Fb`)).toEqual({
      kind: 'operation',
      operation: expect.objectContaining({ operationId: 'updateMember' }),
      params: { orgId, userId: 'a/b' },
    });
  });

  it('prefers a literal segment, and falls back to a parameter when only it has the method', () => {
    expect(router.match('POST', `${employees}/import`)).toMatchObject({ operation: { operationId: 'importEmployee' }, params: { orgId } });
    // PATCH exists only on /employees/{employeeId}: "import" is then an employee id (and fails validation there).
    expect(router.match('PATCH', `${employees}/import`)).toMatchObject({
      operation: { operationId: 'updateEmployee' },
      params: { orgId, employeeId: 'import' },
    });
  });

  it('answers a path with other methods with the methods it has (in the order of the HTTP methods), and an unknown path with none', () => {
    expect(router.match('PUT', '/v1/plans')).toEqual({ kind: 'method', allowed: ['GET'] });
    expect(router.match('PUT', `/v1/organizations/${orgId}`)).toEqual({ kind: 'method', allowed: ['GET', 'DELETE', 'PATCH'] });
    expect(router.match('GET', '/v1/nothing-here')).toEqual({ kind: 'none' });
    expect(router.match('GET', `/v1/organizations/${orgId}/members/x/y`)).toEqual({ kind: 'none' });
    // An empty segment is no parameter value.
    expect(router.match('GET', '/v1/organizations//members')).toEqual({ kind: 'none' });
  });
});
