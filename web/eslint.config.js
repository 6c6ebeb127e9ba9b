// ESLint (flat config): the recommended rules over the app's sources (browser globals), the
// tests and the tool configs (Node globals). `npm run lint`; scripts/checks/web.sh runs it.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
      'no-var': 'error',
    },
  },
  {
    files: ['src/**/*.js', 'api-docs/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['tests/**/*.{js,mjs}', '*.config.js'],
    languageOptions: { globals: globals.node },
  },
  {
    // The journeys pass functions to page.evaluate(), which run in the browser.
    files: ['tests/*.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
];
