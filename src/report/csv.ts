import {promises as fs} from 'fs';
import * as path from 'path';
import type {DataFrame} from 'danfojs-node';

// RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes; NaN / null as an empty field.
const field = (v: unknown): string => {
  const s = v === null || v === undefined || Number.isNaN(v) ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * The DataFrame as CSV text (header line, then one line per row, "\n" line ends).
 * @example toCsv(pruningLog(report.rows)).split('\n')[0] // 'step,loss,space,...'
 */
export function toCsv(df: DataFrame): string {
  const lines = [df.columns, ...(df.values as unknown[][])].map((row) => row.map(field).join(','));
  return `${lines.join('\n')}\n`;
}

/**
 * Write the DataFrame as CSV through a temp file and a rename, so a reader never sees half a file.
 * @example await writeCsv(layerTable(before, after), 'runs/tour/layers.csv');
 */
export async function writeCsv(df: DataFrame, file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), {recursive: true});
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  await fs.writeFile(tmp, toCsv(df));
  await fs.rename(tmp, file);
}
