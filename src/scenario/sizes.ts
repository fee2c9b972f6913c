/**
 * Size and number literals of the scenario language (SPEC §6): plain decimal bytes, `0x` hex, and the
 * binary suffixes K, M, G, T (powers of two, upper or lower case): `4K` = 4096, `0x10M` = 16 MiB.
 * Values are checked exactly (BigInt) so that an overflow is an error, never a silently rounded double.
 */

import { InputError, type SrcPos } from '../errors.js';

/** The largest value a literal may have: every figure stays an exact JS integer. */
export const MAX_LITERAL = BigInt(Number.MAX_SAFE_INTEGER);

const SUFFIX_SHIFT: Readonly<Record<string, bigint>> = { k: 10n, m: 20n, g: 30n, t: 40n };

export type SizeParse = { ok: true; value: number; suffixed: boolean } | { ok: false; message: string };

/**
 * Parses one number token such as `4096`, `0x1000`, `4K`, `2m`. Returns a message (not an exception) so the
 * caller can attach the token's position.
 */
export function parseSizeText(text: string): SizeParse {
  const m = /^(0[xX][0-9a-fA-F]+|[0-9]+)([kKmMgGtT])?$/.exec(text);
  if (m === null) {
    if (/^0[xX]$/.test(text)) return { ok: false, message: `bad number '${text}': no digits after 0x` };
    return { ok: false, message: `bad number '${text}' (expected bytes, 0x hex, or a K/M/G suffix)` };
  }
  const digits = m[1] as string;
  if (/^0[0-9]+$/.test(digits)) {
    // A leading zero would mean octal to a C reader; refuse rather than guess.
    return { ok: false, message: `bad number '${text}': leading zero (use decimal or 0x hex)` };
  }
  let v = BigInt(digits);
  const suffix = m[2];
  if (suffix !== undefined) v <<= SUFFIX_SHIFT[suffix.toLowerCase()] as bigint;
  if (v > MAX_LITERAL) return { ok: false, message: `number '${text}' is too large (at most 2^53-1)` };
  return { ok: true, value: Number(v), suffixed: suffix !== undefined };
}

/** As parseSizeText, throwing InputError at `pos`. */
export function parseSize(text: string, pos: SrcPos): number {
  const r = parseSizeText(text);
  if (!r.ok) throw new InputError(r.message, pos);
  return r.value;
}

/** Human form of a byte count for messages: `4K`, `2M`, `1G` when exact, else hex. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return String(bytes);
  const units: [number, string][] = [
    [2 ** 40, 'T'],
    [2 ** 30, 'G'],
    [2 ** 20, 'M'],
    [2 ** 10, 'K'],
  ];
  for (const [unit, name] of units) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${name}`;
  }
  return `0x${bytes.toString(16)}`;
}

/** Page sizes arm64 supports (`config page_size=`, `--page-size`). */
export const PAGE_SIZES: readonly number[] = [4096, 16384, 65536];

/** Default page size (SPEC §3). */
export const DEFAULT_PAGE_SIZE = 4096;

/** MTE tag granule in bytes (kernel-facts §7.1, MTE_GRANULE_SIZE). */
export const MTE_GRANULE_SIZE = 16;

/** arm64 user address space with VA_BITS=48: no single mapping can be larger. */
export const MAX_MAPPING_SIZE = 2 ** 48;
