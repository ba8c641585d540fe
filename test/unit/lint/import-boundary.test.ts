// The host/guest import boundary (lint/import-boundary.js): every way of
// naming another file is judged by the file it resolves to, so neither side
// reaches into the other's tree and common/ depends on neither, whatever the
// import's form (a dynamic import() into src/ passed the earlier
// no-restricted-imports rule). And the repository's ESLint config, which
// scripts/test runs, applies it to all three rooms.

import t from 'tap';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { ESLint, Linter, type Rule } from 'eslint';
import tseslint from 'typescript-eslint';

const REPO = resolve(__dirname, '../../../..');
const boundary = createRequire(__filename)(join(REPO, 'lint/import-boundary.js')) as { ROOT: string; rules: Record<string, Rule.RuleModule> };

const linter = new Linter({ cwd: REPO });
const config: Linter.Config[] = [
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { vmpod: { rules: boundary.rules } },
    rules: { 'vmpod/import-boundary': 'error' },
  },
];

function findings(file: string, code: string): Linter.LintMessage[] {
  return linter.verify(code, config, { filename: join(REPO, file) });
}

t.equal(boundary.ROOT, REPO, 'the rule places the rooms in this repository');

t.test('what crosses the boundary is refused, in every form', async (t) => {
  const cases: [string, string, string, RegExp][] = [
    [
      'the agent imports host code',
      'agent/src/x.ts',
      "import { nowNs } from '../../src/pods/ids';",
      /the guest agent \(agent\/src\/\) may import only agent\/src\/ and common\/.*'\.\.\/\.\.\/src\/pods\/ids' is in src\//,
    ],
    ['from deeper in the agent', 'agent/src/rpc/x.ts', "import type { PodService } from '../../../src/pods/service';", /is in src\//],
    ['a re-export', 'agent/src/x.ts', "export { KeyedLock } from '../../src/pods/locks';", /is in src\//],
    ['export * from', 'src/x.ts', "export * from '../agent/src/log';", /the host \(src\/\) may import only src\/ and common\/.*is in agent\/src\//],
    ['a dynamic import()', 'agent/src/x.ts', "export const m = import('../../src/pods/locks');", /is in src\//],
    ['import() with a template literal', 'src/pods/x.ts', 'export const m = import(`../../agent/src/log`);', /is in agent\/src\//],
    ['require()', 'agent/src/x.ts', "export const m: unknown = require('../../src/pods/locks');", /is in src\//],
    ['import = require()', 'src/x.ts', "import m = require('../agent/src/log');\nexport const n = m;", /is in agent\/src\//],
    ['a type-only import() in a type', 'src/x.ts', "export type L = typeof import('../agent/src/log');", /is in agent\/src\//],
    ['common imports the host', 'common/x.ts', "import type { Logger } from '../src/log';", /shared code \(common\/\) may import only common\/.*is in src\//],
    ['common imports the agent', 'common/ttrpc/x.ts', "import '../../agent/src/log';", /is in agent\/src\//],
    ['a file of the repository in no room', 'src/x.ts', "import p from '../package.json';", /'\.\.\/package\.json' is package\.json, in none of common\/, src\/ and agent\/src\//],
    ['a path outside the repository', 'src/x.ts', "import '../../../../../../../../../etc/x';", /is outside the repository/],
    ['an absolute path', 'agent/src/x.ts', `import '${REPO}/src/log';`, /is in src\//],
  ];
  for (const [what, file, code, message] of cases) {
    const found = findings(file, code);
    t.equal(found.length, 1, `${what}: one finding`);
    t.equal(found[0]?.ruleId, 'vmpod/import-boundary', `${what}: by the boundary rule`);
    t.match(found[0]?.message, message, `${what}: the message names the rooms and where the import goes`);
  }
});

t.test('what stays inside is allowed', async (t) => {
  const cases: [string, string, string][] = [
    ['the agent imports common/', 'agent/src/rpc/x.ts', "import { sleep } from '../../../common/time';"],
    ['the agent imports itself', 'agent/src/rpc/x.ts', "import { consoleLog } from '../log';"],
    ['the host imports common/ with import()', 'src/sandbox/microvm/x.ts', "export const v = import('../../../common/native/vsock');"],
    ['a climb out of the own room and back in', 'src/a/b.ts', "import { x } from '../../src/c';"],
    ['node builtins and packages', 'common/x.ts', "import { join } from 'node:path';\nimport pino from 'pino';\nexport const m: unknown = require('tap');\nexport { join, pino };"],
    ['a computed path cannot be judged (the native addon)', 'common/native/x.ts', 'declare const p: string;\nexport const addon: unknown = require(p);'],
    ['files outside the rooms (tests) may import both sides', 'test/unit/x.test.ts', "import '../../src/log';\nimport '../../agent/src/log';"],
  ];
  for (const [what, file, code] of cases) t.same(findings(file, code), [], what);
});

t.test("the repository's ESLint config applies the rule to all three rooms", async (t) => {
  const eslint = new ESLint({ cwd: REPO });
  for (const file of ['common/time.ts', 'src/main.ts', 'src/sandbox/microvm/controller.ts', 'agent/src/main.ts', 'agent/src/rpc/containers.ts']) {
    const cfg = (await eslint.calculateConfigForFile(join(REPO, file))) as { rules?: Record<string, unknown> } | undefined;
    t.same(cfg?.rules?.['vmpod/import-boundary'], [2], `${file}: vmpod/import-boundary is an error`);
  }
});
