/** Progress reporters: what each kind writes, where 'auto' writes inside the tslab kernel, and that short runs show a line. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { inTslabKernel, progress, ProgressInfo } from '../src/train/progress';

/** A stream that keeps what is written, one entry per write. */
function sink() {
  const writes: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (writes.push(String(chunk)), done()) });
  return { stream, writes, text: () => writes.join('') };
}

/** Text as Jupyter's output area shows it: on each line, a carriage return overwrites what came before it. */
const rendered = (text: string): string[] => text.split('\n').map((l) => l.slice(l.lastIndexOf('\r') + 1));

const info = (step: number): ProgressInfo => ({ loss: 1 / step, acc: 0.5, samples: 64 * step });

/** Runs a phase of `steps` steps through `p` as the training loop does. */
function phase(p: ReturnType<typeof progress>, steps: number, label = 'epoch 1/1') {
  p.start(label, steps);
  for (let s = 1; s <= steps; s++) p.update(s, info(s));
  p.stop(`${label}: done`);
}

/** Makes this process look like the tslab kernel running a cell (as tslab's jupyter module does) while `f` runs. */
function asTslabKernel<T>(f: () => T, displayHook: unknown = () => {}): T {
  const file = '/somewhere/node_modules/tslab/dist/jupyter.js';
  require.cache[file] = { exports: { lastWriteDisplayData: displayHook } } as unknown as NodeJS.Module;
  try {
    return f();
  } finally {
    delete require.cache[file];
  }
}

/** Captures process.stdout and process.stderr writes while `f` runs. */
function captured(f: () => void): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  const saved = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((s: string) => ((out.stdout += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((out.stderr += s), true)) as typeof process.stderr.write;
  try {
    f();
  } finally {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
  }
  return out;
}

describe('progress', () => {
  it("'notebook' draws one line that moves, then the summary", () => {
    const s = sink();
    phase(progress('notebook', { stream: s.stream, intervalMs: 60_000 }), 200);
    // the label at start, the first step, the last step: three states of one line, not 200
    assert.equal(s.writes.length, 4);
    assert.equal(s.text().split('\r').length, 3);
    const [line, summary, end, ...rest] = rendered(s.text());
    assert.match(line, /^epoch 1\/1 200\/200 \(100\.0%\) \| \d+ samples\/s \| loss 0\.0050 \| acc 50\.0% \| took \d+s\s*$/);
    assert.deepEqual([summary, end, rest], ['epoch 1/1: done', '', []]);
  });

  it("'notebook' shows the label before the first step, and each phase on its own line", () => {
    const s = sink();
    const p = progress('notebook', { stream: s.stream });
    p.start('scoring', 3);
    assert.equal(s.text(), 'scoring 0/3');
    p.stop('scored nothing');
    phase(p, 2, 'epoch 2/2');
    assert.deepEqual(rendered(s.text()).map((l) => l.split(' |')[0].trimEnd()),
      ['scoring 0/3', 'scored nothing', 'epoch 2/2 2/2 (100.0%)', 'epoch 2/2: done', '']);
  });

  it("'notebook' stopped early (or between drawn states) ends on the last step reached, with the time taken", () => {
    const s = sink();
    const p = progress('notebook', { stream: s.stream, intervalMs: 60_000 });
    p.start('pruning, epoch 2', 8);
    p.update(1, info(1));
    assert.match(s.text().split('\r').pop()!, /^pruning, epoch 2 1\/8 .* \| ETA \d+s$/, 'running: the time left');
    p.update(2, info(2));
    p.stop('pruned to 47.1% of the FLOPs');
    assert.deepEqual(rendered(s.text()).map((l) => l.replace(/ \| \d+ samples\/s/, '').replace(/took \d+s\s*$/, 'took Ns')),
      ['pruning, epoch 2 2/8 (25.0%) | loss 0.5000 | acc 50.0% | took Ns', 'pruned to 47.1% of the FLOPs', '']);
  });

  it("'lines' writes the first step at once (short runs show progress), then one line per interval and the last", () => {
    const s = sink();
    phase(progress('lines', { stream: s.stream, intervalMs: 60_000 }), 50);
    const lines = s.text().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' |')[0]), ['epoch 1/1 1/50 (2.0%)', 'epoch 1/1 50/50 (100.0%)', 'epoch 1/1: done', '']);
    assert.ok(!s.text().includes('\r'), 'no carriage returns in logs');
  });

  it("'auto' inside the tslab kernel writes one moving line on stdout, nothing on stderr", () => {
    const out = captured(() => asTslabKernel(() => {
      assert.equal(inTslabKernel(), true);
      phase(progress('auto'), 30);
    }));
    assert.equal(out.stderr, '');
    assert.ok(out.stdout.includes('\r'), `one line rewritten in place: ${JSON.stringify(out.stdout)}`);
    assert.deepEqual(rendered(out.stdout).slice(1), ['epoch 1/1: done', '']);
  });

  it("'lines' and 'bar' without a stream write to stdout in the kernel, to stderr elsewhere (the CLI keeps stdout for --json)", () => {
    for (const kind of ['lines', 'bar'] as const) {
      const kernel = captured(() => asTslabKernel(() => phase(progress(kind), 2)));
      assert.match(kernel.stdout, /epoch 1\/1: done\n$/, kind);
      assert.equal(kernel.stderr, '', kind);
    }
    const script = captured(() => phase(progress('auto'), 2));
    assert.equal(script.stdout, '');
    assert.match(script.stderr, /^epoch 1\/1 1\/2 .*\nepoch 1\/1 2\/2 .*\nepoch 1\/1: done\n$/, 'a non-TTY stderr gets lines');
  });

  it('a script that merely loaded tslab is not the kernel', () => {
    assert.equal(inTslabKernel(), false);
    assert.equal(asTslabKernel(() => inTslabKernel(), null), false);
  });

  it('refuses an unknown kind and a bad interval, naming what is valid', () => {
    assert.throws(() => progress('fancy' as never), /unknown progress kind 'fancy'; valid: auto, bar, lines, notebook, silent/);
    assert.throws(() => progress('lines', { intervalMs: -1 }), /intervalMs must be a number >= 0, got -1/);
    const s = sink();
    phase(progress('silent', { stream: s.stream }), 5);
    assert.equal(s.text(), '');
  });
});
