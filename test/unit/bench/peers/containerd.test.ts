import t from 'tap';
import { parse } from 'smol-toml';
import { containerdConfigToml, containerdPaths } from '../../../../bench/peers/containerd';

const opts = { dir: '/tmp/b/ctd', sandboxImage: '127.0.0.1:5000/bench/pause:v1', insecureRegistries: ['127.0.0.1:5000'], cniConfDir: '/tmp/b/cni', cniBinDir: '/usr/lib/cni' };
type Tbl = Record<string, unknown>;
const cfg = parse(containerdConfigToml(opts)) as Tbl;
const cri = (cfg.plugins as Tbl)['io.containerd.grpc.v1.cri'] as Tbl;

const cases: Array<{ desc: string; got: () => unknown; want: unknown }> = [
  { desc: 'config version 2', got: () => cfg.version, want: 2 },
  { desc: 'root under the temp dir', got: () => cfg.root, want: '/tmp/b/ctd/root' },
  { desc: 'state under the temp dir', got: () => cfg.state, want: '/tmp/b/ctd/state' },
  { desc: 'socket under the temp dir', got: () => (cfg.grpc as Tbl).address, want: containerdPaths('/tmp/b/ctd').socket },
  { desc: 'no metrics listener', got: () => (cfg.metrics as Tbl).address, want: '' },
  { desc: 'the opt plugin (writes to /opt) is disabled', got: () => (cfg.disabled_plugins as string[]).includes('io.containerd.internal.v1.opt'), want: true },
  { desc: 'pause image from the local registry', got: () => cri.sandbox_image, want: opts.sandboxImage },
  { desc: 'oom_score_adj restricted (no CAP_SYS_RESOURCE)', got: () => cri.restrict_oom_score_adj, want: true },
  { desc: 'runc is the default runtime', got: () => (cri.containerd as Tbl).default_runtime_name, want: 'runc' },
  { desc: 'runc through the v2 shim', got: () => (((cri.containerd as Tbl).runtimes as Tbl).runc as Tbl).runtime_type, want: 'io.containerd.runc.v2' },
  { desc: 'cgroupfs, not systemd', got: () => ((((cri.containerd as Tbl).runtimes as Tbl).runc as Tbl).options as Tbl).SystemdCgroup, want: false },
  { desc: 'CNI conf dir', got: () => (cri.cni as Tbl).conf_dir, want: '/tmp/b/cni' },
  { desc: 'CNI bin dir', got: () => (cri.cni as Tbl).bin_dir, want: '/usr/lib/cni' },
  { desc: 'plain-HTTP mirror for the loopback registry', got: () => (((cri.registry as Tbl).mirrors as Tbl)['127.0.0.1:5000'] as Tbl).endpoint, want: ['http://127.0.0.1:5000'] },
];
for (const c of cases) t.test(`containerd config: ${c.desc}`, async (t) => t.same(c.got(), c.want));

t.test('paths with quotes and backslashes stay valid TOML', async (t) => {
  const odd = parse(containerdConfigToml({ ...opts, dir: '/tmp/a "b"\\c' })) as Tbl;
  t.equal(odd.root, '/tmp/a "b"\\c/root');
});
