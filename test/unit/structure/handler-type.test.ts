// Nothing above the controller asks which runtime it has (issue 13): no file
// under src/ or agent/src/ compares with a handler type's name ('runc',
// 'microvm') or tests `instanceof` a controller or QEMU class, outside the
// controllers themselves, the handler-type registry and the types' config
// definitions. What differs between types is a method of SandboxController.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

const REPO = resolve(__dirname, '../../../..');
const TYPE_NAMES = new Set(['runc', 'microvm']);
const TYPE_CLASSES = /Controller$|^Qemu/;

/** Where a handler type may be named: its own code, the registry, its config keys. */
const OWNERS = ['src/sandbox/runc/', 'src/sandbox/microvm/', 'src/sandbox/index.ts', 'src/sandbox/registry.ts', 'src/config/handlers/'];

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'generated') yield* tsFiles(p);
    else if (e.isFile() && e.name.endsWith('.ts')) yield p;
  }
}

const EQUALITY = new Set([ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken]);
const typeName = (n: ts.Node): boolean => ts.isStringLiteralLike(n) && TYPE_NAMES.has(n.text);

/** `file:line code` for each test of a handler type in a file. */
function typeTests(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    const hit =
      (ts.isBinaryExpression(n) && EQUALITY.has(n.operatorToken.kind) && (typeName(n.left) || typeName(n.right))) ||
      (ts.isCaseClause(n) && typeName(n.expression)) ||
      (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.InstanceOfKeyword && ts.isIdentifier(n.right) && TYPE_CLASSES.test(n.right.text));
    if (hit) out.push(`${file}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1} ${n.getText().slice(0, 80)}`);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

t.test('the scan finds what it is meant to', async (t) => {
  const code = [
    "if (cfg.type === 'microvm') x();",
    "const y = 'runc' !== t;",
    "switch (k) { case 'runc': break; }",
    'if (ctl instanceof MicrovmController) z();',
    'if (vm instanceof QemuVm) z();',
    "const ok1 = { type: 'runc' };",
    "const ok2 = handler === 'vm';",
    'const ok3 = err instanceof NotFoundError;',
  ].join('\n');
  t.same(
    typeTests('x.ts', code).map((f) => f.split(':')[1].split(' ')[0]),
    ['1', '2', '3', '4', '5'],
    'comparisons and cases on a type name, instanceof a controller or QEMU class; a type name as data, handler names and other classes pass',
  );
});

t.test('no file under src/ or agent/src/ tests a handler type outside its controller and the registry', async (t) => {
  const found: string[] = [];
  for (const room of ['src', 'agent/src', 'common']) {
    for (const abs of tsFiles(join(REPO, room))) {
      const file = relative(REPO, abs);
      if (OWNERS.some((o) => (o.endsWith('/') ? file.startsWith(o) : file === o))) continue;
      found.push(...typeTests(file, readFileSync(abs, 'utf8')));
    }
  }
  t.same(found, [], 'none (add a SandboxController method for what differs)');
});
