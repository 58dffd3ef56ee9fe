// ESLint: the recommended rules of ESLint and typescript-eslint, and the layers of the code, which import
// only downwards: kernel → db, integrations → services → handlers → http → entries (server, functions, scripts).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Files of `layer` may not import from these folders (relative to src/). */
const higherLayers = {
  kernel: ['db', 'integrations', 'services', 'handlers', 'http'],
  db: ['integrations', 'services', 'handlers', 'http'],
  integrations: ['db', 'services', 'handlers', 'http'],
  services: ['handlers', 'http'],
  handlers: ['http/app', 'http/adapters', 'http/router', 'http/security', 'http/validation', 'http/request', 'http/responses'],
};

const layerRules = Object.entries(higherLayers).map(([layer, forbidden]) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((folder) => ({
          regex: `^(\\.\\./)+${folder.replace('/', '\\/')}(\\/|\\.js$)`,
          message: `src/${layer} is below src/${folder}: it may not import from it.`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'coverage/',
      '.data/',
      'src/generated/',
      'sdk/dist/',
      'sdk/src/generated/',
      'sdk/**/*.d.ts',
      'test/fixtures/generators/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        performance: 'readonly',
        Request: 'readonly',
        Response: 'readonly',
        fetch: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        structuredClone: 'readonly',
        Headers: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  ...layerRules,
);
