// A one-line progress bar on stderr: fraction, rate, ETA and caller-supplied fields (loss, accuracy...).

/** Redraws one status line; `done()` ends it with a newline. */
export class Progress {
  private readonly start = performance.now();
  private last = 0;
  constructor(private readonly label: string, private readonly total: number, private readonly unit = 'it') {}

  /** Updates the line (at most every 100 ms unless `force`). */
  update(done: number, fields: Record<string, string | number> = {}, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < 100 && done < this.total) return;
    this.last = now;
    const s = (now - this.start) / 1000;
    const rate = done / Math.max(s, 1e-9);
    const frac = this.total > 0 ? Math.min(done / this.total, 1) : 1;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`).join('  ');
    const line = `${this.label} [${bar}] ${done}/${this.total} ${rate.toFixed(1)} ${this.unit}/s ETA ${fmtTime(eta)}${extra ? '  ' + extra : ''}`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
  }

  /** Finishes the line (at `at` when the work stopped early, e.g. early stopping). */
  done(fields: Record<string, string | number> = {}, at = this.total): void {
    this.update(at, fields, true);
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}

/** Milliseconds of work after which a progress line appears (TENSORZOO_PROGRESS_AFTER_MS overrides the 1 s, e.g. for tests). */
function showAfterMs(): number {
  const v = Number(process.env.TENSORZOO_PROGRESS_AFTER_MS);
  return Number.isFinite(v) && v >= 0 ? v : 1000;
}

/** A Progress that only appears once the work has taken about a second: short work stays silent. */
export class DelayedProgress {
  private readonly start = performance.now();
  private bar: Progress | null = null;
  constructor(private readonly label: string, private readonly unit: string) {}

  /** Reports `done` of `total`. */
  update(done: number, total: number): void {
    if (!this.bar && performance.now() - this.start >= showAfterMs()) this.bar = new Progress(this.label, total, this.unit);
    if (this.bar) (done === total ? this.done() : this.bar.update(done));
  }

  /** Ends the line if one was shown. */
  done(): void {
    this.bar?.done();
    this.bar = null;
  }
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}
