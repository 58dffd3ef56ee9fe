// `npm run api:check`: fails with a readable list when the contract breaks clients of the released one
// (api/released/v1.json). `npm run api:release`: after review, makes the current contract the released one;
// it needs a CHANGELOG.md entry for the contract's version. Changes reviewers judged to break no client are listed,
// each with why, in api/released/accepted-changes.yaml.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { breakingChanges, withoutAccepted, type AcceptedChange } from './contract-diff.js';

const root = resolve(import.meta.dirname, '..');
const releasedPath = resolve(root, 'api/released/v1.json');
const current = JSON.parse(readFileSync(resolve(root, 'src/generated/openapi.json'), 'utf8')) as Record<string, unknown>;
if (!existsSync(releasedPath) && !process.argv.includes('--release')) {
  console.error('There is no released contract (api/released/v1.json) to compare with: run `npm run api:release`.');
  process.exit(1);
}
// The first release has nothing to break.
const released = existsSync(releasedPath) ? (JSON.parse(readFileSync(releasedPath, 'utf8')) as Record<string, unknown>) : current;
const version = (current.info as { version: string }).version;
const acceptedPath = resolve(root, 'api/released/accepted-changes.yaml');
const accepted = existsSync(acceptedPath)
  ? ((parse(readFileSync(acceptedPath, 'utf8')) as { accepted?: AcceptedChange[] | null } | null)?.accepted ?? [])
  : [];
const { breaking: changes, stale } = withoutAccepted(breakingChanges(released, current), accepted);
if (stale.length > 0 && !process.argv.includes('--release')) {
  console.error(
    `api/released/accepted-changes.yaml accepts changes the check no longer reports (remove them):\n- ${stale.map((entry) => entry.change).join('\n- ')}`,
  );
  process.exit(1);
}

if (process.argv.includes('--release')) {
  if (!readFileSync(resolve(root, 'CHANGELOG.md'), 'utf8').includes(`## ${version}`)) {
    console.error(`CHANGELOG.md has no "## ${version}" entry: say what changed before releasing ${version}.`);
    process.exit(1);
  }
  if (changes.length > 0 && !process.argv.includes('--breaking')) {
    console.error(
      `The contract breaks clients of the released one; ship it under /v2, or pass --breaking to release it anyway:\n- ${changes.join('\n- ')}`,
    );
    process.exit(1);
  }
  writeFileSync(releasedPath, `${JSON.stringify(current, null, 2)}\n`);
  console.log(`api/released/v1.json is now the contract of ${version}.`);
  if (accepted.length > 0)
    console.log('Empty the list of api/released/accepted-changes.yaml: the released contract has those changes now.');
} else if (changes.length > 0) {
  console.error(
    `The contract breaks clients of the released one (api/released/v1.json, ${(released.info as { version: string }).version}):\n- ${changes.join('\n- ')}\n` +
      'Keep the released behaviour (add, never remove or narrow), or put the change under /v2 with Deprecation and Sunset on what it replaces.',
  );
  process.exit(1);
} else {
  console.log(`No breaking change against the released contract ${(released.info as { version: string }).version}.`);
}
