import type { NvdimmRootfsDevice } from './types';
import { opts } from './opts';

/**
 * The rootfs image as a read-only emulated NVDIMM. `readonly=on` on the
 * backend maps the file PROT_READ (the guest can never write the image other
 * pods map); `unarmed=on` tells the guest the DIMM is not writable so its
 * pmem driver does not try. `share=on` lets every VM share the host's page
 * cache for the file (what DAX in the guest then uses directly).
 */
export function nvdimmRootfsArgs(d: NvdimmRootfsDevice): string[] {
  return [
    '-object',
    opts('memory-backend-file', [
      ['id', d.id],
      ['share', 'on'],
      ['readonly', 'on'],
      ['mem-path', d.imagePath],
      ['size', d.sizeBytes],
    ]),
    '-device',
    opts('nvdimm', [
      ['memdev', d.id],
      ['id', `${d.id}-nv`],
      ['unarmed', 'on'],
    ]),
  ];
}
