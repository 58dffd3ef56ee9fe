// The agent format's built-in tools, with the JSON Schema (2020-12) of each one's input. Most run where the
// client's files are: the service validates a model's calls against these schemas and hands them over. The team
// tools (teamTools) run on the server, for a task whose toolUse is team.
import type { components } from '../generated/api.js';
import { validationError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Tx } from '../db/client.js';
import * as queries from '../db/queries/tools.js';
import { frozen } from './catalog.js';
import { asCaller } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';
import { schemaProblem } from './tool-schemas.js';

export type ToolDefinition = components['schemas']['ToolDefinition'];
type OrganizationToolPut = components['schemas']['OrganizationToolPut'];

type Schema = Record<string, unknown>;
const text = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const whole = (description: string, minimum = 1): Schema => ({ type: 'integer', minimum, description });
const flag = (description: string): Schema => ({ type: 'boolean', description });
const input = (required: string[], properties: Record<string, Schema>): Schema => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});
const path = text("The path of the file, inside the task's working directory.", { minLength: 1 });
const edit = input(['old_string', 'new_string'], {
  old_string: text('The exact text to replace; it must occur once unless replace_all is set.', { minLength: 1 }),
  new_string: text('The text to put in its place.'),
  replace_all: flag('Replace every occurrence.'),
});

// The agent-team tools: members started with Agent, a task board, messages between teammates. The server runs them
// for a task whose toolUse is team (the limits are in the API's description of it).
const agentInput = input(['description', 'prompt'], {
  description: text('The work, in a few words (3 to 5).', { minLength: 1, maxLength: 200 }),
  prompt: text('The whole request: what the member is to do, and what to answer.', { minLength: 1, maxLength: 100_000 }),
  subagent_type: text('The slug of the employee of the organization who does the work.', { minLength: 1, maxLength: 48 }),
  name: text("The member's name in the team, by which teammates message it; the employee's slug when absent.", {
    minLength: 1,
    maxLength: 64,
  }),
  model: text("Accepted for the agent format and ignored: a member works with its employee's model.", { maxLength: 100 }),
  team_name: text('Accepted for the agent format and ignored: a member joins the team of the task that starts it.', {
    maxLength: 100,
  }),
  run_in_background: flag(
    "Answer the call at once and go on; the member's result comes later as a message from it. Otherwise the caller waits for it.",
  ),
});
const boardId = text('The id of an item of the task board: its number, such as "3".', { pattern: '^[1-9][0-9]*$', maxLength: 9 });
const boardIds = (description: string): Schema => ({ type: 'array', items: boardId, maxItems: 100, uniqueItems: true, description });
const metadata: Schema = { type: 'object', maxProperties: 50, description: 'Data of your own to keep with the item.' };
const memberName = (description: string): Schema => text(description, { minLength: 1, maxLength: 64 });
const present = (name: string): Schema => ({ required: [name], properties: { [name]: true } });

function tool(name: string, description: string, writes: boolean, inputSchema: Schema): ToolDefinition {
  return { name, description, builtIn: true, writes, inputSchema };
}

// Deeply frozen, like the rest of the catalog: its answer is serialised once per process.
export const builtInTools: readonly ToolDefinition[] = frozen([
  tool(
    'Read',
    'Reads a file, or a range of its lines.',
    false,
    input(['file_path'], {
      file_path: path,
      offset: whole('The first line to read.'),
      limit: whole('How many lines to read.'),
    }),
  ),
  tool(
    'Write',
    'Writes a file, replacing what it held.',
    true,
    input(['file_path', 'content'], {
      file_path: path,
      content: text('The whole new content of the file.'),
    }),
  ),
  tool(
    'Edit',
    'Replaces exact text in a file.',
    true,
    input(['file_path', 'old_string', 'new_string'], {
      file_path: path,
      ...(edit.properties as Record<string, Schema>),
    }),
  ),
  tool(
    'MultiEdit',
    'Makes several exact replacements in one file, in order, all or none.',
    true,
    input(['file_path', 'edits'], {
      file_path: path,
      edits: { type: 'array', minItems: 1, items: edit, description: 'The replacements, applied one after the other.' },
    }),
  ),
  tool(
    'Glob',
    'Lists the files whose paths match a glob pattern, newest first.',
    false,
    input(['pattern'], {
      pattern: text('A glob such as src/**/*.ts.', { minLength: 1 }),
      path: text('The folder to search, inside the working directory; the working directory itself when absent.'),
    }),
  ),
  tool(
    'Grep',
    'Searches file contents with a regular expression.',
    false,
    input(['pattern'], {
      pattern: text('A regular expression.', { minLength: 1 }),
      path: text('The file or folder to search; the working directory when absent.'),
      glob: text('Only the files whose paths match this glob.'),
      output_mode: {
        type: 'string',
        enum: ['content', 'files_with_matches', 'count'],
        description: 'What to answer; files_with_matches when absent.',
      },
      '-i': flag('Ignore case.'),
      '-n': flag('Number the matching lines (content mode).'),
    }),
  ),
  tool(
    'LS',
    'Lists a folder.',
    false,
    input(['path'], {
      path: text('The folder, inside the working directory.', { minLength: 1 }),
      ignore: { type: 'array', items: { type: 'string' }, description: 'Glob patterns of entries to leave out.' },
    }),
  ),
  tool(
    'Bash',
    'Runs a shell command in the working directory.',
    true,
    input(['command'], {
      command: text('The command.', { minLength: 1 }),
      timeout: whole('How long it may run, in milliseconds (at most 600000).', 1),
      description: text('What the command does, in a few words, for the person watching.'),
    }),
  ),
  tool(
    'WebFetch',
    'Fetches a web page and answers a question about it.',
    false,
    input(['url', 'prompt'], {
      url: text('The page.', { format: 'uri' }),
      prompt: text('What to find out from it.', { minLength: 1 }),
    }),
  ),
  tool(
    'WebSearch',
    'Searches the web.',
    false,
    input(['query'], {
      query: text('The search.', { minLength: 2 }),
      allowed_domains: { type: 'array', items: { type: 'string' }, description: 'Only results from these domains.' },
      blocked_domains: { type: 'array', items: { type: 'string' }, description: 'No results from these domains.' },
    }),
  ),
  tool(
    'TodoWrite',
    "Keeps the task's to-do list.",
    false,
    input(['todos'], {
      todos: {
        type: 'array',
        description: 'The whole list, as it stands now.',
        items: input(['content', 'status'], {
          content: text('What to do.', { minLength: 1 }),
          status: { type: 'string', enum: ['pending', 'in_progress', 'completed'] },
          activeForm: text('The same, as it reads while being done.'),
        }),
      },
    }),
  ),
  tool(
    'NotebookEdit',
    'Replaces, inserts or deletes a cell of a Jupyter notebook.',
    true,
    input(['notebook_path', 'new_source'], {
      notebook_path: path,
      new_source: text("The cell's new source."),
      cell_id: text('The cell to change, or to insert after.'),
      cell_type: { type: 'string', enum: ['code', 'markdown'] },
      edit_mode: { type: 'string', enum: ['replace', 'insert', 'delete'] },
    }),
  ),
  tool(
    'Agent',
    'Starts a member of the team: another employee of the organization works on the prompt, and its answer is the result.',
    false,
    agentInput,
  ),
  tool('Task', 'Agent, by its older name: starts a member of the team on the prompt; its answer is the result.', false, agentInput),
  tool(
    'TaskCreate',
    'Adds an item to the team\'s task board; its id is the next number ("1", "2", ...).',
    false,
    input(['subject', 'description'], {
      subject: text('The item, in a few words, in the imperative (Write the parser tests).', { minLength: 1, maxLength: 200 }),
      description: text('What is to be done, and how to tell it is done.', { maxLength: 10_000 }),
      activeForm: text('The subject as it reads while being done (Writing the parser tests).', { maxLength: 200 }),
      metadata,
    }),
  ),
  tool('TaskList', "Lists the team's task board: each item's id, subject, status, owner and blockers.", false, input([], {})),
  tool('TaskGet', "Reads one item of the team's task board, with its description.", false, input(['taskId'], { taskId: boardId })),
  tool(
    'TaskUpdate',
    "Changes an item of the team's task board: its status, owner, text or blockers; deleted removes it.",
    false,
    input(['taskId'], {
      taskId: boardId,
      status: { type: 'string', enum: ['pending', 'in_progress', 'completed', 'deleted'], description: 'The new status.' },
      subject: text('The new subject.', { minLength: 1, maxLength: 200 }),
      description: text('The new description.', { maxLength: 10_000 }),
      activeForm: text('The new subject as it reads while being done.', { maxLength: 200 }),
      owner: text('The name of the teammate who takes it on (as SendMessage addresses it).', { maxLength: 64 }),
      addBlocks: boardIds('Items that cannot start before this one is completed.'),
      addBlockedBy: boardIds('Items that must be completed before this one can start.'),
      metadata,
    }),
  ),
  tool(
    'SendMessage',
    'Sends a message to a teammate, who reads it at its next step (to and message, or by their older names recipient and content).',
    false,
    {
      ...input([], {
        to: memberName("The teammate's name: team-lead (or lead) for the team's lead, else the member's name."),
        recipient: memberName('The same as to, by its older name.'),
        message: text('What to tell them.', { minLength: 1, maxLength: 10_000 }),
        content: text('The same as message, by its older name.', { minLength: 1, maxLength: 10_000 }),
        summary: text('The message in a few words, for the people watching.', { maxLength: 200 }),
        type: text('The kind of message, as the agent format names it; message when absent.', { minLength: 1, maxLength: 64 }),
      }),
      // One of each pair is needed. Not as a top-level anyOf or allOf: Anthropic refuses those in an input schema.
      // A `properties` entry beside each `required` keeps the schema valid under Ajv's strict mode.
      if: { anyOf: [present('to'), present('recipient')] },
      then: { anyOf: [present('message'), present('content')] },
      else: present('to'),
    },
  ),
  tool(
    'TeamCreate',
    'Names the team the task leads: the members it starts with Agent join it.',
    false,
    input(['team_name'], {
      team_name: text("The team's name.", { minLength: 1, maxLength: 100 }),
      description: text('What the team is for.', { maxLength: 1000 }),
      agent_type: text("The lead's role in the team; accepted for the agent format and not used.", { maxLength: 100 }),
    }),
  ),
  tool('TeamDelete', "Ends the team: cancels its members that are still working, and clears the team's name.", false, input([], {})),
]);

const builtInByName = new Map(builtInTools.map((definition) => [definition.name, definition]));

/** The tools the server runs for a task whose toolUse is team (Task is Agent's older name). */
export const teamTools: ReadonlySet<string> = new Set([
  'Agent',
  'Task',
  'TaskCreate',
  'TaskList',
  'TaskGet',
  'TaskUpdate',
  'SendMessage',
  'TeamCreate',
  'TeamDelete',
]);

export function isTeamTool(name: string): boolean {
  return teamTools.has(name);
}

export function findBuiltInTool(name: string): ToolDefinition | undefined {
  return builtInByName.get(name);
}

/** Owners, admins and API keys define the organization's tools. */
async function requireToolManager(tx: Tx, orgId: string): Promise<void> {
  requireRole(await requireOrganization(tx, orgId), ['owner', 'admin'], 'manage tools');
}

/** The tools an organization defined, sorted by name. Any member or API key. */
export async function listOrganizationTools(ctx: RequestContext, orgId: string): Promise<ToolDefinition[]> {
  return asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    return queries.listTools(tx, orgId);
  });
}

/** Defines a tool or replaces its definition; `created` says which. Owners, admins and API keys. */
export async function putOrganizationTool(
  ctx: RequestContext,
  orgId: string,
  name: string,
  input: OrganizationToolPut,
): Promise<{ tool: ToolDefinition; created: boolean }> {
  if ([...builtInByName.keys()].some((builtIn) => builtIn.toLowerCase() === name.toLowerCase()))
    throw validationError('path.toolName', `is the name of a built-in tool (${name}); choose another`);
  const problem = await schemaProblem(input.inputSchema);
  if (problem) throw validationError('body.inputSchema', problem);
  const writes = input.writes ?? true;
  return asCaller(ctx, async (tx) => {
    await requireToolManager(tx, orgId);
    const created = await queries.putTool(
      tx,
      orgId,
      name,
      { description: input.description, inputSchema: input.inputSchema, writes },
      ctx.serverRequestId,
    );
    const [tool] = await queries.listTools(tx, orgId, [name]);
    return { tool: tool!, created };
  });
}

export async function deleteOrganizationTool(ctx: RequestContext, orgId: string, name: string): Promise<void> {
  await asCaller(ctx, async (tx) => {
    await requireToolManager(tx, orgId);
    await queries.deleteTool(tx, orgId, name, ctx.serverRequestId);
  });
}
