/**
 * Golden boot output (log, summary tables, every /proc file) for the bundled DT and for the real FVP MTE DT
 * (referenced in place under ../shared/dts-real). Regenerate with UPDATE_GOLDEN=1 and read the diff.
 */
import { DEFAULT_DT, REAL_DT, REAL_INCLUDE, golden, runBoot } from './helpers.js';

describe('golden boot output', () => {
  test('bundled dts/fvp-base-revc-mte.dts, 4K', async () => {
    const r = await runBoot({ dt: DEFAULT_DT, show: 'all' });
    expect(r.code).toBe(0);
    golden('fvp-base-revc-mte.4k.txt', r.out);
  });

  test('bundled DT with 64K pages', async () => {
    const r = await runBoot({ dt: DEFAULT_DT, show: 'meminfo,buddyinfo,pagetypeinfo,iomem', pageSize: '64K' });
    golden('fvp-base-revc-mte.64k.txt', r.out);
  });

  test('bundled DT with arm64.nomte', async () => {
    const r = await runBoot({ dt: DEFAULT_DT, show: 'meminfo,pagetypeinfo', cmdline: 'arm64.nomte' });
    golden('fvp-base-revc-mte.nomte.txt', r.out);
  });

  test('kernel-tree FVP MTE DT (../shared/dts-real, with includes)', async () => {
    const r = await runBoot({ dt: REAL_DT, include: [REAL_INCLUDE], show: 'all' });
    expect(r.code).toBe(0);
    golden('dts-real-fvp-base-revc-mte.txt', r.out.replaceAll(REAL_DT, '<REAL_DT>'));
  });
});
