import type { Tx } from '../client.js';
import type { components } from '../../generated/api.js';

export type ToolDefinitionRow = components['schemas']['ToolDefinition'];

const toolColumns = (tx: Tx) => tx`
  t.name, t.description, false as "builtIn", t.writes, t.input_schema as "inputSchema"`;

/** The organization's own tools by name (at most 200 exist). */
export async function listTools(tx: Tx, orgId: string, names?: readonly string[]): Promise<ToolDefinitionRow[]> {
  return tx<ToolDefinitionRow[]>`
    select ${toolColumns(tx)} from staffroom.tools t
    where t.organization_id = ${orgId} ${names ? tx`and t.name = any(${names as string[]}::text[])` : tx``}
    order by t.name`;
}

/** Defines or replaces a tool; true when it was new. */
export async function putTool(
  tx: Tx,
  orgId: string,
  name: string,
  tool: { description: string; inputSchema: Record<string, unknown>; writes: boolean },
  requestId: string,
): Promise<boolean> {
  const [row] = await tx<{ created: boolean }[]>`
    select staffroom.put_tool(${orgId}, ${name}, ${tool.description}, ${tx.json(tool.inputSchema as never)}, ${tool.writes}, ${requestId}) as created`;
  return row!.created;
}

export async function deleteTool(tx: Tx, orgId: string, name: string, requestId: string): Promise<void> {
  await tx`select staffroom.delete_tool(${orgId}, ${name}, ${requestId})`;
}
