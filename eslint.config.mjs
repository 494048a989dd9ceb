// Lint: typescript-eslint's type-checked rules, plus the dependency arrows between apps and libs.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Imports a folder must never make, each with the reason shown when it does. */
const forbid = (...rules) => ({
  'no-restricted-imports': ['error', { patterns: rules.map(([group, message]) => ({ group, message })) }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      eqeqeq: 'error',
      curly: 'error',
    },
  },
  {
    // bench/ and scripts/ are plain Node modules, run as written: the same rules where no types are needed.
    files: ['**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    // Tests read untyped JSON (raw HTTP bodies, result lines) on purpose, and feed readers from plain generators.
    files: ['test/**/*.ts', '**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['libs/**/*.ts'],
    rules: forbid([['**/apps/**'], 'libs/core is shared by both apps and imports neither of them']),
  },
  {
    files: ['apps/api/**/*.ts'],
    rules: forbid(
      [['**/worker/**', '**/apps/worker/**'], 'the api never imports the worker: share it through @app/core'],
      [['**/stub-upstream/**'], 'the stub upstream is a test stand-in: no app imports it'],
    ),
  },
  {
    files: ['apps/worker/**/*.ts'],
    rules: forbid(
      [['**/api/**', '**/apps/api/**'], 'the worker never imports the api: share it through @app/core'],
      [['**/stub-upstream/**'], 'the stub upstream is a test stand-in: no app imports it'],
    ),
  },
);
