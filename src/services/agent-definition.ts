// Agent definition files, as Claude Code subagents are written: YAML front matter between `---` lines
// (`name`, `description`, `tools`, `model`), then the instructions as markdown.
import { isMap, parseDocument } from 'yaml';
import type { components } from '../generated/api.js';
import { ApiError, type ErrorDetail } from '../kernel/errors.js';
import { findModel } from './catalog.js';

type Tool = components['schemas']['Tool'];

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
const maxInstructionsLength = 50_000;
const maxFrontMatterLength = 16_384;
const maxYamlAliases = 50;
// Model aliases used in agent files, mapped to catalog ids.
const modelAliases: Record<string, string> = { sonnet: 'claude-sonnet-4-5', haiku: 'claude-haiku-4-5' };

export interface AgentDefinition {
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

export function parseAgentDefinition(source: string): AgentDefinition {
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
  const document = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    const error = document.errors[0]!;
    const line = error.linePos?.[0] ? error.linePos[0].line + firstYamlLine - 1 : undefined;
    throw invalid([
      {
        field: 'frontMatter',
        message: `is not valid YAML${line ? ` (line ${line})` : ''}: ${error.code.toLowerCase().replace(/_/g, ' ')}`,
      },
    ]);
  }
  if (!isMap(document.contents)) throw invalid([{ field: 'frontMatter', message: 'must be a mapping of keys to values' }]);
  let data: Record<string, unknown>;
  try {
    // Aliases expand on conversion: a few nested ones can stand for millions of nodes.
    data = document.toJS({ maxAliasCount: maxYamlAliases }) as Record<string, unknown>;
  } catch {
    throw invalid([{ field: 'frontMatter', message: `uses more than ${maxYamlAliases} YAML aliases` }]);
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

  let tools: Tool[] = [...knownTools]; // absent: every tool, as the format means
  if (data.tools !== undefined && data.tools !== null) {
    const listed = typeof data.tools === 'string' ? data.tools.split(',') : Array.isArray(data.tools) ? data.tools : undefined;
    if (!listed || listed.some((t) => typeof t !== 'string')) {
      details.push({ field: 'frontMatter.tools', message: 'must be a comma-separated string or a list of tool names' });
    } else {
      const names = [...new Set(listed.map((t: string) => t.trim()).filter(Boolean))];
      const unknown = names.filter((t) => !knownTools.includes(t as Tool));
      if (unknown.length)
        details.push({ field: 'frontMatter.tools', message: `has unknown tools: ${unknown.join(', ')} (known: ${knownTools.join(', ')})` });
      tools = names as Tool[];
    }
  }

  let model: string | null = null;
  if (data.model !== undefined && data.model !== null && data.model !== 'inherit') {
    const id = typeof data.model === 'string' ? (modelAliases[data.model] ?? data.model) : undefined;
    if (!id || !findModel(id))
      details.push({ field: 'frontMatter.model', message: `"${String(data.model)}" is not inherit nor a model from listModels` });
    else model = id;
  }

  const instructions = body.replace(/^\s*\n/, '').trimEnd();
  if (!instructions.trim()) details.push({ field: 'instructions', message: 'are empty: write them below the front matter' });
  else if (instructions.length > maxInstructionsLength)
    details.push({ field: 'instructions', message: `must be at most ${maxInstructionsLength} characters` });

  if (details.length) throw invalid(details);
  const slug = (name as string).trim();
  return { name: humanize(slug), slug, description: description as string, tools, model, instructions };
}
