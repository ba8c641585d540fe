// The handler-type registry (src/sandbox/registry.ts, filled in
// src/sandbox/index.ts): the composition root builds one controller per
// configured [runtime.handlers.<name>], the same way for every type, each
// from its own table, so two handlers of one type (two VM sizes) differ.

import t from 'tap';
import type { HandlerConfig } from '../../../src/config/handler-config';
import { silentLogger } from '../../../src/log';
import { handlerTypes } from '../../../src/sandbox';
import type { SandboxController } from '../../../src/sandbox/controller';
import { HandlerTypes, type ControllerContext, type HandlerType } from '../../../src/sandbox/registry';

const ctx = { config: { root: '/nonexistent/root', state: '/nonexistent/state' }, host: {}, log: silentLogger } as unknown as ControllerContext;

function fakeType(type: string, built: { name: string; cfg: HandlerConfig }[]): HandlerType {
  return {
    config: { type, isolation: type === 'fakevm' ? 'vm' : 'host', properties: {}, defaults: () => ({ type }) },
    createController: (name, cfg) => {
      built.push({ name, cfg });
      return { handler: name } as unknown as SandboxController;
    },
    checkHost: async () => ({ capabilities: [], decisions: [] }),
  };
}

t.test('one controller per configured handler, each built by its type from its own table', async (t) => {
  const built: { name: string; cfg: HandlerConfig }[] = [];
  const types = new HandlerTypes().register(fakeType('fakehost', built)).register(fakeType('fakevm', built));
  const controllers = types.createControllers({ plain: { type: 'fakehost' }, small: { type: 'fakevm', vcpus: 1 }, big: { type: 'fakevm', vcpus: 8 } }, ctx);
  t.same([...controllers.keys()], ['plain', 'small', 'big'], 'by handler name');
  t.same(
    [...controllers.values()].map((c) => c.handler),
    ['plain', 'small', 'big'],
    'each controller serves its handler',
  );
  t.same(
    built.map((b) => [b.name, b.cfg.vcpus]),
    [
      ['plain', undefined],
      ['small', 1],
      ['big', 8],
    ],
    'two handlers of one type get their own settings',
  );
});

t.test('refusals', async (t) => {
  const types = new HandlerTypes().register(fakeType('fakehost', []));
  t.throws(() => types.register(fakeType('fakehost', [])), /handler type "fakehost" registered twice/, 'a type registered twice');
  t.throws(() => types.createControllers({ x: { type: 'nosuch' } }, ctx), /handler type "nosuch" is not registered/, 'a handler of an unknown type');
});

t.test("this build's types: runc on the host, microvm and vm-image in a VM, with their config definitions", async (t) => {
  t.same(
    handlerTypes()
      .configs()
      .map((c) => [c.type, c.isolation]),
    [
      ['runc', 'host'],
      ['microvm', 'vm'],
      ['vm-image', 'vm'],
    ],
    'registered in this order, each with its isolation',
  );
});
