// The README's Teams example, as printed: the shell block after its `readme-teams-example` marker, run by bash
// against a real `npm start` on a fresh data directory (the offline provider: no keys). A lead starts two
// specialists in one step and ends with both results; the members, the board and the messages are as the README says.
import { execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { components } from '../../src/generated/api.js';
import { freePort } from '../../src/db/embedded.js';
import { startLocalServer, stopChildProcess } from '../support/processes.js';

type Task = components['schemas']['Task'];
type BoardItem = components['schemas']['BoardItem'];
type TeamMessage = components['schemas']['TeamMessage'];

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');

/** The block the marker announces, exactly as printed. */
function exampleBlock(): string {
  const match = /<!-- readme-teams-example\b[^>]*-->\n```sh\n([\s\S]*?)\n```/.exec(readme);
  if (!match) throw new Error('README.md has no shell block after <!-- readme-teams-example -->.');
  return match[1]!;
}

let dataDir: string;
let port: number;
let server: ChildProcess | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'staffroom-readme-teams-'));
  chmodSync(dataDir, 0o755); // the cluster runs unprivileged when the tests run as root
  port = await freePort();
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (/^(OPENAI|ANTHROPIC)_/.test(name) || name === 'DATABASE_URL') delete env[name];
  server = await startLocalServer({ dataDir, port, env });
}, 90_000);
afterAll(async () => {
  await stopChildProcess(server, 'SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("the README's Teams example", () => {
  it('is a shell block that reads the service from STAFFROOM_URL, else the default npm start', () => {
    const block = exampleBlock();
    expect(block).toMatch(/^API=\$\{STAFFROOM_URL:-http:\/\/127\.0\.0\.1:3000\}$/m);
    expect(block).toContain('npm run -s token -- alice@example.com');
    expect(block).toContain('toolUse: "team"');
  });

  it('runs as printed on a fresh npm start: the lead succeeds with both members’ results', { timeout: 120_000 }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, STAFFROOM_URL: `http://127.0.0.1:${port}` };
    delete env.NODE_ENV;
    delete env.DATABASE_URL;
    const { stdout } = await run('bash', ['-e', '-o', 'pipefail', '-c', exampleBlock()], { cwd: root, env, timeout: 110_000 });
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    const [lead, members, board, messages] = lines.map((line) => JSON.parse(line) as unknown) as [
      { data: Task },
      { data: Task[] },
      { data: BoardItem[] },
      { data: TeamMessage[] },
    ];

    expect(lead.data).toMatchObject({ status: 'succeeded', toolUse: 'team', memberName: 'team-lead', depth: 0, rootTaskId: null });
    const team = [...members.data].sort((a, b) => a.memberName!.localeCompare(b.memberName!));
    expect(team.map((m) => [m.memberName, m.status, m.depth, m.rootTaskId, m.parentTaskId])).toEqual([
      ['implementer', 'succeeded', 1, lead.data.id, lead.data.id],
      ['reviewer', 'succeeded', 1, lead.data.id, lead.data.id],
    ]);
    // The lead's answer quotes each call's result: the team, the board, both members' outputs and the message sent.
    const output = lead.data.output!;
    expect(output).toContain('Team add-due-dates created');
    expect(output).toContain('Task #1 created');
    for (const member of team)
      expect(output).toContain(`Result of team member ${member.memberName} (task ${member.id}):\n${member.output!}`);
    expect(output).toContain('Message sent to reviewer');
    expect(lead.data.treeCostCredits).toBe(lead.data.costCredits! + team[0]!.costCredits! + team[1]!.costCredits!);

    expect(board.data.map((item) => [item.id, item.subject, item.status])).toEqual([['1', 'Write the migration', 'completed']]);
    expect(messages.data.map((m) => [m.fromName, m.toName, m.content, m.deliveredAt !== null])).toEqual([
      ['team-lead', 'reviewer', 'Check that the migration is reversible.', true],
    ]);
  });
});
