// Prettier formats the TypeScript and JavaScript (`npm run format`; scripts/test
// runs `prettier --check`). Set to the style the code was written in, so that
// adopting it was mostly mechanical: single quotes, semicolons, trailing commas,
// 2-space indent, and wide lines. Measured over the code when Prettier came in
// (lines changed by the reformat, files touched): width 160: 6,334 lines in 258
// files; 180: 4,950 in 222; 200: 4,261 in 211; 240: 3,624 in 203. Past 200 the
// gain is small and lines get hard to read side by side in a diff, so 200.
// What it formats is in .prettierignore.

/** @type {import('prettier').Config} */
export default {
  printWidth: 200,
  singleQuote: true,
  semi: true,
  trailingComma: 'all',
  tabWidth: 2,
  useTabs: false,
  arrowParens: 'always',
  endOfLine: 'lf',
  // A node script without an extension.
  overrides: [{ files: 'scripts/gen-agent-proto', options: { parser: 'babel' } }],
};
