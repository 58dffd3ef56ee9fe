// The agent format's built-in tools, with the JSON Schema (2020-12) of each one's input. They run where the
// client's files are: the service validates a model's calls against these schemas and hands them over.
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
    'Task',
    'Hands a piece of work to another employee of the organization.',
    false,
    input(['description', 'prompt', 'subagent_type'], {
      description: text('The work, in a few words.', { minLength: 1 }),
      prompt: text('The whole request.', { minLength: 1 }),
      subagent_type: text('The slug of the employee to hand it to.', { minLength: 1 }),
    }),
  ),
]);

const builtInByName = new Map(builtInTools.map((definition) => [definition.name, definition]));

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
