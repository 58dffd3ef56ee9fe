// A corpus of agent files in the shapes published collections use (front matter styles, model spellings, tool
// lists, unquoted colons in descriptions, CRLF, a BOM, extra keys): at least 98% must import, and a sample
// must map as the format means.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownTools, parseAgentDefinition, type AgentDefinition } from '../../src/services/agent-definition.js';

const dir = resolve(import.meta.dirname, '../fixtures/agents/published');
const files = readdirSync(dir).filter((name) => name.endsWith('.md'));
const parsed = new Map<string, AgentDefinition | Error>();
for (const file of files) {
  try {
    parsed.set(file, await parseAgentDefinition(readFileSync(resolve(dir, file), 'utf8')));
  } catch (error) {
    parsed.set(file, error as Error);
  }
}
const agent = (file: string) => {
  const result = parsed.get(file);
  if (!result || result instanceof Error) throw new Error(`${file} did not import: ${String(result)}`);
  return result;
};

describe('the published-shapes corpus', () => {
  it('has at least 60 files, and at least 98% of them import', () => {
    expect(files.length).toBeGreaterThanOrEqual(60);
    const refused = [...parsed].filter(([, result]) => result instanceof Error).map(([file]) => file);
    expect(refused.length / files.length, `refused: ${refused.join(', ')}`).toBeLessThanOrEqual(0.02);
  });

  it('maps a sample as the format means', () => {
    expect(agent('01-backend-architect.md')).toMatchObject({ slug: 'backend-architect', model: null, tools: ['Read', 'Grep', 'Glob'] });
    expect(agent('03-code-reviewer.md')).toMatchObject({ model: 'claude-opus-4-1', tools: ['Read', 'Grep', 'Glob', 'WebFetch'] });
    expect(agent('03-code-reviewer.md').description).toMatch(/^Use this agent when: reviews diffs/);
    expect(agent('03-code-reviewer.md').warnings[0]?.message).toMatch(/line 3.*read as one "key: value" per line/);
    expect(agent('04-test-automator.md')).toMatchObject({ model: 'claude-haiku-4-5', tools: ['Read', 'Edit', 'Bash'] });
    expect(agent('05-debugger.md')).toMatchObject({ model: 'claude-sonnet-4-0', tools: [...knownTools] });
    expect(agent('06-security-auditor.md').model).toBe('claude-opus-4-1');
    expect(agent('07-database-optimizer.md')).toMatchObject({
      model: 'claude-3-5-haiku-latest',
      tools: ['Read', 'Grep', 'mcp__github__get_pull_request', 'mcp__github__create_review_comment'],
    });
    expect(agent('08-devops-engineer.md').tools).toEqual(['Bash', 'Read', 'Write', 'TaskList', 'SendMessage']);
    expect(agent('09-technical-writer.md').model).toBe('claude-sonnet-4-5');
    expect(agent('10-data-scientist.md').model).toBe('gpt-4o');
    expect(agent('11-ml-engineer.md').model).toBe('gpt-4o-mini');
    expect(agent('13-ui-designer.md').model).toBe('gpt-4.1-mini');
    expect(agent('15-sql-expert.md')).toMatchObject({ model: null });
    expect(agent('15-sql-expert.md').warnings.map((w) => w.field)).toContain('frontMatter.model');
    // CRLF line endings and a byte-order mark read as any other file.
    expect(agent('06-security-auditor.md').instructions).not.toContain('\r');
    expect(agent('05-debugger.md').slug).toBe('debugger');
  });
});
