/** Plain data helpers for the curves: EMA smoothing, x coordinates, CSV. No DOM, so unit tests run them in Node. */

/**
 * TensorBoard's debiased exponential moving average: s_t = w s_{t−1} + (1 − w) v_t, divided by 1 − w^t so the
 * first points are not pulled toward 0. Non-finite values pass through and do not disturb the average.
 */
export class EmaSmoother {
  private last = 0;
  private count = 0;

  constructor(readonly weight: number) {}

  next(value: number): number {
    if (!Number.isFinite(value) || this.weight <= 0) return value;
    this.count += 1;
    this.last = this.last * this.weight + (1 - this.weight) * value;
    return this.last / (1 - Math.pow(this.weight, this.count));
  }
}

export function smooth(values: readonly number[], weight: number): number[] {
  const ema = new EmaSmoother(weight);
  return values.map((v) => ema.next(v));
}

/** A formatted elapsed time, e.g. 75 → "1:15", 3725 → "1:02:05". */
export function formatElapsed(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text with a header row; rows may be ragged (missing values become empty fields). */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number | undefined)[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}
