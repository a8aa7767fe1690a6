/** What the notebook tests share: executing a notebook through Jupyter and the tslab kernel, and what counts as a failure. */
import {execFile} from 'child_process';
import {readFileSync} from 'fs';
import {basename, join} from 'path';
import {promisify} from 'util';
import {packageRoot} from '../src/data';

const run = promisify(execFile);

export interface Output { output_type: string; name?: string; text?: string | string[]; ename?: string; evalue?: string }
export interface Cell {
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  metadata?: {execution?: Record<string, string>};
  outputs?: Output[];
}

export const joined = (s: string | string[] | undefined): string => [s ?? ''].flat().join('');

/** stderr text that reads as an error: a tslab compile diagnostic ('1:7 - Type ...') or an error word. */
const errorText = /^(\S+ )?\d+:\d+ - |\b(error|exception|fail(ed|ure|s)?|cannot|unable|unhandled|uncaught|invalid)\b/im;

/**
 * Everything that says a notebook did not run cleanly, one entry per problem: error outputs (kernel exceptions; tslab
 * compile errors and cells it aborted, as kernel-setup/nbconvert_config.py records them), code cells that never ran
 * (no execution count and no execute reply recorded), and stderr text that reads as an error.
 * @example assert.deepEqual(notebookProblems(cells), []);
 */
export function notebookProblems(cells: Cell[]): string[] {
  return cells.flatMap((cell, i) => {
    if (cell.cell_type !== 'code' || !joined(cell.source).trim()) return [];
    const where = `cell ${i} (${joined(cell.source).split('\n')[0].slice(0, 80)})`;
    const ran = typeof cell.execution_count === 'number' || cell.metadata?.execution?.['shell.execute_reply'] !== undefined;
    const outputs = cell.outputs ?? [];
    return [
      ...(ran ? [] : [`${where} did not run`]),
      ...outputs.filter((o) => o.output_type === 'error').map((o) => `${where} raised ${o.ename}: ${o.evalue}`),
      ...outputs.filter((o) => o.name === 'stderr' && errorText.test(joined(o.text))).map((o) => `${where} wrote an error on stderr: ${joined(o.text).trim()}`),
    ];
  });
}

/**
 * Execute `notebook` headless (the kernel starts in its folder) into `outDir`; returns the executed cells.
 * The config records tslab's failed and aborted cells as error outputs; --allow-errors runs every cell.
 * @example const cells = await executeNotebook('notebooks/00_tour.ipynb', dir, env);
 */
export async function executeNotebook(notebook: string, outDir: string, env: NodeJS.ProcessEnv, timeoutS = 240): Promise<Cell[]> {
  await run('jupyter', ['nbconvert', '--config', join(packageRoot(), 'kernel-setup', 'nbconvert_config.py'), '--to', 'notebook', '--execute',
    '--allow-errors', `--ExecutePreprocessor.timeout=${timeoutS}`, '--output-dir', outDir, notebook], {env, maxBuffer: 1 << 26});
  return JSON.parse(readFileSync(join(outDir, basename(notebook)), 'utf8')).cells;
}

/**
 * A notebook for the tslab kernel with one code cell per source.
 * @example writeFileSync('t.ipynb', tslabNotebook(['console.log(1);']));
 */
export function tslabNotebook(sources: string[]): string {
  return JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: {kernelspec: {name: 'tslab', display_name: 'TypeScript', language: 'typescript'}},
    cells: sources.map((source, i) => ({cell_type: 'code', id: `cell-${i}`, metadata: {}, execution_count: null, outputs: [], source})),
  });
}
