// The entry point every isolated bench shares: parse the arguments (usage
// and exit 2 on a bad one, usage on --help), then run the bench inside its
// own cgroup and work dir (runIsolated re-runs the script there; the inner
// run finds its work dir in the environment).

import { parseOrUsage, type BenchArgSpec } from './args';
import { isolatedWorkDir, runIsolated } from './isolate';

/** `program` is how the usage names the bench (dist/bench/<name>.js); `script` is its __filename. */
export async function benchMain<I extends string, S extends string, B extends string>(
  program: string,
  spec: BenchArgSpec<I, S, B>,
  script: string,
  inner: (work: string, argv: string[]) => Promise<number>,
): Promise<void> {
  const argv = process.argv.slice(2);
  const parsed = parseOrUsage(program, spec, argv);
  if ('exit' in parsed) {
    process.exitCode = parsed.exit;
    return;
  }
  const work = isolatedWorkDir();
  process.exitCode = work ? await inner(work, argv) : await runIsolated(script, argv);
}
