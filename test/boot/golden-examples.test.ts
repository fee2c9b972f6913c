/**
 * Golden boot output of every dts/examples/ file (one DT per v1 tag storage rule): the whole kernel log, the
 * summary tables and /proc/meminfo, so message, order, outcome and the MemTotal/MetadataTotal consequences are
 * all pinned. Regenerate with UPDATE_GOLDEN=1 and read the diff.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, golden, runBoot } from './helpers.js';

const dir = path.join(ROOT, 'dts/examples');
const examples = readdirSync(dir)
  .filter((f) => f.endsWith('.dts'))
  .sort();

describe('golden boot output of dts/examples', () => {
  test('there is an example for every rule that changes the course of the kernel', () => {
    expect(examples.length).toBeGreaterThanOrEqual(20);
  });

  test.each(examples)('%s', async (name) => {
    const file = path.join(dir, name);
    const r = await runBoot({ dt: file, show: 'meminfo' });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    golden(`examples/${name.replace(/\.dts$/, '.txt')}`, r.out.replaceAll(file, `<${name}>`));
  });
});
