import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import type { ChatMessage, CompletionRequest, ToolCall, ToolSpec } from '../../src/integrations/llm/provider.js';
import { builtInTools, teamTools } from '../../src/services/tools.js';

const weather: ToolSpec = {
  name: 'get_weather',
  description: 'The weather in a city now.',
  inputSchema: {
    type: 'object',
    properties: { units: { type: 'string' }, days: { type: 'integer' }, city: { type: 'string' } },
    required: ['days', 'city'],
  },
};
const clock: ToolSpec = {
  name: 'get_time',
  description: 'The local time in a time zone.',
  inputSchema: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] },
};
const counter: ToolSpec = {
  name: 'count',
  description: 'Counts to n.',
  inputSchema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
};

const tokens = (...parts: string[]) => Math.ceil(Buffer.byteLength(parts.join(''), 'utf8') / 4);

function ask(content: string, tools: ToolSpec[] = [weather, clock, counter]): CompletionRequest {
  return { model: 'offline-small', system: 'You are terse.', messages: [{ role: 'user', content }], tools, maxOutputTokens: 256 };
}

const provider = createOfflineProvider();

describe('the offline provider', () => {
  it('turns each @<Tool> line naming an offered tool into a call, in order', async () => {
    const request = ask(
      ['Please look these up.', '@get_weather Paris, France', '@send_mail boss@example.com', '  @get_time {"zone": "Asia/Tokyo"}'].join(
        '\n',
      ),
    );
    const completion = await provider.complete(request);
    expect(completion).toMatchObject({
      provider: 'offline',
      model: 'offline-small',
      output: '',
      toolCalls: [
        { name: 'get_weather', input: { city: 'Paris, France' } },
        { name: 'get_time', input: { zone: 'Asia/Tokyo' } },
      ],
    });
    const [a, b] = completion.toolCalls.map((c) => c.id);
    expect(a).toMatch(/^call_[0-9a-f]{12}$/);
    expect(b).toMatch(/^call_[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(completion.toolCalls.every((c) => c.inputError === undefined)).toBe(true);
  });

  it('gives a plain-text argument to a tool without a required string property as an input error', async () => {
    const [call] = (await provider.complete(ask('@count ten'))).toolCalls;
    expect(call).toMatchObject({ name: 'count', input: {}, inputError: expect.stringContaining('JSON object') });
    expect((await provider.complete(ask('@count {"n": 10}'))).toolCalls[0]!.input).toEqual({ n: 10 });
  });

  it('answers with text when no tool is offered or none is asked for', async () => {
    const unoffered = await provider.complete(ask('@get_weather Paris', []));
    expect(unoffered.toolCalls).toEqual([]);
    expect(unoffered.output).toMatch(/^\[offline\] No model was called/);
    expect(unoffered.output).toContain('Input begins: "@get_weather Paris"');
    expect(unoffered.output).not.toContain('Tools offered');

    const unasked = await provider.complete(ask('What is the weather in Paris?'));
    expect(unasked.toolCalls).toEqual([]);
    expect(unasked.output).toMatch(/^\[offline\] No model was called/);
    expect(unasked.output).toContain('Tools offered: get_weather, get_time, count.');
  });

  it('answers with the results of the last step once the tools ran', async () => {
    const first = ask('@get_weather Paris\n@get_time Asia/Tokyo');
    const step1 = await provider.complete(first);
    const [weatherCall, clockCall] = step1.toolCalls as [ToolCall, ToolCall];
    const messages: ChatMessage[] = [
      ...first.messages,
      { role: 'assistant', content: '', toolCalls: step1.toolCalls },
      { role: 'tool', toolCallId: weatherCall.id, content: '  18 °C, clear\n', isError: false },
      { role: 'tool', toolCallId: clockCall.id, content: 'x'.repeat(5_000), isError: true },
    ];
    const step2 = await provider.complete({ ...first, messages });
    expect(step2.toolCalls).toEqual([]);
    expect(step2.output).toBe(
      [
        "[offline] No model was called: this is the offline provider's deterministic stand-in, quoting the tools' results.",
        `Result of get_weather (${weatherCall.id}): 18 °C, clear`,
        `Result of get_time (${clockCall.id}) (error): ${'x'.repeat(4_000)}`,
      ].join('\n'),
    );

    // A second step's calls get other ids, and only its own results are quoted after it.
    const again: ChatMessage[] = [
      ...messages,
      { role: 'assistant', content: step2.output, toolCalls: [] },
      { role: 'user', content: '@get_weather Paris' },
    ];
    const step3 = await provider.complete({ ...first, messages: again });
    expect(step3.toolCalls[0]!.id).not.toBe(weatherCall.id);
    const step4 = await provider.complete({
      ...first,
      messages: [
        ...again,
        { role: 'assistant', content: '', toolCalls: step3.toolCalls },
        { role: 'tool', toolCallId: step3.toolCalls[0]!.id, content: 'Rain.', isError: false },
      ],
    });
    expect(step4.output.split('\n').slice(1)).toEqual([`Result of get_weather (${step3.toolCalls[0]!.id}): Rain.`]);
  });

  it('passes its text on in pieces, line by line, that join to the output', async () => {
    const deltas: string[] = [];
    const completion = await provider.complete({ ...ask('Say hi.'), onDelta: (delta) => deltas.push(delta) });
    expect(deltas.length).toBe(completion.output.split('\n').length);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(completion.output);

    const calls: string[] = [];
    const calling = await provider.complete({ ...ask('@get_weather Paris'), onDelta: (delta) => calls.push(delta) });
    expect(calling.output).toBe('');
    expect(calls).toEqual([]);
  });

  it('is deterministic', async () => {
    const request = ask('Check.\n@get_weather Paris\n@get_time Europe/Oslo');
    expect(await provider.complete(request)).toEqual(await provider.complete(structuredClone(request)));
    const plain = ask('Say hi.');
    expect(await provider.complete(plain)).toEqual(await provider.complete(structuredClone(plain)));
  });

  it('estimates usage at four bytes a token over everything read and written', async () => {
    const first = ask('@get_weather Paris\n@get_time {"zone":"Asia/Tokyo"}');
    const step1 = await provider.complete(first);
    const tools = JSON.stringify([weather, clock, counter]);
    expect(step1.usage).toEqual({
      inputTokens: tokens('You are terse.', '@get_weather Paris\n@get_time {"zone":"Asia/Tokyo"}', tools),
      outputTokens: tokens(JSON.stringify(step1.toolCalls)),
      cachedInputTokens: 0,
    });

    const messages: ChatMessage[] = [
      ...first.messages,
      { role: 'assistant', content: '', toolCalls: step1.toolCalls },
      { role: 'tool', toolCallId: step1.toolCalls[0]!.id, content: 'Sunny.', isError: false },
      { role: 'tool', toolCallId: step1.toolCalls[1]!.id, content: '09:00', isError: false },
    ];
    const step2 = await provider.complete({ ...first, messages });
    expect(step2.usage).toEqual({
      inputTokens: tokens(
        'You are terse.',
        '@get_weather Paris\n@get_time {"zone":"Asia/Tokyo"}',
        '',
        '{"city":"Paris"}',
        '{"zone":"Asia/Tokyo"}',
        'Sunny.',
        '09:00',
        tools,
      ),
      outputTokens: tokens(step2.output),
      cachedInputTokens: 0,
    });

    const capped = await provider.complete({ ...first, maxOutputTokens: 5 });
    expect(capped.usage.outputTokens).toBe(5);
  });

  it('leaves a bare @<Tool> line alone when the tool needs an input', async () => {
    expect((await provider.complete(ask('@get_weather\n@get_time'))).toolCalls).toEqual([]);
  });

  it('splits "<first>: <second>" for a tool with two required strings, and fills an enum from a second word', async () => {
    const mail: ToolSpec = {
      name: 'send_mail',
      description: 'Sends an email.',
      inputSchema: {
        type: 'object',
        properties: { to: { type: 'string' }, body: { type: 'string' }, priority: { type: 'string', enum: ['low', 'high'] } },
        required: ['to', 'body'],
      },
    };
    const ticket: ToolSpec = {
      name: 'close_ticket',
      description: 'Closes a ticket.',
      inputSchema: {
        type: 'object',
        properties: { id: { type: 'string' }, reason: { type: 'string', enum: ['fixed', 'duplicate'] } },
        required: ['id'],
      },
    };
    const { toolCalls } = await provider.complete(
      ask(
        [
          '@send_mail boss@example.com: Done: all green.',
          '@send_mail boss@example.com',
          '@close_ticket T-12 fixed',
          '@close_ticket T-12 later',
        ].join('\n'),
        [mail, ticket],
      ),
    );
    expect(toolCalls.map((c) => c.input)).toEqual([
      { to: 'boss@example.com', body: 'Done: all green.' },
      { to: 'boss@example.com' },
      { id: 'T-12', reason: 'fixed' },
      { id: 'T-12 later' },
    ]);
  });
});

describe('the offline provider with the team tools', () => {
  const team = builtInTools.filter((tool) => teamTools.has(tool.name)) as unknown as ToolSpec[];
  const ajv = new Ajv2020({ allErrors: true });
  const valid = (call: ToolCall) => ajv.validate(team.find((tool) => tool.name === call.name)!.inputSchema, call.input);
  const calls = async (...lines: string[]) => (await provider.complete(ask(lines.join('\n'), team))).toolCalls;

  it('reads each directive of the design into an input its schema accepts', async () => {
    const made = await calls(
      'Plan the release.',
      '@TeamCreate release-1.7',
      '@TaskCreate Write the changelog: List every change since 1.6, grouped.',
      '@Agent technical-writer: Write the changelog for 1.7 from the merged pull requests.',
      '@Task code-reviewer: Review the migration.',
      '@SendMessage team-lead: Item 1 is done; the changelog is in CHANGELOG.md.',
      '@TaskUpdate 1 completed',
      '@TaskUpdate 2',
      '@TaskGet 1',
      '@TaskList',
      '@TeamDelete',
    );
    expect(made.map(({ name, input }) => ({ name, input }))).toEqual([
      { name: 'TeamCreate', input: { team_name: 'release-1.7' } },
      { name: 'TaskCreate', input: { subject: 'Write the changelog', description: 'List every change since 1.6, grouped.' } },
      {
        name: 'Agent',
        input: {
          subagent_type: 'technical-writer',
          prompt: 'Write the changelog for 1.7 from the merged pull requests.',
          description: 'Write the changelog for 1.7',
        },
      },
      {
        name: 'Task',
        input: { subagent_type: 'code-reviewer', prompt: 'Review the migration.', description: 'Review the migration.' },
      },
      {
        name: 'SendMessage',
        input: {
          to: 'team-lead',
          message: 'Item 1 is done; the changelog is in CHANGELOG.md.',
          summary: 'Item 1 is done; the',
        },
      },
      { name: 'TaskUpdate', input: { taskId: '1', status: 'completed' } },
      { name: 'TaskUpdate', input: { taskId: '2' } },
      { name: 'TaskGet', input: { taskId: '1' } },
      { name: 'TaskList', input: {} },
      { name: 'TeamDelete', input: {} },
    ]);
    for (const call of made) {
      expect(call.inputError, call.name).toBeUndefined();
      expect(valid(call), `${call.name}: ${ajv.errorsText()}`).toBe(true);
    }
    expect(new Set(made.map((c) => c.id)).size).toBe(made.length);
  });

  it('takes a prompt without an employee, and JSON objects for every tool', async () => {
    const [plain, json, message, listed] = await calls(
      '@Agent Summarize the open issues',
      '@Agent {"description": "Review", "prompt": "Review it.", "subagent_type": "code-reviewer", "name": "rev"}',
      '@SendMessage {"recipient": "rev", "content": "Look at item 2."}',
      '@TaskList {}',
    );
    expect(plain!.input).toEqual({ prompt: 'Summarize the open issues', description: 'Summarize the open issues' });
    expect(json!.input).toEqual({ description: 'Review', prompt: 'Review it.', subagent_type: 'code-reviewer', name: 'rev' });
    expect(message!.input).toEqual({ recipient: 'rev', content: 'Look at item 2.' });
    expect(listed!.input).toEqual({});
    for (const call of [plain!, json!, message!, listed!]) expect(valid(call), call.name).toBe(true);
  });

  it('says how to write what it cannot read', async () => {
    const [unaddressed, listed] = await calls('@SendMessage Are you done?', '@TaskList pending');
    expect(unaddressed).toMatchObject({ name: 'SendMessage', input: {}, inputError: expect.stringContaining('"<to>: <message>"') });
    expect(listed).toMatchObject({ name: 'TaskList', input: {}, inputError: expect.stringContaining('JSON object') });
    // A bare line for a tool that needs an input is no call at all.
    expect(await calls('@SendMessage', '@Agent', '@TaskGet', '@TeamCreate')).toEqual([]);
  });

  it('is deterministic', async () => {
    const request = ask('@Agent reviewer: Review.\n@TaskList\n@SendMessage lead: Done.', team);
    expect(await provider.complete(request)).toEqual(await provider.complete(structuredClone(request)));
  });
});
