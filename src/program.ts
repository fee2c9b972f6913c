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
        '  $ mte-sim check board.dts            # what the kernel makes of its tag storage nodes\n' +
        '  $ mte-sim run scenarios/01-tagged-first-touch.scn --check\n' +
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

  program
    .command('boot')
    .description('boot a device tree (default: the bundled FVP MTE platform); print dmesg, a summary and /proc files')
    .argument('[dt]', 'device tree (DTS or DTB); default dts/fvp-base-revc-mte.dts')
    .option(
      '--show <list>',
      'after booting print these, comma-separated: dmesg,meminfo,vmstat,buddyinfo,pagetypeinfo,zoneinfo,iomem (or all)',
    )
    .option('--cmdline <string>', 'kernel command line (overrides /chosen/bootargs), e.g. "arm64.nomte"')
    .option('--page-size <size>', 'page size: 4K, 16K or 64K', '4K')
    .option('-I, --include <dir>', 'add an include directory for #include and /include/ (repeatable)', collect, [])
    .option('-D, --define <name[=value]>', 'define a preprocessor macro (repeatable)', collect, [])
    .option('--proc-dir <dir>', 'also write meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo, iomem and dmesg there')
    .option('--kernel-image <size>', 'size of the kernel image (_text.._end), e.g. 32M', '32M')
    .option('--min-free-kbytes <n>', 'set vm.min_free_kbytes after boot (like the sysctl)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ mte-sim boot                                   # the bundled FVP Base RevC with tag storage\n' +
        '  $ mte-sim boot --show meminfo,buddyinfo\n' +
        '  $ mte-sim boot board.dts -I include --cmdline "arm64.nomte" --page-size 64K\n' +
        '  $ mte-sim boot --proc-dir out/ --json > boot.json\n',
    )
    .action(async (dt: string | undefined, opts: Record<string, unknown>) => {
      const { bootCommand } = await import('./commands/boot.js');
      const code = await bootCommand({
        ...(dt !== undefined ? { dt } : {}),
        ...(opts as { include: string[]; define: string[] }),
        globals: globals(),
        sinks,
      });
      if (code !== 0) throw new ExitError(code);
    });

  program
    .command('run')
    .description('boot, then run scenario files (.scn, see README); print the log, what they show, and failed expects')
    .argument('<scenario...>', 'scenario files (.scn), run in order on one machine')
    .option('--dt <file>', "device tree to boot (default: the first scenario's boot line, else the bundled FVP)")
    .option('--seed <n>', 'seed for race schedules (default: config seed, else 1)')
    .option('--check', 'verify every SPEC §5 invariant after every step; a violation fails the run', false)
    .option(
      '--proc-dir <dir>',
      'write meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo, iomem and dmesg there at the end',
    )
    .option('--cmdline <string>', 'kernel command line (overrides /chosen/bootargs and config cmdline)')
    .option('--page-size <size>', 'page size: 4K, 16K or 64K (overrides config page_size)')
    .option('-I, --include <dir>', 'add an include directory for the device tree (repeatable)', collect, [])
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ mte-sim run scenarios/01-tagged-first-touch.scn --check\n' +
        '  $ mte-sim run a.scn b.scn --dt board.dts --seed 7 --proc-dir out/\n' +
        '  $ mte-sim run race.scn --json > result.json\n',
    )
    .action(async (scenarios: string[], opts: Record<string, unknown>) => {
      const { runCommand } = await import('./commands/run.js');
      const code = await runCommand({
        scenarios,
        check: opts['check'] === true,
        include: (opts['include'] as string[] | undefined) ?? [],
        ...(typeof opts['dt'] === 'string' ? { dt: opts['dt'] } : {}),
        ...(typeof opts['seed'] === 'string' ? { seed: opts['seed'] } : {}),
        ...(typeof opts['procDir'] === 'string' ? { procDir: opts['procDir'] } : {}),
        ...(typeof opts['cmdline'] === 'string' ? { cmdline: opts['cmdline'] } : {}),
        ...(typeof opts['pageSize'] === 'string' ? { pageSize: opts['pageSize'] } : {}),
        globals: globals(),
        sinks,
      });
      if (code !== 0) throw new ExitError(code);
    });

  program
    .command('check')
    .description('apply every rule the v1 kernel applies to tag storage nodes; explain each finding')
    .argument('[dt]', 'device tree (DTS or DTB)')
    .option('-I, --include <dir>', 'add an include directory for #include and /include/ (repeatable)', collect, [])
    .option('-D, --define <name[=value]>', 'define a preprocessor macro (repeatable)', collect, [])
    .option('--cmdline <string>', 'kernel command line (overrides /chosen/bootargs), e.g. "arm64.nomte"')
    .option('--page-size <size>', 'page size: 4K, 16K or 64K', '4K')
    .option('--list-rules', 'print the rules (kernel checks and mte-sim warnings) and exit', false)
    .addHelpText(
      'after',
      '\nExit status: 0 tag storage would be enabled, 1 it would not, 2 the file cannot be parsed.\n' +
        '\nExamples:\n' +
        '  $ mte-sim check board.dts -I include\n' +
        '  $ mte-sim check dts/examples/not-pageblock-aligned.dts\n' +
        '  $ mte-sim check board.dtb --page-size 64K --json\n' +
        '  $ mte-sim check --list-rules\n',
    )
    .action(async (dt: string | undefined, opts: Record<string, unknown>) => {
      const { checkCommand } = await import('./commands/check.js');
      const code = await checkCommand({
        ...(dt !== undefined ? { dt } : {}),
        include: (opts['include'] as string[] | undefined) ?? [],
        define: (opts['define'] as string[] | undefined) ?? [],
        ...(typeof opts['cmdline'] === 'string' ? { cmdline: opts['cmdline'] } : {}),
        ...(typeof opts['pageSize'] === 'string' ? { pageSize: opts['pageSize'] } : {}),
        listRules: opts['listRules'] === true,
        globals: globals(),
        sinks,
      });
      if (code !== 0) throw new ExitError(code);
    });

  program
    .command('bench')
    .description('run the built-in benchmarks (boot, dt, mm, fault, migrate, swap) and print their rates')
    .argument('[name...]', 'only the benchmarks whose name contains one of these')
    .addHelpText(
      'after',
      '\nExamples:\n  $ mte-sim bench              # everything (also: npm run bench)\n  $ mte-sim bench fault swap\n',
    )
    .action(async (names: string[]) => {
      const { benchCommand } = await import('./commands/bench.js');
      const code = await benchCommand({ names, sinks });
      if (code !== 0) throw new ExitError(code);
    });

  return program;
}
