// The database computes money from its own copy of the catalog (grants from plans, reservations from model
// prices), so that no caller can bring its own figures, and knows the built-in tools' names (an employee's
// unavailable tools); the API lists the catalog from the code. They agree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { models, plans } from '../../src/services/catalog.js';
import { builtInTools } from '../../src/services/tools.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

describe('the catalog in the database', () => {
  it('has the plans of the API with the same credits and limits', async () => {
    const rows = await database.db`
      select id, monthly_credits::float8 as "monthlyCredits", max_employees as employees,
             max_concurrent_tasks as "concurrentTasks", max_members as members, requests_per_minute as "requestsPerMinute"
      from staffroom.plans order by id`;
    const expected = plans
      .map((p) => ({
        id: p.id,
        monthlyCredits: p.monthlyCredits,
        employees: p.limits.employees,
        concurrentTasks: p.limits.concurrentTasks,
        members: p.limits.members,
        requestsPerMinute: p.limits.requestsPerMinute,
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
    expect(rows.map((r) => ({ ...r })).sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual(expected);
  });

  it('has the models of the API with the same prices and output limits', async () => {
    const rows = await database.db`
      select id, provider, max_output_tokens as "maxOutputTokens", input_per_million::float8 as "inputPerMillion",
             output_per_million::float8 as "outputPerMillion", cached_input_per_million::float8 as "cachedInputPerMillion"
      from staffroom.models order by id`;
    const expected = models
      .map((m) => ({ id: m.id, provider: m.provider, maxOutputTokens: m.maxOutputTokens, ...m.pricing }))
      .sort((a, b) => a.id.localeCompare(b.id));
    expect(rows.map((r) => ({ ...r })).sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual(expected);
  });

  it('has the names of the built-in tools of the API', async () => {
    const rows = await database.db<{ name: string }[]>`select name from staffroom.built_in_tools`;
    expect(rows.map((r) => r.name).sort()).toEqual(builtInTools.map((t) => t.name).sort());
  });
});
