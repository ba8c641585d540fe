// The host/guest import boundary as an ESLint rule (eslint.config.mjs turns it
// on for common/, src/ and agent/src/; docs/design.md has the picture). The
// guest agent and the host share code only through common/, and neither
// imports the other's tree; common/ imports neither.
//
// Every way a file can name another file is checked, by the file the
// specifier resolves to (not by its text): import and export ... from,
// import(), require(), `import x = require()` and type-only `import('...')`
// in a type. ESLint's no-restricted-imports sees only the first of these, so
// a dynamic import into the other side's tree used to pass CI. A specifier
// that is not a string literal (the native addon's computed .node path)
// cannot be resolved here and is left alone; packages and node builtins are
// not files of the repository and are allowed everywhere.

'use strict';

const { dirname, isAbsolute, relative, resolve, sep } = require('node:path');

/** The repository: this file is in <repo>/lint/. */
const ROOT = resolve(__dirname, '..');

/** Who may import whom: a room may import itself and the rooms in `may`. */
const ROOMS = [
  { room: 'agent/src', may: ['common'], name: 'the guest agent', why: 'host code does not run in the guest' },
  { room: 'src', may: ['common'], name: 'the host', why: 'share code with the guest through common/' },
  { room: 'common', may: [], name: 'shared code', why: 'both sides use it, so it depends on neither' },
];

const inside = (path, room) => path === room || path.startsWith(`${room}/`);

/** The room a repository-relative path is in, if any (agent/src before src: the longer match wins). */
function roomOf(path) {
  return ROOMS.find((r) => inside(path, r.room));
}

/** The repository-relative path a relative or absolute specifier names, with / separators. */
function target(fromFile, specifier) {
  const abs = isAbsolute(specifier) ? specifier : resolve(dirname(fromFile), specifier);
  return relative(ROOT, abs).split(sep).join('/');
}

/** The string a module-naming node holds, or undefined when it is not a plain string. */
function literal(node) {
  if (!node) return undefined;
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0].value.cooked;
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
const importBoundary = {
  meta: {
    type: 'problem',
    docs: { description: 'the guest agent and the host share code only through common/' },
    schema: [],
    messages: { crossing: "{{name}} ({{room}}/) may import only {{allowed}}, node builtins and npm packages: {{why}}. '{{specifier}}' is {{where}}." },
  },
  create(context) {
    const file = relative(ROOT, context.filename).split(sep).join('/');
    const from = roomOf(file);
    if (!from) return {};
    const allowed = [from.room, ...from.may];
    const check = (node, specNode) => {
      const specifier = literal(specNode);
      if (specifier === undefined || !(specifier.startsWith('.') || isAbsolute(specifier))) return;
      const to = target(context.filename, specifier);
      if (allowed.some((r) => inside(to, r))) return;
      const into = roomOf(to);
      const where = into ? `in ${into.room}/` : to.startsWith('..') ? 'outside the repository' : `${to}, in none of common/, src/ and agent/src/`;
      context.report({
        node,
        messageId: 'crossing',
        data: { name: from.name, room: from.room, allowed: allowed.map((r) => `${r}/`).join(' and '), why: from.why, specifier, where },
      });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require') check(node, node.arguments[0]);
      },
      TSExternalModuleReference: (node) => check(node, node.expression),
      // typescript-eslint 8 names the specifier `source`; older versions `argument.literal`.
      TSImportType: (node) => check(node, node.source ?? node.argument?.literal),
    };
  },
};

module.exports = { ROOMS, ROOT, rules: { 'import-boundary': importBoundary } };
