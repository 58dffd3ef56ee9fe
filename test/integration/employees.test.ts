// Employees over HTTP: CRUD, soft delete and restore, import from agent definition files, tenancy.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateApiKeySecret, hashSecret } from '../../src/services/api-keys.js';
import { useTestApp } from '../support/app.js';
import { signUp, startTestServer, type TestUser } from '../support/server.js';

const app = useTestApp();
let owner: TestUser;
let member: TestUser;
let stranger: TestUser;
let orgId: string;
let n = 0;

beforeAll(async () => {
  owner = await signUp(app.database.db, 'emp-owner@example.com');
  member = await signUp(app.database.db, 'emp-member@example.com');
  stranger = await signUp(app.database.db, 'emp-stranger@example.com');
  const { data } = await as(owner).POST('/v1/organizations', { body: { name: 'Employers' } });
  orgId = data!.data.id;
  await app.database.db`update staffroom.organizations set plan_id = 'pro' where id = ${orgId}`; // room for many employees
  await app.database.db`insert into staffroom.profiles (id, email) values (${member.id}, ${member.email})`;
  await app.database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${member.id}, 'member')`;
});

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
const orgPath = () => ({ params: { path: { orgId } } });
const employeePath = (employeeId: string) => ({ params: { path: { orgId, employeeId } } });
const fixture = (name: string) => readFileSync(resolve(import.meta.dirname, '../fixtures/agents', name), 'utf8');
const hire = (user: TestUser, body: Record<string, unknown>) =>
  as(user).POST('/v1/organizations/{orgId}/employees', {
    ...orgPath(),
    body: { name: `Worker ${++n}`, instructions: 'Do the work.', ...body } as never,
  });
const importFile = (user: TestUser, markdown: string, overwrite?: boolean) =>
  as(user).POST('/v1/organizations/{orgId}/employees/import', {
    params: { path: { orgId }, query: overwrite ? { overwrite } : {} },
    body: markdown,
    bodySerializer: (body) => body as string,
    headers: { 'Content-Type': 'text/markdown' },
  });

describe('createEmployee', () => {
  it('hires with defaults and a derived slug', async () => {
    const { data, response } = await hire(owner, { name: 'Data Analyst', tools: ['Read', 'Grep'] });
    expect(response.status).toBe(201);
    expect(data?.data).toMatchObject({
      slug: 'data-analyst',
      model: null,
      tools: ['Read', 'Grep'],
      maxOutputTokens: 4096,
      description: '',
      deletedAt: null,
    });
    expect(response.headers.get('location')).toBe(`/v1/organizations/${orgId}/employees/${data?.data.id}`);
  });

  it('names the field for an unknown model, a name no tool can have and oversized instructions', async () => {
    expect((await hire(owner, { model: 'gpt-9' })).error?.error.details?.[0]?.field).toBe('body.model');
    expect((await hire(owner, { tools: ['rm -rf'] })).error?.error.details?.[0]?.field).toBe('body.tools.0');
    expect((await hire(owner, { instructions: 'x'.repeat(50_001) })).error?.error.details?.[0]?.field).toBe('body.instructions');
  });

  it('answers 409 for a taken slug, 403 for members, 404 for strangers', async () => {
    await hire(owner, { slug: 'unique-one' });
    const taken = await hire(owner, { slug: 'unique-one' });
    expect(taken.response.status).toBe(409);
    expect(taken.error?.error).toMatchObject({ code: 'SLUG_TAKEN', details: [{ field: 'body.slug' }] });
    expect((await hire(member, {})).response.status).toBe(403);
    expect((await hire(stranger, {})).response.status).toBe(404);
  });

  it("enforces the plan's employee limit, also under concurrent requests", async () => {
    const { data } = await as(owner).POST('/v1/organizations', { body: { name: 'Small team' } });
    const small = data!.data.id;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        as(owner).POST('/v1/organizations/{orgId}/employees', {
          params: { path: { orgId: small } },
          body: { name: `Racer ${i}`, instructions: 'Go.' },
        }),
      ),
    );
    const statuses = results.map((r) => r.response.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(3); // the free plan's limit
    expect(statuses.filter((s) => s === 409)).toHaveLength(3);
    expect(results.filter((r) => r.response.status === 409).map((r) => r.error?.error.code)).toEqual(Array(3).fill('PLAN_LIMIT_REACHED'));
  });

  it('lets an API key of the organization hire', async () => {
    const secret = generateApiKeySecret();
    await app.database.db`insert into staffroom.api_keys (organization_id, name, prefix, secret_hash, created_by)
      values (${orgId}, 'bot', ${secret.slice(0, 13)}, ${hashSecret(secret)}, ${owner.id})`;
    const viaKey = app.server.client({ apiKey: secret });
    const { response } = await viaKey.POST('/v1/organizations/{orgId}/employees', {
      ...orgPath(),
      body: { name: 'Hired by a key', instructions: 'Hi.' },
    });
    expect(response.status).toBe(201);
  });
});

describe('importEmployee', () => {
  it('imports agent definition files of several shapes', async () => {
    const reviewer = await importFile(owner, fixture('code-reviewer.md'));
    expect(reviewer.response.status).toBe(201);
    expect(reviewer.data?.data).toMatchObject({
      name: 'Code reviewer',
      slug: 'code-reviewer',
      tools: ['Read', 'Grep', 'Glob', 'Bash'],
      model: null,
    });
    const writer = await importFile(owner, fixture('release-notes-writer.md'));
    expect(writer.data?.data).toMatchObject({ slug: 'release-notes-writer', model: 'claude-haiku-4-5', tools: ['Read', 'WebFetch'] });
    const triage = await importFile(owner, fixture('no-tools.md'));
    expect(triage.data?.data.tools.length).toBeGreaterThan(5);
  });

  it('answers 409 for an existing slug unless overwrite=true', async () => {
    const source = '---\nname: overwriter\ndescription: first\n---\nVersion one.';
    expect((await importFile(owner, source)).response.status).toBe(201);
    const again = await importFile(owner, source);
    expect(again.response.status).toBe(409);
    expect(again.error?.error).toMatchObject({ code: 'SLUG_TAKEN', details: [{ field: 'frontMatter.name' }] });
    const updated = await importFile(owner, source.replace('first', 'second').replace('one', 'two'), true);
    expect(updated.data?.data).toMatchObject({ description: 'second', instructions: 'Version two.' });
  });

  it('takes the file as JSON too, for clients that send only JSON, and imports it as the markdown body', async () => {
    const source = '---\nname: json-import\ndescription: Sent as JSON.\ntools: Read\n---\nDo it as JSON said.';
    const asJson = await as(owner).POST('/v1/organizations/{orgId}/employees/import', {
      params: { path: { orgId } },
      body: { content: source },
    });
    expect(asJson.response.status).toBe(201);
    expect(asJson.data?.data).toMatchObject({
      slug: 'json-import',
      description: 'Sent as JSON.',
      tools: ['Read'],
      instructions: 'Do it as JSON said.',
    });
    // The same file as markdown is the same import: a 409 for the slug, then the same employee with overwrite.
    expect((await importFile(owner, source)).response.status).toBe(409);
    const again = await importFile(owner, source, true);
    expect(again.data?.data).toMatchObject({ id: asJson.data!.data.id, slug: 'json-import' });

    const post = (body: string, contentType = 'application/json') =>
      fetch(`${app.server.baseUrl}/v1/organizations/${orgId}/employees/import`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': contentType },
        body,
      });
    const fields = async (response: Response) =>
      ((await response.json()) as { error: { details: { field: string }[] } }).error.details.map((detail) => detail.field);
    const missing = await post(JSON.stringify({ markdown: source }));
    expect(missing.status).toBe(400);
    expect(await fields(missing)).toContain('body.content');
    const emptyName = await post(JSON.stringify({ content: '---\ndescription: no name\n---\nHi' }));
    expect(emptyName.status).toBe(400);
    expect(await fields(emptyName)).toEqual(['frontMatter.name']);
    // A bare JSON string is not the JSON form, and text/plain is not taken at all.
    expect((await post(JSON.stringify(source))).status).toBe(400);
    expect((await post(source, 'text/plain')).status).toBe(415);
  });

  it("imports what published files write: an unknown model uses the organization's default and MCP tools are kept, with warnings", async () => {
    const imported = await importFile(
      owner,
      '---\nname: published-agent\nmodel: gemini-2.5-pro\ntools: Read, mcp__github__create_issue\ncolor: blue\n---\nHi',
    );
    expect(imported.response.status).toBe(201);
    expect(imported.data?.data).toMatchObject({ model: null, tools: ['Read', 'mcp__github__create_issue'] });
    expect(imported.data?.warnings.map((w) => w.field)).toEqual(['frontMatter.tools', 'frontMatter.model']);
    const clean = await importFile(owner, '---\nname: clean-agent\nmodel: claude-sonnet-4-20250514\n---\nHi');
    expect(clean.data?.data.model).toBe('claude-sonnet-4-0');
    expect(clean.data?.warnings).toEqual([]);
  });

  it("uses the organization's default, with a warning, for a model whose provider the deployment cannot call", async () => {
    const offlineOnly = await startTestServer({ db: app.database.db, providers: ['offline'] });
    try {
      const imported = await offlineOnly.client({ accessToken: owner.token }).POST('/v1/organizations/{orgId}/employees/import', {
        params: { path: { orgId } },
        body: '---\nname: sonnet-agent\nmodel: sonnet\ntools: Read\n---\nHi',
        bodySerializer: (body) => body as string,
        headers: { 'Content-Type': 'text/markdown' },
      });
      expect(imported.response.status).toBe(201);
      expect(imported.data?.data.model).toBeNull();
      expect(imported.data?.warnings).toEqual([
        {
          field: 'frontMatter.model',
          message:
            "claude-sonnet-4-5 runs on anthropic, which this deployment is not configured for: the employee uses the organization's default model (configure anthropic, then set the employee's model)",
        },
      ]);
    } finally {
      await offlineOnly.close();
    }
  });

  it('says what is wrong and where, without writing anything', async () => {
    const before = await app.database.db`select count(*)::int as count from staffroom.employees where organization_id = ${orgId}`;
    const broken = await importFile(owner, '---\nname: Not Kebab\ntools: Read, rm -rf\n---\nHi');
    expect(broken.response.status).toBe(400);
    expect(broken.error?.error.details?.map((d) => d.field)).toEqual(['frontMatter.name', 'frontMatter.tools']);
    const yaml = await importFile(owner, '---\nname: ok\n  bad: indent\n---\nHi');
    expect(yaml.error?.error.details?.[0]?.message).toMatch(/line \d/);
    // JSON is the file's other form (`{ "content": ... }`): other JSON is invalid, not another media type.
    const json = await as(owner).POST('/v1/organizations/{orgId}/employees/import', { ...orgPath(), body: '{}' as never });
    expect(json.response.status).toBe(400);
    const empty = await as(owner).POST('/v1/organizations/{orgId}/employees/import', { ...orgPath(), body: {} as never });
    expect(empty.error?.error.details?.map((d) => d.field)).toEqual(['body.content']);
    const after = await app.database.db`select count(*)::int as count from staffroom.employees where organization_id = ${orgId}`;
    expect(after[0]?.count).toBe(before[0]?.count);
  });
});

describe('reading, updating, deleting and restoring', () => {
  it('updates, soft-deletes, hides, shows on request and restores', async () => {
    const id = (await hire(owner, { name: 'Lifecycle' })).data!.data.id;
    const updated = await as(owner).PATCH('/v1/organizations/{orgId}/employees/{employeeId}', {
      ...employeePath(id),
      body: { model: 'gpt-4o-mini', tools: ['WebSearch'] },
    });
    expect(updated.data?.data).toMatchObject({ model: 'gpt-4o-mini', tools: ['WebSearch'] });
    expect((await as(member).GET('/v1/organizations/{orgId}/employees/{employeeId}', employeePath(id))).response.status).toBe(200);
    expect(
      (await as(member).PATCH('/v1/organizations/{orgId}/employees/{employeeId}', { ...employeePath(id), body: { name: 'X' } })).response
        .status,
    ).toBe(403);
    const deleted = await as(owner).DELETE('/v1/organizations/{orgId}/employees/{employeeId}', employeePath(id));
    expect(deleted.data?.data.deletedAt).not.toBeNull();
    expect((await as(owner).GET('/v1/organizations/{orgId}/employees/{employeeId}', employeePath(id))).response.status).toBe(404);
    const shown = await as(owner).GET('/v1/organizations/{orgId}/employees/{employeeId}', {
      params: { path: { orgId, employeeId: id }, query: { includeDeleted: true } },
    });
    expect(shown.data?.data.id).toBe(id);
    const listed = await as(owner).GET('/v1/organizations/{orgId}/employees', { params: { path: { orgId }, query: { limit: 100 } } });
    expect(listed.data?.data.map((e) => e.id)).not.toContain(id);
    const restored = await as(owner).POST('/v1/organizations/{orgId}/employees/{employeeId}/restore', employeePath(id));
    expect(restored.data?.data.deletedAt).toBeNull();
    const live = await as(owner).POST('/v1/organizations/{orgId}/employees/{employeeId}/restore', employeePath(id));
    expect(live.response.status).toBe(409);
    expect(live.error?.error.code).toBe('NOT_DELETED');
  });

  it('filters by name prefix and pages', async () => {
    for (const name of ['Zeta one', 'Zeta two', 'Zeta three']) await hire(owner, { name });
    const first = await as(owner).GET('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId }, query: { q: 'zeta', limit: 2 } },
    });
    expect(first.data?.data.map((e) => e.name)).toEqual(['Zeta three', 'Zeta two']);
    const second = await as(owner).GET('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId }, query: { q: 'zeta', limit: 2, cursor: first.data!.page.nextCursor! } },
    });
    expect(second.data?.data.map((e) => e.name)).toEqual(['Zeta one']);
    const percent = await as(owner).GET('/v1/organizations/{orgId}/employees', { params: { path: { orgId }, query: { q: '%' } } });
    expect(percent.data?.data).toEqual([]);
  });

  it("answers 404 for another organization's employee", async () => {
    const id = (await hire(owner, {})).data!.data.id;
    expect((await as(stranger).GET('/v1/organizations/{orgId}/employees/{employeeId}', employeePath(id))).response.status).toBe(404);
    const { data } = await as(stranger).POST('/v1/organizations', { body: { name: 'Elsewhere' } });
    const foreign = await as(stranger).GET('/v1/organizations/{orgId}/employees/{employeeId}', {
      params: { path: { orgId: data!.data.id, employeeId: id } },
    });
    expect(foreign.response.status).toBe(404);
  });
});

describe('exporting an employee', () => {
  it('answers Accept: text/markdown with the agent file, which imports back into the same employee', async () => {
    const source = [
      '---',
      'name: round-trip',
      'description: "Checks: colons, quotes \\"and\\" new lines survive"',
      'tools: Read, Grep, mcp__github__get_issue',
      'model: claude-sonnet-4-20250514',
      'color: blue',
      'proactive: true',
      '---',
      '',
      'Line one.',
      '',
      '  Indented line two.',
    ].join('\n');
    const first = (await importFile(owner, source)).data!;
    const imported = first.data;
    expect(imported.frontMatter).toEqual({ color: 'blue', proactive: true });
    const path = `/v1/organizations/${orgId}/employees/${imported.id}`;
    const exported = await fetch(`${app.server.baseUrl}${path}`, {
      headers: { Authorization: `Bearer ${owner.token}`, Accept: 'text/markdown, application/json;q=0.5' },
    });
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(exported.headers.get('vary')).toBe('Accept');
    const markdown = await exported.text();
    expect(markdown).toMatch(/^---\nname: round-trip\n/);

    const again = (await importFile(owner, markdown, true)).data!;
    expect(again.warnings).toEqual(first.warnings); // the MCP tool, said again; nothing lost on the way
    expect(again.data).toMatchObject({
      id: imported.id,
      description: imported.description,
      tools: imported.tools,
      model: 'claude-sonnet-4-0',
      instructions: imported.instructions,
      frontMatter: { color: 'blue', proactive: true },
    });
    expect(markdown).toContain('\ncolor: blue\nproactive: true\n');
    // JSON stays the default, and a client that asks for JSON first gets it.
    const json = await fetch(`${app.server.baseUrl}${path}`, { headers: { Authorization: `Bearer ${owner.token}`, Accept: '*/*' } });
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });
});

describe('importEmployees', () => {
  const file = (name: string, extra = '') => `---\nname: ${name}\n${extra}---\nWork as ${name}.\n`;

  it('imports several files as multipart, each on its own, and answers per file in order', async () => {
    const boundary = 'staffroom-test-boundary';
    const part = (filename: string, content: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${filename}"\r\nContent-Type: text/markdown\r\n\r\n${content}\r\n`;
    const body =
      part('bulk-one.md', file('bulk-one', 'model: opus\n')) +
      part('broken.md', '---\nname: Not Kebab\n---\nHi') +
      part('bulk-two.md', file('bulk-two', 'tools: Read, mcp__x__y\n')) +
      `--${boundary}--\r\n`;
    const response = await fetch(`${app.server.baseUrl}/v1/organizations/${orgId}/employees/imports`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(response.status).toBe(200);
    const results = (
      (await response.json()) as {
        data: {
          file: string;
          status: number;
          employee?: { slug: string; model: string | null };
          error?: { code: string; details?: { field: string }[] };
          warnings: unknown[];
        }[];
      }
    ).data;
    expect(results.map((r) => [r.file, r.status])).toEqual([
      ['bulk-one.md', 201],
      ['broken.md', 400],
      ['bulk-two.md', 201],
    ]);
    expect(results[0]!.employee).toMatchObject({ slug: 'bulk-one', model: 'claude-opus-4-1' });
    expect(results[1]!.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'frontMatter.name' }] });
    expect(results[2]!.warnings).toHaveLength(1);
  });

  it('takes the same as JSON, refuses a taken slug per file, and names what is wrong with the request itself', async () => {
    const client = as(owner);
    const sent = await client.POST('/v1/organizations/{orgId}/employees/imports', {
      params: { path: { orgId } },
      body: {
        files: [
          { name: 'again.md', content: file('bulk-one') },
          { name: 'three.md', content: file('bulk-three') },
        ],
      },
    });
    expect(sent.data?.data.map((r) => [r.status, r.error?.code])).toEqual([
      [409, 'SLUG_TAKEN'],
      [201, undefined],
    ]);
    const empty = await client.POST('/v1/organizations/{orgId}/employees/imports', { params: { path: { orgId } }, body: { files: [] } });
    expect(empty.error?.error.details?.[0]?.field).toBe('body.files');
    const unclosed = await fetch(`${app.server.baseUrl}/v1/organizations/${orgId}/employees/imports`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': 'multipart/form-data; boundary=x' },
      body: '--x\r\nContent-Disposition: form-data; name="files"; filename="a.md"\r\n\r\nhi\r\n',
    });
    expect(unclosed.status).toBe(400);
    expect(((await unclosed.json()) as { error: { details: { field: string }[] } }).error.details[0]!.field).toBe('body');
  });
});
