/** Parsers of the CLI's option values, each naming its option and what is valid in the error. */
import {kindText, NumberKind, numberOption} from '../train/validate';

/**
 * Parse "a,b,c" into numbers (exactly n when given), naming the option in the error.
 * @example numbers('--mean', 3)('0.5,0.4,0.3') // [0.5, 0.4, 0.3]
 */
export function numbers(name: string, n?: number, kind: NumberKind = 'finite'): (s: string) => number[] {
  const one = numberOption(name, kind);
  return (s) => {
    const parts = s.split(',');
    if (n !== undefined && parts.length !== n) throw new Error(`${name} "${s}": expected ${n} numbers separated by commas`);
    return parts.map((x) => {
      try {
        return one(x);
      } catch {
        throw new Error(`${name} "${s}": expected ${n ?? 'some'} numbers separated by commas, each ${kindText(kind)}`);
      }
    });
  };
}

/** Parse "28,28,1" into a shape. */
export function parseShape(s: string): [number, number, number] {
  const v = s.split(',').map(Number);
  if (v.length !== 3 || v.some((d) => !Number.isInteger(d) || d <= 0)) throw new Error(`--input-shape "${s}": expected three positive integers like 28,28,1`);
  return v as [number, number, number];
}

/** Parse a positive integer option, naming it in the error. */
export const int = (name: string): ((s: string) => number) => numberOption(name, 'count');

/** Parse a number option of the given kind (default: any finite number), naming it and what is valid in the error. */
export const num = (name: string, kind: NumberKind = 'finite'): ((s: string) => number) => numberOption(name, kind);
