/**
 * The real machine of the integration tests: src/sim/testbed.ts (the buddy allocator with one Normal zone whose
 * tag storage follows its tagged memory, TagStorageReuse, the process layer), under the names the tests use.
 */
import { makeTestbed, type TestbedMachine, type TestbedOptions } from '../../src/sim/testbed.js';

export type RealMachine = TestbedMachine;
export type RealOptions = Omit<TestbedOptions, 'dma' | 'beforeLayer'>;

export function makeRealMachine(o: RealOptions): RealMachine {
  return makeTestbed(o);
}
