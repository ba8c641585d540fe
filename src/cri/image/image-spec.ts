// The ImageSpec every image RPC carries. Images are stored once for all
// runtime handlers (a VM pod's rootfs comes from the same snapshots as a runc
// pod's), so `runtime_handler` selects nothing; but api.proto asks that a
// handler this node does not have be rejected rather than quietly accepted.

import { InvalidArgumentError } from '../../../common/errors';
import { requireObject, requireString } from '../validate';

/** The image reference of `req.image`; INVALID_ARGUMENT for a missing one or an unknown runtime handler. */
export function imageRefOf(image: unknown, runtimeHandlers: ReadonlySet<string> | undefined): string {
  const spec = requireObject(image as { image?: unknown; runtime_handler?: unknown } | null | undefined, 'image');
  const ref = requireString(spec.image as string, 'image.image');
  const handler = typeof spec.runtime_handler === 'string' ? spec.runtime_handler : '';
  if (handler && runtimeHandlers && !runtimeHandlers.has(handler)) {
    throw new InvalidArgumentError('image.runtime_handler', `"${handler.slice(0, 64)}" is not a runtime handler of this node (have: ${[...runtimeHandlers].join(', ')})`);
  }
  return ref;
}
