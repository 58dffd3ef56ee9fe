// `npm run mock [-- --port 4410] [--host 0.0.0.0]`: a Prism mock of the bundled contract. Any other argument
// goes to `prism mock` as it is (`--dynamic`, `--errors`).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const args = process.argv.slice(2);
const { values, tokens } = parseArgs({
  args,
  strict: false,
  allowPositionals: true,
  tokens: true,
  options: { port: { type: 'string', default: '4010' }, host: { type: 'string', default: '127.0.0.1' } },
});
const port = String(values.port);
const host = String(values.host);
if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) {
  console.error(`--port must be a port number such as 4410, got "${port}".`);
  process.exit(2);
}

// Everything but --port and --host (and their values) is forwarded in its order.
const consumed = new Set<number>();
for (const token of tokens) {
  if (token.kind !== 'option' || (token.name !== 'port' && token.name !== 'host')) continue;
  consumed.add(token.index);
  if (!token.inlineValue && token.value !== undefined) consumed.add(token.index + 1);
}
const forwarded = args.filter((_, index) => !consumed.has(index));

const prism = createRequire(import.meta.url).resolve('@stoplight/prism-cli/dist/index.js');
const contract = resolve(import.meta.dirname, '../src/generated/openapi.json');
const child = spawn(process.execPath, [prism, 'mock', contract, '--host', host, '--port', port, ...forwarded], { stdio: 'inherit' });

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
child.once('error', (error) => {
  console.error(`Could not start Prism: ${error.message}`);
  process.exit(1);
});
// Prism's exit code, or the shell's convention for a death by signal.
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 128 + constants.signals[signal] : 1)));
