// Plain-text tables for terminals and logs: padded columns, numbers right-aligned, no borders.

export type Cell = string | number;

/** Numbers as written in a table cell: '12', '-3.5', '1,024', and '-' for "none". */
const NUMERIC = /^(-|[-+]?\d[\d,]*(\.\d+)?)$/;

const GAP = '  ';

function cellText(c: Cell): string {
  return typeof c === 'number' ? String(c) : c;
}

/**
 * `header` and `rows` as lines of text (each ending in '\n'). A column whose cells are all
 * numbers (or '-') is right-aligned, header included; the others are left-aligned. Trailing
 * spaces are trimmed.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const texts = rows.map((r) => header.map((_, i) => cellText(r[i] ?? '')));
  const widths = header.map((h, i) => Math.max(h.length, ...texts.map((r) => r[i]!.length)));
  const right = header.map((_, i) => texts.length > 0 && texts.every((r) => NUMERIC.test(r[i]!)) && texts.some((r) => r[i] !== '-'));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(GAP).trimEnd() + '\n';
  return [header, ...texts].map(line).join('');
}

/** `key  value` lines with the values lined up, e.g. the head of `octoserve status`. */
export function formatFields(fields: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${k.padEnd(width)}${GAP}${cellText(v)}`.trimEnd() + '\n').join('');
}

/** `s` cut to `max` characters, ending in '…' when cut; newlines become spaces. */
export function truncate(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : flat.slice(0, Math.max(0, max - 1)) + '…';
}

/** A number with `digits` decimals, or '-' when it is not finite (no data). */
export function fixed(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}
