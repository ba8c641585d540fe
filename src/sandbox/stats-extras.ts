// Stats beyond CPU and memory, each present only where the kernel (or the
// hypervisor process) has it: a field the host cannot measure stays unset
// rather than reading 0, so that kubelet and dashboards see "unknown", not
// "idle". CgroupStats (controller.ts) carries these.

/** Block IO summed over devices, from blkio (cgroup v1) or io.stat (v2). */
export interface IoFigures {
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
}

/** One line of a PSI file (`some` or `full`): stall time in µs and the kernel's running averages in percent. */
export interface PsiLine {
  totalUs: number;
  avg10: number;
  avg60: number;
  avg300: number;
}

export interface PressureFigures {
  some: PsiLine;
  /** Absent for cpu.pressure on kernels that only report `some` there. */
  full?: PsiLine;
}

/** VM pods: the hypervisor process's own cost on the host, read from /proc/<pid>. */
export interface VmmFigures {
  rssBytes: number;
  pssBytes: number;
  cpuNs: number;
  cpuUserNs: number;
  cpuSystemNs: number;
  threads?: number;
}

export interface StatsExtras {
  io?: IoFigures;
  pressure?: { cpu?: PressureFigures; memory?: PressureFigures; io?: PressureFigures };
  swapUsageBytes?: number;
  /** Swap the cgroup may still use; absent without a swap limit. */
  swapLimitBytes?: number;
  /** VM pods only: the VMM's figures kept apart from the guest's, so the overhead can be named. */
  vmm?: VmmFigures;
}
