// The usual fixture of a test file: its own database and the real app over it, torn down at the end.
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startTestServer, type TestServer } from './server.js';

export interface TestApp {
  database: TestDatabase;
  server: TestServer;
}

export function useTestApp(options: Omit<Parameters<typeof startTestServer>[0], 'db'> = {}): TestApp {
  const app = {} as TestApp;
  beforeAll(async () => {
    app.database = await createTestDatabase();
    app.server = await startTestServer({ ...options, db: app.database.db });
  });
  afterAll(async () => {
    await app.server?.close();
    await app.database?.drop();
  });
  return app;
}
