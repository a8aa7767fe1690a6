/** What a person sees while a loop runs: a bar on a terminal, a line every few seconds elsewhere, or nothing. */
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

/** Ways to show progress; 'auto' is 'bar' on a TTY stderr, else 'lines'. */
export type ProgressKind = 'auto' | 'bar' | 'lines' | 'silent';

/** Options of the visible kinds. */
export interface ProgressOptions {
  /** Where to write. Default process.stderr (stdout stays free for --json). */
  stream?: NodeJS.WritableStream;
  /** 'lines': minimum milliseconds between lines. Default 5000. */
  intervalMs?: number;
}

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
  const stream = o.stream ?? process.stderr;
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

/** One compact line every `intervalMs` and one at the end; for notebooks and CI logs. */
function lines(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const interval = o.intervalMs ?? 5000;
  let [name, total, t0, last] = ['', 0, 0, 0];
  return {
    start(label, totalSteps) {
      [name, total, t0, last] = [label, totalSteps, Date.now(), Date.now()];
    },
    update(done, info) {
      const now = Date.now();
      if (now - last < interval) return;
      last = now;
      const eta = ((now - t0) / 1000) * (total / Math.max(done, 1) - 1);
      stream.write(
        `${name} ${done}/${total} (${fmt.pct(done / total)}) | ${fmt.rate(info.samples, now - t0)} samples/s | ` +
          `loss ${info.loss.toFixed(4)} | acc ${fmt.pct(info.acc)} | ETA ${fmt.time(eta)}\n`,
      );
    },
    stop(summary) {
      stream.write(`${summary}\n`);
    },
  };
}

const kinds: Record<ProgressKind, (o: ProgressOptions) => Progress> = {
  auto: (o) => ((o.stream ?? process.stderr) as NodeJS.WriteStream).isTTY ? bar(o) : lines(o),
  bar,
  lines,
  silent,
};

/**
 * A progress reporter of the given kind.
 * @example fit(model, train, {progress: progress('lines', {intervalMs: 2000})});
 */
export function progress(kind: ProgressKind = 'auto', options: ProgressOptions = {}): Progress {
  if (!(kind in kinds)) throw new Error(`unknown progress kind '${kind}'; valid: ${Object.keys(kinds).join(', ')}`);
  return kinds[kind](options);
}
