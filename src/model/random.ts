/**
 * A seeded random source that reproduces NumPy's legacy `np.random.seed` / `RandomState` streams bit for bit
 * (MT19937, `random_sample`, `randn`, `choice(p=…)`). Reproducing NumPy lets a run be compared draw for draw with a
 * Python reference such as the seed-000 bandit, and makes every run with the same seed repeatable.
 */
const N = 624;
const M = 397;

export interface RandomState {
  mt: number[];
  index: number;
  gauss: number | null;
}

export class Random {
  private mt = new Uint32Array(N);
  private index = N;
  private gauss: number | null = null;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`seed must be an integer in [0, 2^32), got ${seed}`);
    }
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253 * prev + i, computed in 32-bit halves to stay exact.
      this.mt[i] = ((((prev & 0xffff0000) >>> 16) * 1812433253) << 16) + (prev & 0x0000ffff) * 1812433253 + i;
    }
  }

  /** Next raw 32-bit output of MT19937. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits, as NumPy's `random_sample`. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Standard normal draw, NumPy's legacy polar method (`randn`), including its cached second value. */
  normal(): number {
    if (this.gauss !== null) {
      const g = this.gauss;
      this.gauss = null;
      return g;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2 * this.random() - 1;
      x2 = 2 * this.random() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.gauss = f * x1;
    return f * x2;
  }

  /** Index drawn with the given probabilities, as `np.random.choice(len(p), p=p)`: cdf search, side='right'. */
  choice(p: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < p.length; i++) total += p[i];
    const u = this.random();
    // NumPy's cdf, running sum / total summed in order, never decreases: the first index whose value is not ≤ u is
    // the one a binary search finds (a NaN total gives 0 in both), without building the array.
    let running = 0;
    for (let i = 0; i < p.length; i++) {
      running += p[i];
      if (!(running / total <= u)) return i;
    }
    return p.length - 1;
  }

  /** Integer in [0, n) (uniform; rejection-free mapping is fine for n ≪ 2^53). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Serialisable state, so a checkpoint can resume the exact stream. */
  getState(): RandomState {
    return { mt: Array.from(this.mt), index: this.index, gauss: this.gauss };
  }

  setState(state: RandomState): void {
    if (state.mt.length !== N) throw new Error(`random state needs ${N} words, got ${state.mt.length}`);
    this.mt = Uint32Array.from(state.mt);
    this.index = state.index;
    this.gauss = state.gauss;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}
