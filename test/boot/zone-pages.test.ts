/**
 * Every page belongs to one zone of its own node (page_zone from page->flags), also when nodes interleave so
 * that zone spans of different nodes overlap (dts/examples/v3-binding.dts: node 1's bank lies inside node 0's
 * Normal span). After boot, on every bundled DT: no zone manages more pages than it has present, and every
 * free buddy block sits on the lists of the zone its pages belong to, inside a memory bank of that node.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadDt } from '../../src/dt/load.js';
import { boot, DEFAULT_DT, ROOT } from './helpers.js';

const examples = readdirSync(path.join(ROOT, 'dts/examples'))
  .filter((f) => f.endsWith('.dts'))
  .map((f) => path.join(ROOT, 'dts/examples', f));

describe('zones own their pages', () => {
  test.each([DEFAULT_DT, ...examples].map((f) => [path.basename(f), f]))('%s', (_name, file) => {
    const sys = boot(loadDt(file));
    const alloc = sys.mm;
    const banks = sys.memblock.memory.regions.map((r) => ({
      start: r.base / alloc.geometry.pageSize,
      end: (r.base + r.size) / alloc.geometry.pageSize,
      nid: r.nid,
    }));
    for (const z of alloc.zones) {
      expect(z.managedPages).toBeLessThanOrEqual(z.presentPages);
      let bad = 0;
      alloc.forEachFreeBlock(z, (pfn, order) => {
        const end = pfn + (1 << order);
        const bank = banks.find((b) => b.start <= pfn && end <= b.end);
        if (alloc.zoneForPfn(pfn) !== z || bank === undefined || bank.nid !== z.nid) bad++;
      });
      expect(bad).toBe(0);
    }
  });
});
