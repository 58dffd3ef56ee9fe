// Agent definition files, as Claude Code subagents are written: YAML front matter between `---` lines
// (`name`, `description`, `tools`, `model`), then the instructions as markdown.
import type { components } from '../generated/api.js';
import { ApiError, type ErrorDetail } from '../kernel/errors.js';
import { findModel } from './catalog.js';
import { builtInTools } from './tools.js';

type Tool = components['schemas']['Tool'];

/** The format's built-in tools: what an employee gets when its file lists none. */
export const knownTools: readonly Tool[] = [
  'Read',
  'Write',
  'Edit',
  'Glob',
  'Grep',
  'Bash',
  'WebFetch',
  'WebSearch',
  'TodoWrite',
  'NotebookEdit',
  'Task',
];
/**
 * Built-in names a file may list beyond those it gets by default: the catalog's others (MultiEdit, LS, the team
 * tools Agent, TaskCreate, SendMessage, ...) and the format's tools that only its own client runs.
 */
const otherBuiltInTools = new Set([
  ...builtInTools.map((tool) => tool.name),
  'NotebookRead',
  'BashOutput',
  'KillShell',
  'KillBash',
  'ExitPlanMode',
  'SlashCommand',
]);
const toolName = /^[A-Za-z][A-Za-z0-9_-]*$/;
const maxInstructionsLength = 50_000;
/** The front matter keys the service reads; the others are kept as they are. */
const usedKeys = new Set(['name', 'description', 'tools', 'model']);
const maxFrontMatterLength = 16_384;
const maxYamlAliases = 50;
// The format's model aliases, and the catalog id of each model family that files name with or without a date.
const modelAliases: Record<string, string> = { opus: 'claude-opus-4-1', sonnet: 'claude-sonnet-4-5', haiku: 'claude-haiku-4-5' };
const modelFamilies: Record<string, string> = {
  'claude-sonnet-4': 'claude-sonnet-4-0',
  'claude-opus-4-1': 'claude-opus-4-1',
  'claude-3-5-haiku': 'claude-3-5-haiku-latest',
};

/**
 * The catalog id a file's `model` names: an id, an alias, a dated id (`claude-sonnet-4-20250514`,
 * `gpt-4o-2024-08-06`), a `-latest` one, or any of those behind a provider (`anthropic/claude-sonnet-4-5`).
 */
function resolveModelName(value: string): string | undefined {
  let name = value.trim().toLowerCase();
  name = name.replace(/^(anthropic|openai|offline)[/:]/, '');
  if (modelAliases[name]) return modelAliases[name];
  if (findModel(name)) return name;
  const undated = name.replace(/-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$/, '');
  if (findModel(undated)) return undated;
  return modelFamilies[undated] ?? modelFamilies[undated.replace(/-0$/, '')];
}

export interface AgentDefinition {
  /** What the import changed or could not use, by front matter key. */
  warnings: ErrorDetail[];
  /** The front matter's other keys (`color`, ...), kept as they were for export. */
  frontMatter: Record<string, unknown>;
  name: string;
  slug: string;
  description: string;
  tools: Tool[];
  /** null: the organization's default model. */
  model: string | null;
  instructions: string;
}

const invalid = (details: ErrorDetail[]): ApiError =>
  new ApiError(
    'VALIDATION_ERROR',
    `The agent definition is invalid: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}.`,
    details,
  );

function humanize(slug: string): string {
  const words = slug.split('-').join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** What YAML's error codes mean, in the words of someone writing an agent file. */
const yamlProblems: Record<string, string> = {
  BLOCK_AS_IMPLICIT_KEY: 'a value holds ": " (a colon and a space) without quotes around it',
  MULTILINE_IMPLICIT_KEY: 'a line is indented where a new key was expected, or a key runs over several lines',
  MISSING_CHAR: 'a quote or a bracket is opened and never closed',
  BAD_INDENT: 'the indentation is inconsistent',
  TAB_AS_INDENT: 'a tab indents a line; use spaces',
  DUPLICATE_KEY: 'a key appears twice',
  UNEXPECTED_TOKEN: 'something unexpected follows a value; quote the value',
};

/**
 * Front matter as one `key: value` per line, the way the format's own readers take it: a key at the start
 * of a line, its value the rest of the line (quotes removed), lines indented below it continuing the value,
 * and `- item` lines below an empty value making a list. Undefined when the text is not even that.
 */
function readKeyValueLines(yamlText: string): Record<string, unknown> | undefined {
  const data: Record<string, unknown> = {};
  let key: string | undefined;
  let items: string[] | undefined;
  for (const line of yamlText.split('\n')) {
    const entry = /^([A-Za-z_][A-Za-z0-9_-]*):(?:[ \t]+(.*))?$/.exec(line);
    if (entry) {
      key = entry[1]!;
      if (key in data) return undefined;
      const value = (entry[2] ?? '').trim();
      const quoted = /^(["'])(.*)\1$/.exec(value);
      if (!quoted && /^["']/.test(value)) return undefined; // a quote opened and never closed
      data[key] = quoted ? quoted[2]! : value;
      items = value === '' ? [] : undefined;
      continue;
    }
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    if (key === undefined || !/^[ \t]/.test(line)) return undefined;
    const item = /^[ \t]+-[ \t]+(.*)$/.exec(line);
    if (items && item) {
      items.push(item[1]!.trim().replace(/^(["'])(.*)\1$/, '$2'));
      data[key] = items;
    } else {
      items = undefined;
      data[key] = `${String(data[key])}${data[key] ? '\n' : ''}${line.trim()}`;
    }
  }
  return key === undefined ? undefined : data;
}

/** The YAML library, loaded with the first agent file read or written, not with every cold start of the API. */
const yaml = () => import('yaml');

export async function parseAgentDefinition(source: string): Promise<AgentDefinition> {
  const text = source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const match = /^\s*---[ \t]*\n([\s\S]*?)\n---[ \t]*(?:\n|$)([\s\S]*)$/.exec(text);
  if (!match) {
    throw invalid([{ field: 'frontMatter', message: 'is missing: the file must start with a --- line, then YAML, then a --- line' }]);
  }
  const [, yamlText = '', body = ''] = match;
  if (yamlText.length > maxFrontMatterLength) {
    throw invalid([{ field: 'frontMatter', message: `is longer than ${maxFrontMatterLength} characters` }]);
  }
  const firstYamlLine = text.slice(0, text.indexOf('---')).split('\n').length + 1;
  const { isMap, parseDocument } = await yaml();
  const document = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  const warnings: ErrorDetail[] = [];
  let data: Record<string, unknown>;
  let yamlProblem: ErrorDetail | undefined;
  if (document.errors.length > 0) {
    const error = document.errors[0]!;
    const line = error.linePos?.[0] ? error.linePos[0].line + firstYamlLine - 1 : undefined;
    const problem = `is not valid YAML${line ? ` (line ${line})` : ''}: ${yamlProblems[error.code] ?? error.code.toLowerCase().replace(/_/g, ' ')}`;
    // Many published files put ": " in an unquoted description; the format's own readers take each line as
    // `key: value`. So do we, and say so; a file that is not even that is refused.
    const lines = readKeyValueLines(yamlText);
    if (!lines || error.code === 'DUPLICATE_KEY') throw invalid([{ field: 'frontMatter', message: problem }]);
    data = lines;
    yamlProblem = { field: 'frontMatter', message: problem };
    warnings.push({ field: 'frontMatter', message: `${problem}; it was read as one "key: value" per line` });
  } else {
    if (!isMap(document.contents)) throw invalid([{ field: 'frontMatter', message: 'must be a mapping of keys to values' }]);
    try {
      // Aliases expand on conversion: a few nested ones can stand for millions of nodes.
      data = document.toJS({ maxAliasCount: maxYamlAliases }) as Record<string, unknown>;
    } catch {
      throw invalid([{ field: 'frontMatter', message: `uses more than ${maxYamlAliases} YAML aliases` }]);
    }
  }
  const details: ErrorDetail[] = [];

  const name = data.name;
  if (typeof name !== 'string' || !name.trim()) {
    details.push({ field: 'frontMatter.name', message: 'is required' });
  } else if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name.trim()) || name.trim().length < 2 || name.trim().length > 48) {
    details.push({
      field: 'frontMatter.name',
      message: 'must be 2 to 48 lowercase letters, digits and single hyphens, like code-reviewer',
    });
  }

  const description = data.description ?? '';
  if (typeof description !== 'string') details.push({ field: 'frontMatter.description', message: 'must be text' });
  else if (description.length > 1000) details.push({ field: 'frontMatter.description', message: 'must be at most 1000 characters' });

  let tools: Tool[] = [...knownTools]; // absent: every built-in tool, as the format means
  if (data.tools !== undefined && data.tools !== null) {
    const listed = typeof data.tools === 'string' ? data.tools.split(',') : Array.isArray(data.tools) ? data.tools : undefined;
    if (!listed || listed.some((t) => typeof t !== 'string')) {
      details.push({ field: 'frontMatter.tools', message: 'must be a comma-separated string or a list of tool names' });
    } else {
      const names = [...new Set(listed.map((t: string) => t.trim()).filter(Boolean))];
      const malformed = names.filter((t) => !toolName.test(t) || t.length > 128);
      if (malformed.length) details.push({ field: 'frontMatter.tools', message: `has names no tool can have: ${malformed.join(', ')}` });
      // Tools this service does not run itself (MCP tools, new ones) are kept: the organization can define them.
      const kept = names.filter((t) => !knownTools.includes(t) && !otherBuiltInTools.has(t));
      for (const tool of kept)
        warnings.push({
          field: 'frontMatter.tools',
          message: `${tool} is not a built-in tool: it is kept, and runs once the organization defines it`,
        });
      tools = names;
    }
  }

  let model: string | null = null;
  if (data.model !== undefined && data.model !== null && data.model !== 'inherit') {
    const id = typeof data.model === 'string' ? resolveModelName(data.model) : undefined;
    if (id) model = id;
    else
      warnings.push({
        field: 'frontMatter.model',
        message: `"${String(data.model)}" is not a model this service offers: the employee uses the organization's default (see listModels)`,
      });
  }

  const instructions = body.replace(/^\s*\n/, '').trimEnd();
  if (!instructions.trim()) details.push({ field: 'instructions', message: 'are empty: write them below the front matter' });
  else if (instructions.length > maxInstructionsLength)
    details.push({ field: 'instructions', message: `must be at most ${maxInstructionsLength} characters` });

  // Read line by line and still wrong: the YAML problem comes first, as it is likely the cause.
  if (details.length) throw invalid(yamlProblem ? [yamlProblem, ...details] : details);
  const slug = (name as string).trim();
  const frontMatter = Object.fromEntries(Object.entries(data).filter(([key]) => !usedKeys.has(key)));
  // Kept as JSON in the database, which holds at most 16 KiB of it (a few escapes can grow the YAML's text).
  if (Buffer.byteLength(JSON.stringify(frontMatter)) > 16_000) {
    throw invalid([{ field: 'frontMatter', message: 'holds more than 16,000 bytes of keys the service does not use' }]);
  }
  return { warnings, frontMatter, name: humanize(slug), slug, description: description as string, tools, model, instructions };
}

/** An employee as an agent definition file: what importEmployee reads back into the same employee. */
export async function exportAgentDefinition(employee: {
  slug: string;
  description: string;
  tools: readonly string[];
  model: string | null;
  instructions: string;
  frontMatter?: Record<string, unknown>;
}): Promise<string> {
  const { stringify } = await yaml();
  const frontMatter = stringify(
    {
      name: employee.slug,
      description: employee.description,
      tools: employee.tools.join(', '),
      model: employee.model ?? 'inherit',
      ...employee.frontMatter,
    },
    { lineWidth: 0 },
  );
  return `---\n${frontMatter}---\n\n${employee.instructions}\n`;
}
