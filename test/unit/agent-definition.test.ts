import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/kernel/errors.js';
import { knownTools, parseAgentDefinition } from '../../src/services/agent-definition.js';
import { findBuiltInTool } from '../../src/services/tools.js';

const fixture = (name: string) => readFileSync(resolve(import.meta.dirname, '../fixtures/agents', name), 'utf8');

async function detailsOf(source: string) {
  try {
    await parseAgentDefinition(source);
  } catch (error) {
    if (error instanceof ApiError) return error.details;
    throw error;
  }
  throw new Error('expected the definition to be refused');
}

describe('parseAgentDefinition', () => {
  it('reads a typical subagent file: comma-separated tools, inherited model', async () => {
    const agent = await parseAgentDefinition(fixture('code-reviewer.md'));
    expect(agent).toMatchObject({
      name: 'Code reviewer',
      slug: 'code-reviewer',
      description: 'Expert code review specialist. Use right after writing or changing code.',
      tools: ['Read', 'Grep', 'Glob', 'Bash'],
      model: null,
    });
    expect(agent.instructions.startsWith('You are a senior engineer')).toBe(true);
    expect(agent.instructions.endsWith('propose the fix.')).toBe(true);
  });

  it('reads CRLF files, YAML lists, quoted values, model aliases, and ignores keys it does not use', async () => {
    const agent = await parseAgentDefinition(fixture('release-notes-writer.md'));
    expect(agent).toMatchObject({
      slug: 'release-notes-writer',
      description: 'Turns merged pull requests into release notes: short, user-facing.',
      tools: ['Read', 'WebFetch'],
      model: 'claude-haiku-4-5',
    });
    expect(agent.instructions).toBe('# Release notes\n\nGroup changes as Added, Changed, Fixed. One line each.');
  });

  it('gives every tool when tools are absent, and keeps folded descriptions', async () => {
    const agent = await parseAgentDefinition(fixture('no-tools.md'));
    expect(agent.tools).toEqual(knownTools);
    expect(agent.description).toBe('Reads an incoming support ticket and decides its severity and the team that owns it.\n');
    expect(agent.model).toBe('gpt-4o-mini');
  });

  it('names what is wrong and where', async () => {
    expect(await detailsOf('no front matter here')).toEqual([{ field: 'frontMatter', message: expect.stringContaining('--- line') }]);
    expect((await detailsOf('---\nname: [unclosed\n---\nhi'))?.[0]).toEqual({
      field: 'frontMatter',
      message: expect.stringMatching(/not valid YAML \(line \d\)/),
    });
    expect((await detailsOf('---\n- a\n- b\n---\nhi'))?.[0]?.message).toMatch(/mapping/);
    expect(await detailsOf('---\ndescription: x\n---\nhi')).toEqual([{ field: 'frontMatter.name', message: 'is required' }]);
    expect((await detailsOf('---\nname: Code Reviewer\n---\nhi'))?.[0]?.field).toBe('frontMatter.name');
    expect((await detailsOf('---\nname: a-b\ntools: Read, rm -rf\n---\nhi'))?.[0]).toEqual({
      field: 'frontMatter.tools',
      message: 'has names no tool can have: rm -rf',
    });
    expect(await detailsOf('---\nname: a-b\n---\n\n   \n')).toEqual([{ field: 'instructions', message: expect.stringContaining('empty') }]);
    expect((await detailsOf(`---\nname: a-b\n---\n${'x'.repeat(50_001)}`))?.[0]?.field).toBe('instructions');
    expect((await detailsOf('---\nname: a-b\nname: c-d\n---\nhi'))?.[0]?.field).toBe('frontMatter');
  });

  it('refuses front matter past 16 KB before parsing it', async () => {
    const padded = `---\nname: a-b\ndescription: ${'x'.repeat(16_384)}\n---\nHi.`;
    expect(await detailsOf(padded)).toEqual([{ field: 'frontMatter', message: 'is longer than 16384 characters' }]);
  });

  it('reports every problem at once', async () => {
    const details = await detailsOf('---\nname: X\ntools: 3\nmodel: opus\n---\n');
    expect(details?.map((d) => d.field)).toEqual(['frontMatter.name', 'frontMatter.tools', 'instructions']);
  });
});

describe('what published agent files write', () => {
  const agent = (frontMatter: string) => parseAgentDefinition(`---\nname: a-b\n${frontMatter}\n---\nWork.`);

  it.each([
    ['opus', 'claude-opus-4-1'],
    ['sonnet', 'claude-sonnet-4-5'],
    ['haiku', 'claude-haiku-4-5'],
    ['claude-sonnet-4-20250514', 'claude-sonnet-4-0'],
    ['claude-sonnet-4-0', 'claude-sonnet-4-0'],
    ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['claude-opus-4-1-20250805', 'claude-opus-4-1'],
    ['claude-3-5-haiku-20241022', 'claude-3-5-haiku-latest'],
    ['claude-3-5-haiku-latest', 'claude-3-5-haiku-latest'],
    ['anthropic/claude-sonnet-4-5', 'claude-sonnet-4-5'],
    ['openai/gpt-4o', 'gpt-4o'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['GPT-4o-mini', 'gpt-4o-mini'],
  ])('maps model %s to %s, with no warning', async (written, id) => {
    const parsed = await agent(`model: ${written}`);
    expect(parsed.model).toBe(id);
    expect(parsed.warnings).toEqual([]);
  });

  it("imports a model the catalog lacks with the organization's default, and says so", async () => {
    const parsed = await agent('model: gemini-2.5-pro');
    expect(parsed.model).toBeNull();
    expect(parsed.warnings).toEqual([{ field: 'frontMatter.model', message: expect.stringContaining('"gemini-2.5-pro" is not a model') }]);
  });

  it('keeps every tool name the format allows, and says which are not built in', async () => {
    const parsed = await agent('tools: Read, MultiEdit, LS, mcp__github__create_issue, SendMessage, TeamMerge');
    expect(parsed.tools).toEqual(['Read', 'MultiEdit', 'LS', 'mcp__github__create_issue', 'SendMessage', 'TeamMerge']);
    expect(parsed.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/^mcp__github__create_issue is not a built-in tool/),
      expect.stringMatching(/^TeamMerge is not a built-in tool/),
    ]);
  });

  it('imports a published agent team: the lead and its members use only built-in tools', async () => {
    const lead = await parseAgentDefinition(fixture('team/team-lead.md'));
    expect(lead).toMatchObject({
      slug: 'team-lead',
      model: 'claude-sonnet-4-5',
      tools: ['Agent', 'TeamCreate', 'TeamDelete', 'TaskCreate', 'TaskList', 'TaskGet', 'TaskUpdate', 'SendMessage', 'Read'],
      frontMatter: { color: 'purple' },
      warnings: [],
    });
    const reviewer = await parseAgentDefinition(fixture('team/reviewer.md'));
    expect(reviewer).toMatchObject({
      slug: 'reviewer',
      model: null,
      tools: ['TaskList', 'TaskGet', 'TaskUpdate', 'SendMessage', 'Read', 'Grep'],
      warnings: [],
    });
    // Every one is in the catalog, so none is unavailable once hired (unavailableTools are those neither built in
    // nor defined by the organization).
    const unavailable = [...lead.tools, ...reviewer.tools].filter((name) => !findBuiltInTool(name));
    expect(unavailable).toEqual([]);
    expect((await agent('tools: Task, Agent')).warnings).toEqual([]);
  });

  it('reads front matter that is not strict YAML as one key: value per line, and says so in plain words', async () => {
    const file = [
      '---',
      'name: reviewer',
      'description: Use this agent when: the user asks for a review. <example>Context: a PR</example>',
      'tools:',
      '  - Read',
      '  - "Grep"',
      'model: sonnet',
      'color: blue',
      '---',
      'Review carefully.',
    ].join('\n');
    const parsed = await parseAgentDefinition(file);
    expect(parsed).toMatchObject({
      slug: 'reviewer',
      description: 'Use this agent when: the user asks for a review. <example>Context: a PR</example>',
      tools: ['Read', 'Grep'],
      model: 'claude-sonnet-4-5',
    });
    expect(parsed.warnings).toEqual([
      {
        field: 'frontMatter',
        message:
          'is not valid YAML (line 3): a value holds ": " (a colon and a space) without quotes around it; it was read as one "key: value" per line',
      },
    ]);
  });

  it('keeps refusing what is not even key: value lines, naming the line', async () => {
    expect((await detailsOf('---\nname: a-b\ndescription: "never closed\n---\nhi'))?.[0]).toEqual({
      field: 'frontMatter',
      message: 'is not valid YAML (line 3): a quote or a bracket is opened and never closed',
    });
    expect((await detailsOf('---\nname: a-b\nname: c-d: e\n---\nhi'))?.[0]?.field).toBe('frontMatter');
  });
});
