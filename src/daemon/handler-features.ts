// What Status says each handler supports (RuntimeHandlerFeatures), asked of
// the controllers themselves: nothing here knows what kind a handler is.

import type { RuntimeConfig } from '../config/types';
import type { HandlerFeatureFlags, SandboxController } from '../sandbox/controller';
import { routePod, UNTRUSTED_ANNOTATION } from '../sandbox/route';

const NONE: HandlerFeatureFlags = { userNamespaces: false, recursiveReadOnlyMounts: false };

/**
 * Features of handler `name`. "" (pods without a RuntimeClass) may land on
 * the default or the untrusted handler depending on an annotation kubelet
 * does not look at when it reads features, so it claims only what both have.
 */
export function handlerFeatures(runtime: RuntimeConfig, controllers: ReadonlyMap<string, SandboxController>, name: string): HandlerFeatureFlags {
  const of = (handler: string): HandlerFeatureFlags => controllers.get(handler)?.features() ?? NONE;
  if (name !== '') return of(name);
  const targets = new Set<string>();
  const variants: Record<string, string>[] = [{}, { [UNTRUSTED_ANNOTATION]: 'true' }];
  for (const annotations of variants) {
    try {
      targets.add(routePod(runtime, '', annotations).handler);
    } catch {
      return NONE; // a route that leads nowhere runs nothing
    }
  }
  const all = [...targets].map(of);
  return { userNamespaces: all.every((f) => f.userNamespaces), recursiveReadOnlyMounts: all.every((f) => f.recursiveReadOnlyMounts) };
}
