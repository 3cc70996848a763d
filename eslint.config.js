// Lint: typescript-eslint's recommended type-aware rules over src, test and bench.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'scripts/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // undici's entry loads ~110 modules the proxy never uses: runtime values come from src/net/undici.ts.
    files: ['src/**/*.ts'],
    ignores: ['src/net/undici.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: 'undici', message: 'Import undici runtime values from src/net/undici.ts (types are fine).', allowTypeImports: true }] },
      ],
    },
  },
  {
    // The web console: plain browser ES modules, outside the TypeScript project.
    files: ['console/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      sourceType: 'module',
      parserOptions: { projectService: false },
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'sessionStorage',
          'fetch',
          'performance',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'URL',
          'URLSearchParams',
          'Node',
          'MediaStream',
          'RTCPeerConnection',
          'console',
        ].map((g) => [g, 'readonly']),
      ),
    },
  },
);
