// runSteps: several commands in one shell (one spawn), the failing step named
// by the script's exit code, every argument passed through sh unchanged.

import t from 'tap';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalError } from '../../../common/errors';
import { runSteps, shQuote, stepScript } from '../../../src/network/run';

t.test('a step a line, each ending the script with its number when it fails', async (t) => {
  t.equal(
    stepScript([
      { what: 'a', argv: ['ip', 'link', 'set', 'dev', 'tap0', 'up'] },
      { what: 'b', argv: ['tc', 'qdisc', 'add', 'dev', 'eth0', 'handle', 'ffff:', 'ingress'] },
    ]),
    "'ip' 'link' 'set' 'dev' 'tap0' 'up' || exit 1\n'tc' 'qdisc' 'add' 'dev' 'eth0' 'handle' 'ffff:' 'ingress' || exit 2\n",
  );
  t.equal(shQuote("it's"), "'it'\\''s'", 'a quote inside stays literal');
  t.throws(() => stepScript(Array.from({ length: 101 }, () => ({ what: 'x', argv: ['true'] }))), InternalError, 'more steps than exit codes can name: refused');
});

t.test('runSteps runs every step in one shell, passes arguments intact, and names the step that failed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-steps-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A stand-in tool that prints its arguments one per line and fails, with a message, on "fail".
  const tool = join(dir, 'tool');
  writeFileSync(tool, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\nif [ "$1" = fail ]; then echo "RTNETLINK answers: File exists" >&2; exit 2; fi\n');
  chmodSync(tool, 0o755);
  const odd = "we'ird $(touch x) `name` \\ * ;";
  const out = await runSteps('wire', [
    { what: 'one', argv: [tool, 'a', odd] },
    { what: 'two', argv: [tool, 'b'] },
  ]);
  t.same(out.split('\n').filter(Boolean), ['a', odd, 'b'], 'both ran, in order, every argument one literal word');
  const err = await runSteps('wire tap0 to eth0', [
    { what: 'first', argv: [tool, 'ok'] },
    { what: 'create tap', argv: [tool, 'fail', 'x'] },
    { what: 'never', argv: [join(dir, 'marker-never')] },
  ]).catch((e: unknown) => e);
  t.type(err, InternalError, 'a failed step is INTERNAL');
  t.match((err as Error).message, /^wire tap0 to eth0: create tap: .*tool fail x failed: RTNETLINK answers: File exists$/, "naming the step, its command and the tool's stderr");
  t.same(await runSteps('nothing', []), '', 'no steps: nothing runs');
});
