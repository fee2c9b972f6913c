/**
 * v1 reserves order_to_num_blocks(order) blocks per tagged allocation, B pages apart, each with
 * min(1 << order, 32 * B) references (kernel-facts §2.2-2.3): for a 2 MiB THP with 3-page blocks that is
 * 16 blocks of 3 pages, B times what the tags need. The invariant checker must count that as the kernel
 * does, not per tagged page, or it reports the series' own over-reservation as broken refcounts.
 */
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCommand } from '../../src/commands/run.js';
import { MemorySinks } from '../../src/io.js';

const dt = path.resolve(import.meta.dirname, '../../dts/examples/block-size-3-pages.dts');

async function run(text: string): Promise<{ code: number; sinks: MemorySinks }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-thp-bs-'));
  const file = path.join(dir, 'thp.scn');
  writeFileSync(file, text);
  const sinks = new MemorySinks();
  const code = await runCommand({
    scenarios: [file],
    dt,
    check: true,
    include: [],
    globals: { json: false, color: false, quiet: true, verbose: false },
    sinks,
  });
  return { code, sinks };
}

describe('tagged THP with 3-page tag blocks', () => {
  test('reserves 16 blocks of 3 pages per 2 MiB and --check finds the refcounts right', async () => {
    const { code, sinks } = await run(
      [
        'process app',
        'app: mmap heap 4M prot=rw+mte thp',
        'expect vmstat.metadata_reserve_success == 3', // the zero page's block
        'app: touch heap',
        'expect vmstat.thp_fault_alloc == 2',
        'expect vmstat.metadata_reserve_success == 3 + 2 * 16 * 3',
        'app: munmap heap',
        'expect vmstat.metadata_reserve_free == 2 * 16 * 3',
        'expect meminfo.MetadataFree == meminfo.MetadataTotal - 12',
        '',
      ].join('\n'),
    );
    expect(sinks.stderr).toBe('');
    expect(code).toBe(0);
  });
});
