/**
 * Declares the commands with commander and nothing else: each action normalises its options and
 * lazily imports `./commands/<verb>.js`, which does the work and returns; printing and exit codes
 * are decided there and in cli.ts. A fresh Command per call, so tests can drive it in-process.
 */
import { Command, Option } from 'commander';
import { version } from './version.js';
import type { Sinks } from './io.js';
import { processSinks } from './io.js';
import { ExitError } from './errors.js';

export interface GlobalOptions {
  json: boolean;
  color: boolean;
  quiet: boolean;
  verbose: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function buildProgram(sinks: Sinks = processSinks): Command {
  const program = new Command();
  program
    .name('mte-sim')
    .description(
      'Emulates the Linux memory manager with Arm MTE dynamic tag storage reuse (the v1 RFC series):\n' +
        'boots a device tree, runs workload scenarios, prints dmesg and /proc files as the kernel would.',
    )
    .version(version())
    .option('--json', 'machine-readable output on stdout', false)
    .option('--no-color', 'no colour (also NO_COLOR=1, or when stdout is not a terminal)')
    .option('-q, --quiet', 'print less', false)
    .option('-v, --verbose', 'print more', false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => sinks.out(s), writeErr: (s) => sinks.err(s) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ mte-sim boot                       # boot the bundled FVP device tree\n' +
        '  $ mte-sim dt board.dts --format dtb -o board.dtb\n',
    );

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();

  program
    .command('dt')
    .description('device tree tool: read DTS (preprocessed like the kernel build) or DTB, write dts/dtb/json/yaml')
    .argument('<file>', 'input file (DTS or DTB, detected by the FDT magic), or - for stdin')
    .option('-I, --include <dir>', 'add an include directory for #include and /include/ (repeatable)', collect, [])
    .option('-D, --define <name[=value]>', 'define a preprocessor macro (repeatable)', collect, [])
    .addOption(
      new Option('-f, --format <format>', 'output format').choices(['dts', 'dtb', 'json', 'yaml']).default('dts'),
    )
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ mte-sim dt fvp-base-revc.dts -I include --format dtb -o fvp.dtb\n' +
        '  $ mte-sim dt fvp.dtb                          # decompile, like dtc -I dtb -O dts\n' +
        '  $ cpp -P board.dts | mte-sim dt - --format yaml\n',
    )
    .action(async (file: string, opts: { include: string[]; define: string[]; format: string; output?: string }) => {
      const { dtCommand } = await import('./commands/dt.js');
      const code = await dtCommand({ file, ...opts, globals: globals(), sinks });
      if (code !== 0) throw new ExitError(code);
    });

  return program;
}
