// No module-level mutable state outside the composition root (issue 13):
// per-daemon state (locks, samples, caches, broadcasters) belongs to an object
// the composition root builds, so two daemons in one process (the tests)
// never share it and a reader finds it where it is owned. Found by this scan:
// the event broadcaster was attached to the pod domain through a module-level
// WeakMap, and the cgroup facts validation reads were cached in a module `let`.
//
// What it flags at the top level of every file under common/, src/ and
// agent/src/ (generated code aside): a `let` or `var`; a `const` holding an
// empty array or object literal, a WeakMap, WeakSet or WeakRef, or a Map or Set
// built empty (to be filled later). A Map or Set built from a literal list is
// a lookup table and passes.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

const REPO = resolve(__dirname, '../../../..');
const ROOMS = ['common', 'src', 'agent/src'];

/** Where module state is allowed, and why. */
const ALLOWED: Record<string, string> = {
  // The composition root builds and holds the daemon's parts.
  'src/daemon/': 'the composition root',
  'src/main.ts': 'the entry point',
  // Loading the native addon is what costs (a search of build dirs); it is one per process by nature.
  'common/native/addon.ts:cached': 'the lazily loaded native addon',
  // Filled once, at load, from os.constants.errno: a constant table, never changed after.
  'common/native/errno.ts:nameByErrno': "the platform's errno names",
};

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'generated') yield* tsFiles(p);
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield p;
  }
}

const STATE_CLASSES = new Set(['WeakMap', 'WeakSet', 'WeakRef']);
const CONTAINER_CLASSES = new Set(['Map', 'Set']);

/** Why a top-level declaration's initializer is mutable state, or undefined. */
function stateIn(init: ts.Expression | undefined): string | undefined {
  if (!init) return undefined;
  while (ts.isAsExpression(init) || ts.isSatisfiesExpression(init) || ts.isParenthesizedExpression(init)) init = init.expression;
  if (ts.isArrayLiteralExpression(init) && init.elements.length === 0) return 'an empty array';
  if (ts.isObjectLiteralExpression(init) && init.properties.length === 0) return 'an empty object';
  if (ts.isNewExpression(init) && ts.isIdentifier(init.expression)) {
    const cls = init.expression.text;
    if (STATE_CLASSES.has(cls)) return `a ${cls}`;
    if (CONTAINER_CLASSES.has(cls) && !init.arguments?.length) return `an empty ${cls}`;
  }
  return undefined;
}

/** `file:line name (what)` for each top-level mutable binding of a file. */
function moduleState(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    const isConst = (st.declarationList.flags & ts.NodeFlags.Const) !== 0;
    for (const d of st.declarationList.declarations) {
      const what = isConst ? stateIn(d.initializer) : 'let/var';
      if (what) out.push(`${file}:${sf.getLineAndCharacterOfPosition(d.getStart()).line + 1} ${d.name.getText()} (${what})`);
    }
  }
  return out;
}

const allowed = (finding: string): boolean => {
  const [where, name] = finding.split(' ');
  const file = where.slice(0, where.lastIndexOf(':'));
  return Object.keys(ALLOWED).some((k) => (k.endsWith('/') ? file.startsWith(k) : k === file || k === `${file}:${name}`));
};

t.test('the scan finds what it is meant to', async (t) => {
  const found = moduleState(
    'x.ts',
    ['let a = 1;', 'var b;', 'const c = new Map<string, number>();', 'const d = new WeakMap();', 'const e: string[] = [];', 'const f = {} as Record<string, number>;'].join('\n') +
      ['', 'const ok1 = new Set([1, 2]);', "const ok2 = new Map([['a', 1]]);", 'const ok3 = 3;', 'export function g(): void { let h = 1; h++; }', 'class K { private m = new Map(); }'].join('\n'),
  );
  t.same(
    found.map((f) => f.split(' ')[1]),
    ['a', 'b', 'c', 'd', 'e', 'f'],
    'let, var, empty Map, WeakMap, empty array and empty object at module scope; lookup tables, constants and state inside functions and classes pass',
  );
});

t.test('no module-level mutable state under common/, src/ and agent/src/ outside the composition root', async (t) => {
  const findings: string[] = [];
  for (const room of ROOMS) for (const abs of tsFiles(join(REPO, room))) findings.push(...moduleState(relative(REPO, abs), readFileSync(abs, 'utf8')));
  t.same(
    findings.filter((f) => !allowed(f)),
    [],
    'none (give the state to an object the composition root builds)',
  );
  for (const k of Object.keys(ALLOWED).filter((k) => k.includes(':')))
    t.ok(
      findings.some((f) => allowed(f) && f.startsWith(k.split(':')[0])),
      `${k} still exists (else drop it from the list)`,
    );
});
