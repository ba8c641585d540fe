// ESLint for the whole codebase: `npm run lint` (scripts/test runs it before the tap suites).
//
// TypeScript gets typescript-eslint's recommended type-checked rules: beside the
// usual mistakes they catch the async ones this daemon is full of chances for
// (a promise nobody awaits or catches, an async callback handed to an API that
// ignores what it returns, awaiting something that is not a promise). The plain
// JavaScript node scripts (guest-image/lib, scripts/gen-agent-proto) get ESLint's
// recommended rules. Formatting is Prettier's job (prettier.config.mjs); no rule
// here is about layout.

import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import boundary from './lint/import-boundary.js';

// Who may import whom (docs/design.md): the guest agent and the host share code
// only through common/, and neither imports the other's tree. The rule and the
// rooms are in lint/import-boundary.js; it judges every import, export ... from,
// import(), require() and type import by the file it names.
const vmpod = { rules: boundary.rules };

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', 'native/**/build/', 'src/generated/', 'common/generated/']),

  {
    name: 'vmpod/typescript',
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // tap tracks every subtest itself: `t.test(...)` returns a promise that
      // settles when the subtest ends and never rejects (a failure is reported
      // as a failed assertion), so the usual tap style of not awaiting it is safe.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] }],
      // Off: `async` without `await` is how this code makes a function that
      // fulfils a promise-returning contract (a CRI handler, an agent RPC, a
      // controller method, a tap test) turn a throw into a rejection, which the
      // one error wrapper then converts. A forgotten `await` is what the rule
      // would catch, and no-floating-promises and await-thenable catch that.
      '@typescript-eslint/require-await': 'off',
      // A caught error is `unknown`; handing it on to reject() unchanged is
      // propagation, not inventing a non-Error reason (only-throw-error allows
      // the same for `throw`).
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `_name` marks what is unused on purpose: a parameter an interface makes
      // a function take, a field left out of a rest copy (`{ v: _v, ...rest }`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },

  {
    name: 'vmpod/javascript',
    files: ['**/*.js', 'scripts/gen-agent-proto'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },

  {
    name: 'vmpod/config-files',
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },

  {
    name: 'vmpod/everywhere',
    // An eslint-disable comment that no longer suppresses anything is an error,
    // so none outlives its reason (one naming a rule that does not exist is
    // always an error).
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A `let` that closures read before its one assignment (a timer that a
      // failure path clears) cannot be a const declared earlier, and moving the
      // declaration down would make those reads throw in the temporal dead zone.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },

  {
    name: 'vmpod/boundary',
    files: ['common/**/*.ts', 'src/**/*.ts', 'agent/src/**/*.ts'],
    plugins: { vmpod },
    rules: { 'vmpod/import-boundary': 'error' },
  },
);
