/**
 * The kernel command line, parsed as init/main.c and kernel/params.c (v6.5) parse it: next_arg() splits
 * words (double quotes group, `param=value`), `--` ends the kernel's part, early_param()s are applied by
 * parse_early_param() in setup_arch, and whatever no __setup/early_param knows and has no `.` (module
 * parameters) is handed to init — argv for bare words, envp for `name=value` — and reported by
 * print_unknown_bootoptions():
 *   `Unknown kernel command line parameters "%s", will be passed to user space.`
 *
 * What mte-sim models: `arm64.nomte` (id_aa64pfr1.mte=0 override: system_supports_mte() is false),
 * `kasan=on|off` (mm/kasan/hw_tags.c early_param; the emulated kernel has CONFIG_KASAN_HW_TAGS but KASAN
 * off unless `kasan=on`, a documented choice shared with src/arch/arm64/mte_tag_storage.ts mteFromCmdline;
 * hardware tags need MTE, so `arm64.nomte` leaves KASAN off),
 * `mem=` (arch/arm64/mm/init.c early_mem). Other parameters the kernel knows are accepted and ignored.
 */
export interface CmdlineParam {
  readonly name: string;
  /** undefined for a bare word (`quiet`), '' for `name=`. */
  readonly value?: string;
}

export interface KernelCmdline {
  /** The command line as the kernel saved it (saved_command_line). */
  readonly text: string;
  readonly params: readonly CmdlineParam[];
  /** `arm64.nomte` given. */
  readonly nomte: boolean;
  /** The last `kasan=` value (on/off), if any. */
  readonly kasan?: string;
  /** memory_limit from `mem=` (memparse, PAGE_MASK applied by boot), bytes; undefined when absent. */
  readonly memLimit?: number;
  /** `mem=` values as written, for the `Memory limited to` notice (one per occurrence, like the kernel). */
  readonly memArgs: readonly string[];
  /**
   * `cma=size[@base[-limit]]` (kernel/dma/contiguous.c early_cma; the last one wins): bytes, base 0 and limit 0
   * when not given (base + size when only a base is given).
   */
  readonly cma?: { readonly size: number; readonly base: number; readonly limit: number };
  /** Parameters passed to init (argv, then envp), for print_unknown_bootoptions. */
  readonly unknown: readonly string[];
  /** Arguments after `--` (init's own). */
  readonly afterDashes: readonly string[];
  /** Lines the __setup handlers print while parse_args() runs (after `Kernel command line:`). */
  readonly setupMessages: readonly { level: 'warning' | 'info'; text: string }[];
}

/**
 * Parameters a v6.5 arm64 defconfig kernel knows by these names (__setup / early_param, plus sysctl
 * aliases). A curated list of the common ones: anything else is treated as unknown.
 */
const KNOWN = new Set([
  'acpi',
  'arm64.nobti',
  'cgroup_disable',
  'cgroup_enable',
  'cgroup_no_v1',
  'cma',
  'coherent_pool',
  'console',
  'consoleblank',
  'crashkernel',
  'debug',
  'default_hugepagesz',
  'earlycon',
  'earlyprintk',
  'efi',
  'hugepages',
  'hugepagesz',
  'ignore_loglevel',
  'init',
  'initcall_debug',
  'initrd',
  'ip',
  'irqaffinity',
  'isolcpus',
  'kasan',
  'kaslr',
  'keep_bootcon',
  'kernelcore',
  'kfence',
  'loglevel',
  'lpj',
  'maxcpus',
  'mem',
  'memblock',
  'memtest',
  'mitigations',
  'movablecore',
  'nfsroot',
  'nokaslr',
  'noinitrd',
  'norandmaps',
  'nosmp',
  'nr_cpus',
  'numa',
  'nosoftlockup',
  'nowatchdog',
  'page_alloc.shuffle',
  'panic',
  'quiet',
  'rdinit',
  'ro',
  'root',
  'rootdelay',
  'rootflags',
  'rootfstype',
  'rootwait',
  'rw',
  'swiotlb',
  'transparent_hugepage',
  'video',
  'vmalloc',
  'init_on_alloc',
  'init_on_free',
  'page_owner',
  'slub_debug',
  'slab_nomerge',
  'cpuidle.off',
  'sysctl',
  'nohz',
  'nohz_full',
  'rcu_nocbs',
  'audit',
  'selinux',
  'apparmor',
  'security',
  'lsm',
  'fw_devlink',
  'clk_ignore_unused',
  'pd_ignore_unused',
  'earlyprintk',
  'log_buf_len',
  'printk.time',
  'stack_guard_gap',
]);

/** __setup() names that only match with a value (`name=`), e.g. __setup("swapaccount=", ...). */
const SETUP_WITH_VALUE = new Set(['swapaccount']);

/** memparse(): a number (0x, 0 octal, decimal) with an optional K/M/G/T/P/E suffix (binary). */
export function memparse(s: string): number | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtTpPeE]?)/.exec(s);
  if (!m) return undefined;
  const digits = m[1]!;
  let v: number;
  if (/^0[xX]/.test(digits)) v = parseInt(digits.slice(2), 16);
  else if (digits.length > 1 && digits.startsWith('0')) v = parseInt(digits.slice(1), 8);
  else v = parseInt(digits, 10);
  const shift = { '': 0, k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 }[m[2]!.toLowerCase()] ?? 0;
  return v * 2 ** shift;
}

/** kernel/params.c next_arg(): one word, honouring double quotes; returns the rest of the line too. */
function nextArg(s: string): { param: string; value?: string; rest: string } {
  let i = 0;
  let inQuote = false;
  let equals = -1;
  let quoted = false;
  if (s[0] === '"') {
    i = 1;
    inQuote = true;
    quoted = true;
  }
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (/\s/.test(c) && !inQuote) break;
    if (equals < 0 && c === '=') equals = i;
    if (c === '"') inQuote = !inQuote;
  }
  const word = s.slice(quoted ? 1 : 0, i);
  const rest = s.slice(i).replace(/^\s+/, '');
  const eq = quoted ? equals - 1 : equals;
  if (eq < 0) return { param: word.replace(/"$/, ''), rest };
  const param = word.slice(0, eq);
  let value = word.slice(eq + 1);
  if (value.startsWith('"')) {
    value = value.slice(1);
    if (value.endsWith('"')) value = value.slice(0, -1);
  } else if (quoted && value.endsWith('"')) value = value.slice(0, -1);
  return { param, value, rest };
}

/** Splits and classifies a command line the way start_kernel() does. */
export function parseCmdline(text: string): KernelCmdline {
  const params: CmdlineParam[] = [];
  const argv: string[] = [];
  const envp: string[] = [];
  const afterDashes: string[] = [];
  const memArgs: string[] = [];
  const setupMessages: { level: 'warning' | 'info'; text: string }[] = [];
  let memLimit: number | undefined;
  let cma: KernelCmdline['cma'];
  let rest = text.replace(/^\s+/, '');
  let dashes = false;
  while (rest.length > 0) {
    const a = nextArg(rest);
    rest = a.rest;
    if (dashes) {
      afterDashes.push(a.value === undefined ? a.param : `${a.param}=${a.value}`);
      continue;
    }
    if (a.param === '--' && a.value === undefined) {
      dashes = true;
      continue;
    }
    const p: CmdlineParam = a.value === undefined ? { name: a.param } : { name: a.param, value: a.value };
    params.push(p);
    if (a.param === 'cma' && a.value !== undefined) {
      const m = /^([^@]*)(?:@([^-]*)(?:-(.*))?)?$/.exec(a.value)!;
      const size = memparse(m[1]!) ?? 0;
      const base = m[2] !== undefined ? (memparse(m[2]) ?? 0) : 0;
      const limit = m[3] !== undefined ? (memparse(m[3]) ?? 0) : m[2] !== undefined ? base + size : 0;
      cma = { size, base, limit };
    }
    if (a.param === 'mem' && a.value !== undefined) {
      memArgs.push(a.value);
      const v = memparse(a.value);
      if (v !== undefined) memLimit = v;
    }
    // unknown_bootoption(): names with '-' and '_' are equivalent (parameq); dotted names are module params.
    const norm = a.param.replace(/-/g, '_');
    if (SETUP_WITH_VALUE.has(norm) && a.value !== undefined) {
      // mm/memcontrol.c setup_swap_account() (v6.2+): pr_warn_once(...), return 1 (recognised).
      if (norm === 'swapaccount' && !setupMessages.some((m) => m.text.startsWith('The swapaccount='))) {
        setupMessages.push({
          level: 'warning',
          text:
            'The swapaccount= commandline option is deprecated. Please report your usecase to linux-mm@kvack.org ' +
            'if you depend on this functionality.',
        });
      }
      continue;
    }
    if (KNOWN.has(norm) || KNOWN.has(a.param) || a.param.includes('.')) continue;
    if (a.value === undefined) argv.push(a.param);
    else envp.push(`${a.param}=${a.value}`);
  }
  // arm64.nomte is an alias of id_aa64pfr1.mte=0 (arch/arm64/kernel/idreg-override.c).
  const nomte = params.some((p) => p.name === 'arm64.nomte' || (p.name === 'id_aa64pfr1.mte' && p.value === '0'));
  let kasan: string | undefined;
  for (const p of params) if (p.name === 'kasan' && p.value !== undefined) kasan = p.value;
  const out: KernelCmdline = {
    text,
    params,
    nomte,
    memArgs,
    unknown: [...argv, ...envp],
    afterDashes,
    setupMessages,
    ...(cma !== undefined ? { cma } : {}),
    ...(kasan !== undefined ? { kasan } : {}),
    ...(memLimit !== undefined ? { memLimit } : {}),
  };
  return out;
}

/** The print_unknown_bootoptions() line, or undefined when init gets nothing extra. */
export function unknownParamsLine(c: KernelCmdline): string | undefined {
  if (c.unknown.length === 0) return undefined;
  return `Unknown kernel command line parameters "${c.unknown.join(' ')}", will be passed to user space.`;
}
