import { createDefaultEsmPreset } from 'ts-jest';

/** @type {import('jest').Config} */
const preset = createDefaultEsmPreset({ tsconfig: 'tsconfig.json' });
// ts-jest through scripts/jest-transform.cjs (a fast module-scope `Math`; see the file).
for (const [k, v] of Object.entries(preset.transform))
  preset.transform[k] = ['<rootDir>/scripts/jest-transform.cjs', v[1]];

export default {
  ...preset,
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  setupFiles: ['<rootDir>/test/setup-env.cjs'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 120000,
  // CI has 2 cores: use both (jest's default would be one worker there); many tests spawn dtc or the CLI.
  maxWorkers: 2,
};
