// Starts the real app (express adapter over the core) on an ephemeral loopback port.
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createApp, document } from '../../src/http/app.js';
import { createExpressApp } from '../../src/http/express.js';
import { createStaffroomClient, type StaffroomClient, type StaffroomClientOptions } from '../../sdk/index.js';
import { contractCheck } from './contract.js';

export interface TestServer {
  baseUrl: string;
  client(options?: Omit<StaffroomClientOptions, 'baseUrl'>): StaffroomClient;
  close(): Promise<void>;
}

export async function startTestServer(options: { maxBodyBytes?: number; pingDatabase?: () => Promise<void> } = {}): Promise<TestServer> {
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  const app = await createApp({
    deps: { version: document.info.version, pingDatabase: options.pingDatabase },
    log: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    validateResponses: true,
    maxBodyBytes,
  });
  const server = createExpressApp(app, { maxBodyBytes, docsHtml: async () => '<html>docs</html>' }).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    client: (clientOptions = {}) => withContractCheck(createStaffroomClient({ baseUrl, ...clientOptions })),
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export function withContractCheck(client: StaffroomClient): StaffroomClient {
  client.use(contractCheck);
  return client;
}
