/**
 * What a person sees while a loop runs: a bar on a terminal, one line rewritten in place in a notebook,
 * a line every few seconds in a log, or nothing.
 */
import { SingleBar } from 'cli-progress';

/** Running figures of a phase (an epoch or an evaluation). */
export interface ProgressInfo {
  /** Mean loss so far in the phase. */
  loss: number;
  /** Accuracy so far in the phase, in [0, 1]. */
  acc: number;
  /** Samples processed so far in the phase. */
  samples: number;
}

/** Receives a loop's progress; the loop calls start, update for every step, then stop. */
export interface Progress {
  start(label: string, totalSteps: number): void;
  update(doneSteps: number, info: ProgressInfo): void;
  /** End of the phase; `summary` is one line worth keeping in a log. */
  stop(summary: string): void;
}

/**
 * Ways to show progress. 'notebook': one line rewritten in place with a carriage return (Jupyter draws it as
 * an overwrite). 'auto': 'notebook' inside the tslab kernel, 'bar' on a TTY, else 'lines'.
 */
export type ProgressKind = 'auto' | 'bar' | 'lines' | 'notebook' | 'silent';

/** Options of the visible kinds. */
export interface ProgressOptions {
  /**
   * Where to write. Default process.stdout inside the tslab kernel (Jupyter shows stderr as error boxes),
   * else process.stderr (so that the CLI's stdout stays free for --json).
   */
  stream?: NodeJS.WritableStream;
  /** 'lines' and 'notebook': minimum milliseconds between updates after the first. Default 5000 ('lines'), 1000 ('notebook'). */
  intervalMs?: number;
}

/**
 * Whether this process is the tslab Jupyter kernel running a cell: tslab's jupyter module is loaded and has a cell's
 * display hook (set for each execution; a script that merely requires tslab has none).
 * @example if (inTslabKernel()) console.log('in a notebook');
 */
export function inTslabKernel(): boolean {
  return Object.entries(require.cache).some(([file, m]) =>
    /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file) && (m?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData != null);
}

const defaultStream = (o: ProgressOptions): NodeJS.WritableStream => o.stream ?? (inTslabKernel() ? process.stdout : process.stderr);

const fmt = {
  rate: (samples: number, ms: number) => (ms > 0 ? Math.round((samples * 1000) / ms) : 0),
  pct: (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "-"),
  time: (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`),
};

/** A loop that reports nothing (tests, library calls). */
function silent(): Progress {
  return { start: () => {}, update: () => {}, stop: () => {} };
}

/** A cli-progress bar, redrawn in place; for terminals. */
function bar(o: ProgressOptions): Progress {
  const stream = defaultStream(o);
  let b: SingleBar | undefined;
  let t0 = 0;
  return {
    start(label, total) {
      t0 = Date.now();
      b = new SingleBar({
        stream,
        format: `${label} [{bar}] {value}/{total} | {rate} samples/s | loss {loss} | acc {acc} | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
      });
      b.start(total, 0, { rate: 0, loss: '-', acc: '-' });
    },
    update(done, info) {
      b?.update(done, { rate: fmt.rate(info.samples, Date.now() - t0), loss: info.loss.toFixed(4), acc: fmt.pct(info.acc) });
    },
    stop(summary) {
      b?.stop();
      b = undefined;
      stream.write(`${summary}\n`);
    },
  };
}

/** The text of a phase's states, and whether an update is worth drawing (the first, the last, one per `interval` ms). */
function phase(interval: number) {
  let [name, total, t0, last] = ['', 0, 0, -Infinity];
  return {
    start(label: string, totalSteps: number) {
      [name, total, t0, last] = [label, totalSteps, Date.now(), -Infinity];
    },
    due(done: number): boolean {
      const now = Date.now();
      if (now - last < interval && done < total) return false;
      last = now;
      return true;
    },
    /** The state after `done` steps: the time left while running, the time taken once done or `final`. */
    line(done: number, info: ProgressInfo, final = done >= total): string {
      const ms = Date.now() - t0;
      const eta = (ms / 1000) * (total / Math.max(done, 1) - 1);
      return `${name} ${done}/${total} (${fmt.pct(done / total)}) | ${fmt.rate(info.samples, ms)} samples/s | ` +
        `loss ${info.loss.toFixed(4)} | acc ${fmt.pct(info.acc)} | ${final ? `took ${fmt.time(ms / 1000)}` : `ETA ${fmt.time(eta)}`}`;
    },
  };
}

/** One compact line at the first step, every `intervalMs` and at the last step, then the summary; for CI logs. */
function lines(o: ProgressOptions): Progress {
  const stream = defaultStream(o);
  const p = phase(o.intervalMs ?? 5000);
  return {
    start: (label, total) => p.start(label, total),
    update(done, info) {
      if (p.due(done)) stream.write(`${p.line(done, info)}\n`);
    },
    stop: (summary) => void stream.write(`${summary}\n`),
  };
}

/**
 * One line rewritten in place ('\r' before each state; Jupyter and terminals draw it as an overwrite), ending with
 * the time taken, then the summary on its own line; for notebooks.
 */
function notebook(o: ProgressOptions): Progress {
  const stream = defaultStream(o);
  const p = phase(o.intervalMs ?? 1000);
  let [shown, width, total] = ['', 0, 0];
  let last: [number, ProgressInfo] | undefined;
  let finalShown = false; // the last step drawn was the last of the phase: the line already says the time taken
  const draw = (text: string) => {
    stream.write(`${shown ? '\r' : ''}${text.padEnd(width)}`); // pad over a longer previous state on a terminal
    [shown, width] = [text, Math.max(width, text.length)];
  };
  return {
    start(label, steps) {
      p.start(label, steps);
      [shown, width, total, last, finalShown] = ['', 0, steps, undefined, false];
      draw(`${label} 0/${steps}`);
    },
    update(done, info) {
      last = [done, info];
      finalShown = false;
      if (p.due(done)) {
        draw(p.line(done, info));
        finalShown = done >= total;
      }
    },
    stop(summary) {
      // stopped early or between drawn states: end on the last step reached, with the time taken
      if (last && !finalShown) draw(p.line(...last, true));
      stream.write(`\n${summary}\n`);
    },
  };
}

const kinds: Record<ProgressKind, (o: ProgressOptions) => Progress> = {
  auto: (o) => {
    if (o.stream === undefined && inTslabKernel()) return notebook(o);
    return (defaultStream(o) as NodeJS.WriteStream).isTTY ? bar(o) : lines(o);
  },
  bar,
  lines,
  notebook,
  silent,
};

/**
 * A progress reporter of the given kind.
 * @example fit(model, train, {progress: progress('lines', {intervalMs: 2000})});
 */
export function progress(kind: ProgressKind = 'auto', options: ProgressOptions = {}): Progress {
  if (!(kind in kinds)) throw new Error(`unknown progress kind '${kind}'; valid: ${Object.keys(kinds).join(', ')}`);
  if (options.intervalMs !== undefined && !(options.intervalMs >= 0)) throw new Error(`progress intervalMs must be a number >= 0, got ${options.intervalMs}`);
  return kinds[kind](options);
}
