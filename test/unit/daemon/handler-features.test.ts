import t from 'tap';
import { defaultConfig } from '../../../src/config/defaults';
import { handlerFeatures } from '../../../src/daemon/handler-features';
import type { HandlerFeatureFlags, SandboxController } from '../../../src/sandbox/controller';

const ctl = (f: HandlerFeatureFlags) => ({ features: () => f }) as unknown as SandboxController;
const YES = { userNamespaces: true, recursiveReadOnlyMounts: true };
const NO = { userNamespaces: false, recursiveReadOnlyMounts: false };

t.test('each handler answers for itself; "" claims only what every handler it may route to has', async (t) => {
  const runtime = defaultConfig().runtime;
  const names = Object.keys(runtime.handlers);
  t.ok(names.length >= 2, 'the default config has a trusted and an untrusted handler');
  const controllers = new Map([
    [runtime.default_handler, ctl(YES)],
    [runtime.untrusted_handler, ctl(NO)],
  ]);
  t.same(handlerFeatures(runtime, controllers, runtime.default_handler), YES, 'the default handler: its own');
  t.same(handlerFeatures(runtime, controllers, runtime.untrusted_handler), NO, 'the untrusted handler: its own');
  t.same(handlerFeatures(runtime, controllers, ''), NO, '"": an annotation may send the pod to the untrusted handler');
  t.same(handlerFeatures(runtime, controllers, 'nope'), NO, 'an unknown handler: nothing');
  const both = new Map([
    [runtime.default_handler, ctl(YES)],
    [runtime.untrusted_handler, ctl(YES)],
  ]);
  t.same(handlerFeatures(runtime, both, ''), YES, '"": both support it');
});
