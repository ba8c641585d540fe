import type { TtrpcServer } from '../../../common/ttrpc';
import { onlineCpuMem } from '../cpu-mem';
import { handle } from './define';

export function registerCpuMem(server: TtrpcServer): void {
  handle(server, 'OnlineCpuMem', async () => {
    const s = await onlineCpuMem();
    return { online_cpus: s.onlineCpus, mem_total_kib: s.memTotalKib, mem_available_kib: s.memAvailableKib, errors: s.errors };
  });
}
