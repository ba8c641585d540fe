import type { VmpodConfig } from '../config/types';
import { blocking, probeCapabilities, type ExtraProbes } from '../host/capabilities';

/** `vmpod check`: one line per capability; exit 1 when a configured handler cannot work. */
export async function runCheck(cfg: VmpodConfig, extra: ExtraProbes, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const caps = await probeCapabilities(cfg, extra);
  const width = Math.max(...caps.map((c) => c.name.length));
  for (const c of caps) {
    out.write(`${c.status.padEnd(8)} ${c.name.padEnd(width)}  ${c.detail}${c.fix && c.status !== 'OK' ? `\n${' '.repeat(width + 11)}fix: ${c.fix}` : ''}\n`);
  }
  if (extra.decisions) {
    out.write('\n');
    try {
      for (const line of await extra.decisions()) out.write(`${line}\n`);
    } catch (err) {
      out.write(`microvm: ${(err as Error).message}\n`);
    }
  }
  const blockers = blocking(cfg, caps);
  if (blockers.length) {
    out.write(`\nvmpod cannot run every configured handler: ${blockers.map((b) => `${b.name} (needed by ${b.neededBy.join('/')})`).join(', ')}\n`);
    return 1;
  }
  out.write('\nvmpod can run every configured handler on this host\n');
  return 0;
}
