import type {DataFrame} from 'danfojs-node';
import {escapeHtml, HtmlSink, tslabDisplay} from '../viz/figure';

// Numbers with at most 4 significant digits (integers whole), NaN as an empty cell.
const cell = (v: unknown): string =>
  typeof v === 'number' ? (Number.isNaN(v) ? '' : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))) : escapeHtml(String(v ?? ''));

/**
 * The DataFrame as an HTML <table> (numbers right-aligned), for a notebook or a report page.
 * @example fs.writeFileSync('layers.html', tableHtml(layerTable(countCosts(model))));
 */
export function tableHtml(df: DataFrame): string {
  const head = df.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = (df.values as unknown[][]).map((row) =>
    `<tr>${row.map((v) => `<td${typeof v === 'number' ? ' style="text-align:right"' : ''}>${cell(v)}</td>`).join('')}</tr>`);
  return `<table class="gfp-table">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body.join('\n')}\n</tbody>\n</table>`;
}

/**
 * Display the DataFrame as a table in a tslab notebook (or into `display`).
 * @example showTable(pruningLog(report.rows));
 */
export function showTable(df: DataFrame, opts: {display?: HtmlSink} = {}): void {
  (opts.display ?? tslabDisplay()).html(tableHtml(df));
}
