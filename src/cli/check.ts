import type { VmpodConfig } from '../config/types';
import { hostReport } from '../daemon/host-report';
import { blocking } from '../host/capabilities';
import type { HandlerTypes } from '../sandbox';
import { nodeLabelLines, writeFeatureFile } from './node-labels';
import { packageVersion } from './version';

export interface CheckOptions {
  /** Also write node-feature-discovery labels (cli/node-labels.ts) to this file. */
  nodeLabels?: string;
}

/**
 * `vmpod check`: one line per capability; exit 1 when a configured handler cannot work.
 * The node labels are written either way: handler.<name>=false is what keeps pods off this node.
 */
export async function runCheck(cfg: VmpodConfig, types: HandlerTypes, out: NodeJS.WritableStream = process.stdout, opts: CheckOptions = {}): Promise<number> {
  const { capabilities: caps, decisions } = await hostReport(cfg, types, true);
  if (opts.nodeLabels !== undefined) {
    writeFeatureFile(opts.nodeLabels, nodeLabelLines({ handlers: Object.keys(cfg.runtime.handlers), capabilities: caps, version: packageVersion() }));
    out.write(`node labels written to ${opts.nodeLabels}\n\n`);
  }
  const width = Math.max(...caps.map((c) => c.name.length));
  for (const c of caps) {
    out.write(`${c.status.padEnd(8)} ${c.name.padEnd(width)}  ${c.detail}${c.fix && c.status !== 'OK' ? `\n${' '.repeat(width + 11)}fix: ${c.fix}` : ''}\n`);
  }
  if (decisions.length > 0) out.write(`\n${decisions.join('\n')}\n`);
  const blockers = blocking(caps);
  if (blockers.length) {
    out.write(`\nvmpod cannot run every configured handler: ${blockers.map((b) => `${b.name} (needed by ${b.neededBy.join('/')})`).join(', ')}\n`);
    return 1;
  }
  out.write('\nvmpod can run every configured handler on this host\n');
  return 0;
}
