#!/usr/bin/env node
// Runs jest (ESM mode) and closes with the plain line CI reads: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const dir = mkdtempSync(path.join(tmpdir(), 'mte-sim-jest-'));
const out = path.join(dir, 'results.json');
const jestBin = path.resolve('node_modules/jest/bin/jest.js');
const env = {
  ...process.env,
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --disable-warning=ExperimentalWarning`.trim(),
};
const res = spawnSync(process.execPath, [jestBin, '--json', `--outputFile=${out}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
});
let code = res.status ?? 1;
try {
  const r = JSON.parse(readFileSync(out, 'utf8'));
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
  if (r.numTotalTests === 0 && process.argv.length <= 2) code = 1;
} catch {
  console.log('jest: 0 passed, 1 failed');
  code = code || 1;
}
rmSync(dir, { recursive: true, force: true });
process.exit(code);
