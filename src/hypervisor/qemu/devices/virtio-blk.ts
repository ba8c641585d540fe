import type { VirtioBlkDevice } from './types';
import { opts } from './opts';
import { command, deviceDel, type HotplugPlan } from './qmp-plan';

/** The block node of a disk: its format over the host file. */
function nodeName(d: VirtioBlkDevice): string {
  return `${d.id}-blk`;
}

/**
 * A disk image as a virtio-blk device (VM-image pods). `read-only` is set on
 * the file node too, so that the image is opened O_RDONLY and not only
 * refused writes by the format layer.
 */
export function virtioBlkArgs(d: VirtioBlkDevice): string[] {
  const ro = d.readOnly ? 'on' : 'off';
  return [
    '-blockdev',
    opts(`driver=${d.format}`, [
      ['node-name', nodeName(d)],
      ['read-only', ro],
      ['file.driver', 'file'],
      ['file.filename', d.path],
      ['file.read-only', ro],
    ]),
    '-device',
    opts('virtio-blk-pci', [
      ['id', d.id],
      ['drive', nodeName(d)],
    ]),
  ];
}

/** Hot-plug: blockdev-add (the file node inline, so blockdev-del removes both), then the device. */
export function virtioBlkHotplug(d: VirtioBlkDevice): HotplugPlan {
  const node = nodeName(d);
  return {
    id: d.id,
    plug: [
      {
        ...command('blockdev-add', { driver: d.format, 'node-name': node, 'read-only': d.readOnly, file: { driver: 'file', filename: d.path, 'read-only': d.readOnly } }),
        undo: command('blockdev-del', { 'node-name': node }),
      },
      command('device_add', { driver: 'virtio-blk-pci', id: d.id, drive: node }),
    ],
    unplug: [deviceDel(d.id), command('blockdev-del', { 'node-name': node })],
  };
}
