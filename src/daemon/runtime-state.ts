import { existsSync } from 'node:fs';
import { readJson, writeJsonAtomic } from '../store/atomic';

/** Small daemon-wide state that must survive restarts (the pod CIDR kubelet gave us). */
export class RuntimeState {
  private data: { podCidr: string } = { podCidr: '' };
  constructor(private readonly path: string) {
    if (existsSync(path)) this.data = { ...this.data, ...readJson<{ podCidr: string }>(path) };
  }
  get podCidr(): string {
    return this.data.podCidr;
  }
  set podCidr(cidr: string) {
    this.data = { ...this.data, podCidr: cidr };
    writeJsonAtomic(this.path, this.data);
  }
}
