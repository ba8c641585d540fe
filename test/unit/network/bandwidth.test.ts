import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import { EGRESS_ANNOTATION, INGRESS_ANNOTATION, parseQuantity, podBandwidth } from '../../../src/network/bandwidth';

t.test('resource quantities', async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['10M', 10_000_000],
    ['1k', 1000],
    ['1Ki', 1024],
    ['1.5Mi', 1_572_864],
    ['2e6', 2_000_000],
    ['2E3', 2000],
    ['1500m', 2],
    ['100', 100],
    ['.5k', 500],
    ['1P', 1e15],
    ['', undefined],
    ['10 M', undefined],
    ['M', undefined],
    ['-1M', undefined],
    ['10MB', undefined],
    ['1x', undefined],
  ];
  for (const [s, want] of cases) t.equal(parseQuantity(s), want, `"${s}"`);
});

t.test('pod bandwidth from annotations', async (t) => {
  t.equal(podBandwidth({}), undefined, 'no annotations: no limits');
  t.same(podBandwidth({ [INGRESS_ANNOTATION]: '10M' }), { ingressRate: 10_000_000, ingressBurst: 0xffffffff }, 'ingress only, burst at its maximum as containerd sets it');
  t.same(podBandwidth({ [INGRESS_ANNOTATION]: '1M', [EGRESS_ANNOTATION]: '2M' }), { ingressRate: 1e6, ingressBurst: 0xffffffff, egressRate: 2e6, egressBurst: 0xffffffff }, 'both');
  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['not a quantity', { [EGRESS_ANNOTATION]: 'fast' }, /"fast" is not a resource quantity/],
    ['below 1k', { [INGRESS_ANNOTATION]: '999' }, /outside 1k\.\.1P/],
    ['above 1P', { [INGRESS_ANNOTATION]: '2P' }, /outside 1k\.\.1P/],
  ];
  for (const [desc, annotations, msg] of bad) {
    const err = (() => {
      try {
        podBandwidth(annotations);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(err instanceof InvalidArgumentError, `${desc}: INVALID_ARGUMENT`);
    t.match((err as Error).message, msg, `${desc}: says why`);
    t.match((err as InvalidArgumentError).field, /^config\.annotations\["kubernetes\.io\/(in|e)gress-bandwidth"\]$/, `${desc}: names the annotation`);
  }
});
