/** Checks of numeric options, shared by the API and the CLI, with errors that name the option and what is valid. */

/** What a numeric option may hold. */
export type NumberKind = 'count' | 'countOrZero' | 'integer' | 'positive' | 'nonNegative' | 'fraction' | 'openFraction' | 'decay' | 'finite' | 'port';

const kinds: Record<NumberKind, {valid: string; test: (v: number) => boolean}> = {
  count: {valid: 'a positive integer', test: (v) => Number.isInteger(v) && v >= 1},
  countOrZero: {valid: 'an integer >= 0', test: (v) => Number.isInteger(v) && v >= 0},
  integer: {valid: 'an integer', test: Number.isInteger},
  positive: {valid: 'a finite number > 0', test: (v) => Number.isFinite(v) && v > 0},
  nonNegative: {valid: 'a finite number >= 0', test: (v) => Number.isFinite(v) && v >= 0},
  fraction: {valid: 'a number in (0, 1]', test: (v) => v > 0 && v <= 1},
  openFraction: {valid: 'a number in (0, 1)', test: (v) => v > 0 && v < 1},
  decay: {valid: 'a number in [0, 1)', test: (v) => v >= 0 && v < 1},
  finite: {valid: 'a finite number', test: Number.isFinite},
  port: {valid: 'an integer in 1..65535', test: (v) => Number.isInteger(v) && v >= 1 && v <= 65535},
};

/**
 * What a kind allows, in words.
 * @example kindText('count') // 'a positive integer'
 */
export const kindText = (kind: NumberKind): string => kinds[kind].valid;

/**
 * `v` when it is a number of the given kind, else an error naming the option and what is valid.
 * @example checkNumber('fit({batchSize})', 0, 'count'); // throws "fit({batchSize}) must be a positive integer, got 0"
 */
export function checkNumber(name: string, v: unknown, kind: NumberKind): number {
  if (typeof v !== 'number' || !kinds[kind].test(v)) throw new Error(`${name} must be ${kinds[kind].valid}, got ${typeof v === 'string' ? `"${v}"` : v}`);
  return v;
}

/**
 * Check the options of `where` that are set (undefined ones take their defaults); `where` may name a nested option.
 * @example checkOptions('finetune', {lr: NaN}, {lr: 'nonNegative'}); // throws "finetune({lr}) must be a finite number >= 0, got NaN"
 */
export function checkOptions<T extends object>(where: string | ((key: string) => string), o: T, spec: {[K in keyof T]?: NumberKind}): void {
  for (const [k, kind] of Object.entries(spec) as [string, NumberKind][]) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) checkNumber(typeof where === 'string' ? `${where}({${k}})` : where(k), v, kind);
  }
}

/**
 * A CLI parser for a numeric option of the given kind, naming the flag and what is valid.
 * @example numberOption('--lr', 'positive')('-1'); // throws '--lr "-1": expected a finite number > 0'
 */
export function numberOption(flag: string, kind: NumberKind): (s: string) => number {
  return (s) => {
    const v = s.trim() === '' ? NaN : Number(s);
    if (!kinds[kind].test(v)) throw new Error(`${flag} "${s}": expected ${kinds[kind].valid}`);
    return v;
  };
}
