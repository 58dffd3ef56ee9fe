// The team tools in the built-in catalog: inputs as the published agent-team format writes them, schemas that
// every provider takes.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { builtInTools, findBuiltInTool, isTeamTool, teamTools } from '../../src/services/tools.js';

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats.default(ajv);
const validate = (name: string, input: unknown): boolean => ajv.compile(findBuiltInTool(name)!.inputSchema)(input);

describe('the team tools', () => {
  it('are built-in tools that write no file', () => {
    expect([...teamTools].sort()).toEqual(
      ['Agent', 'SendMessage', 'Task', 'TaskCreate', 'TaskGet', 'TaskList', 'TaskUpdate', 'TeamCreate', 'TeamDelete'].sort(),
    );
    for (const name of teamTools) expect(findBuiltInTool(name), name).toMatchObject({ builtIn: true, writes: false });
    expect(isTeamTool('SendMessage')).toBe(true);
    expect(isTeamTool('Read')).toBe(false);
    expect(isTeamTool('sendmessage')).toBe(false);
  });

  it('have schemas that compile strictly, with no combinator at the top level (Anthropic refuses one)', () => {
    for (const tool of builtInTools) {
      expect(() => ajv.compile(tool.inputSchema), tool.name).not.toThrow();
      expect(tool.inputSchema.type, tool.name).toBe('object');
      expect(
        Object.keys(tool.inputSchema).filter((key) => ['anyOf', 'oneOf', 'allOf'].includes(key)),
        tool.name,
      ).toEqual([]);
    }
  });

  it('take Agent and Task calls as the format writes them', () => {
    for (const name of ['Agent', 'Task']) {
      expect(validate(name, { description: 'Review', prompt: 'Review the diff.', subagent_type: 'code-reviewer' })).toBe(true);
      expect(validate(name, { description: 'Review', prompt: 'Review the diff.' })).toBe(true);
      expect(
        validate(name, {
          description: 'Review',
          prompt: 'Review the diff.',
          subagent_type: 'code-reviewer',
          name: 'reviewer',
          model: 'sonnet',
          team_name: 'release',
          run_in_background: true,
        }),
      ).toBe(true);
      expect(validate(name, { prompt: 'Review the diff.' })).toBe(false);
      expect(validate(name, { description: 'Review', prompt: '' })).toBe(false);
      expect(validate(name, { description: 'Review', prompt: 'x', color: 'blue' })).toBe(false);
      expect(validate(name, { description: 'Review', prompt: 'x'.repeat(100_001) })).toBe(false);
    }
    expect(findBuiltInTool('Task')!.inputSchema).toEqual(findBuiltInTool('Agent')!.inputSchema);
  });

  it('take SendMessage with to or recipient, and message or content', () => {
    expect(validate('SendMessage', { to: 'team-lead', message: 'Done.', summary: 'Done', type: 'message' })).toBe(true);
    expect(validate('SendMessage', { recipient: 'reviewer', content: 'Done.' })).toBe(true);
    expect(validate('SendMessage', { to: 'reviewer', content: 'Done.' })).toBe(true);
    expect(validate('SendMessage', { to: 'reviewer' })).toBe(false);
    expect(validate('SendMessage', { message: 'Done.' })).toBe(false);
    expect(validate('SendMessage', {})).toBe(false);
    expect(validate('SendMessage', { to: 'reviewer', message: 'x'.repeat(10_001) })).toBe(false);
    expect(validate('SendMessage', { to: 'reviewer', message: 'Done.', cc: 'lead' })).toBe(false);
  });

  it('take the board and team calls', () => {
    expect(validate('TaskCreate', { subject: 'Write tests', description: 'For the parser.', activeForm: 'Writing tests' })).toBe(true);
    expect(validate('TaskCreate', { subject: 'Write tests', description: '', metadata: { area: 'parser' } })).toBe(true);
    expect(validate('TaskCreate', { subject: 'Write tests' })).toBe(false);
    expect(validate('TaskList', {})).toBe(true);
    expect(validate('TaskList', { status: 'pending' })).toBe(false);
    expect(validate('TaskGet', { taskId: '12' })).toBe(true);
    expect(validate('TaskGet', { taskId: 12 })).toBe(false);
    expect(validate('TaskGet', { taskId: '#3' })).toBe(false);
    expect(validate('TaskUpdate', { taskId: '2', status: 'in_progress', owner: 'reviewer', addBlockedBy: ['1'] })).toBe(true);
    expect(validate('TaskUpdate', { taskId: '2', status: 'deleted' })).toBe(true);
    expect(validate('TaskUpdate', { taskId: '2', status: 'done' })).toBe(false);
    expect(validate('TeamCreate', { team_name: 'release', description: 'Ships 1.7', agent_type: 'team-lead' })).toBe(true);
    expect(validate('TeamCreate', {})).toBe(false);
    expect(validate('TeamDelete', {})).toBe(true);
  });
});
