// Row-wise kernels, the Adam update and attention's batched small products in 128-bit WebAssembly SIMD
// (AssemblyScript; compiled to kernels.wasm by `npm run build:simd`, loaded by ../simdKernels.ts). JavaScript loops
// over Float32Arrays ran the row kernels at 15–30 ns an element; four lanes at a time they take ~1–3. tfjs-wasm runs a
// batch of small products at ~2 GFLOP/s (or ~4 as one XNNPACK call per product); these run at ~25 on one thread.
//
// Every pointer is a byte offset into this module's memory, at or above heapBase(); arrays are float32, rows of `d`
// contiguous values.
// Each loop runs four lanes while four remain, then one value at a time (any `d` works).

/** Where the arrays may start: below lie the module's static data (Mathf.exp's tables). */
export function heapBase(): usize {
  return __heap_base;
}

@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

@inline function laneSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline function rowSum(x: usize, d: i32): f32 {
  let acc = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= d; k += 4) acc = f32x4.add(acc, v128.load(at(x, k)));
  let sum = laneSum(acc);
  for (; k < d; k++) sum += load<f32>(at(x, k));
  return sum;
}

/** Σ (x − mean)² over a row: the centred second pass keeps the variance exact for rows far from 0. */
@inline function rowCentredSquares(x: usize, d: i32, mean: f32): f32 {
  const m = f32x4.splat(mean);
  let acc = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= d; k += 4) {
    const c = f32x4.sub(v128.load(at(x, k)), m);
    acc = f32x4.add(acc, f32x4.mul(c, c));
  }
  let sum = laneSum(acc);
  for (; k < d; k++) {
    const c = load<f32>(at(x, k)) - mean;
    sum += c * c;
  }
  return sum;
}

@inline function rowSquares(x: usize, d: i32): f32 {
  let acc = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= d; k += 4) {
    const v = v128.load(at(x, k));
    acc = f32x4.add(acc, f32x4.mul(v, v));
  }
  let sum = laneSum(acc);
  for (; k < d; k++) {
    const v = load<f32>(at(x, k));
    sum += v * v;
  }
  return sum;
}

/** out = (x − mean) · rstd · w + b per row of x [rows, d] (biased variance). */
export function layerNormForward(x: usize, w: usize, b: usize, out: usize, rows: i32, d: i32, eps: f32): void {
  for (let n = 0; n < rows; n++) {
    const row = at(x, n * d);
    const dst = at(out, n * d);
    const mean = rowSum(row, d) / <f32>d;
    const rstd = <f32>1 / Mathf.sqrt(rowCentredSquares(row, d, mean) / <f32>d + eps);
    const mv = f32x4.splat(mean);
    const rv = f32x4.splat(rstd);
    let k = 0;
    for (; k + 4 <= d; k += 4) {
      const xhat = f32x4.mul(f32x4.sub(v128.load(at(row, k)), mv), rv);
      v128.store(at(dst, k), f32x4.add(f32x4.mul(xhat, v128.load(at(w, k))), v128.load(at(b, k))));
    }
    for (; k < d; k++) store<f32>(at(dst, k), (load<f32>(at(row, k)) - mean) * rstd * load<f32>(at(w, k)) + load<f32>(at(b, k)));
  }
}

/**
 * With x̂ = (x − mean)·rstd and g = dy·w: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), dw = Σ_rows dy·x̂, db = Σ_rows dy.
 * The row statistics are recomputed from x. `xhat` is scratch space for one row (d floats).
 */
export function layerNormBackward(dy: usize, x: usize, w: usize, dx: usize, dw: usize, db: usize, xhat: usize, rows: i32, d: i32, eps: f32): void {
  memory.fill(dw, 0, <usize>d << 2);
  memory.fill(db, 0, <usize>d << 2);
  const inverseD = <f32>1 / <f32>d;
  for (let n = 0; n < rows; n++) {
    const row = at(x, n * d);
    const dyRow = at(dy, n * d);
    const dxRow = at(dx, n * d);
    const mean = rowSum(row, d) * inverseD;
    const rstd = <f32>1 / Mathf.sqrt(rowCentredSquares(row, d, mean) * inverseD + eps);
    const mv = f32x4.splat(mean);
    const rv = f32x4.splat(rstd);
    let sumG = f32x4.splat(0);
    let sumGX = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= d; k += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(at(row, k)), mv), rv);
      v128.store(at(xhat, k), xh);
      const dyv = v128.load(at(dyRow, k));
      const g = f32x4.mul(dyv, v128.load(at(w, k)));
      sumG = f32x4.add(sumG, g);
      sumGX = f32x4.add(sumGX, f32x4.mul(g, xh));
      v128.store(at(dw, k), f32x4.add(v128.load(at(dw, k)), f32x4.mul(dyv, xh)));
      v128.store(at(db, k), f32x4.add(v128.load(at(db, k)), dyv));
    }
    let sg = laneSum(sumG);
    let sgx = laneSum(sumGX);
    for (; k < d; k++) {
      const xh = (load<f32>(at(row, k)) - mean) * rstd;
      store<f32>(at(xhat, k), xh);
      const dyk = load<f32>(at(dyRow, k));
      const g = dyk * load<f32>(at(w, k));
      sg += g;
      sgx += g * xh;
      store<f32>(at(dw, k), load<f32>(at(dw, k)) + dyk * xh);
      store<f32>(at(db, k), load<f32>(at(db, k)) + dyk);
    }
    const meanG = sg * inverseD;
    const meanGX = sgx * inverseD;
    const mg = f32x4.splat(meanG);
    const mgx = f32x4.splat(meanGX);
    k = 0;
    for (; k + 4 <= d; k += 4) {
      const g = f32x4.mul(v128.load(at(dyRow, k)), v128.load(at(w, k)));
      v128.store(at(dxRow, k), f32x4.mul(rv, f32x4.sub(f32x4.sub(g, mg), f32x4.mul(v128.load(at(xhat, k)), mgx))));
    }
    for (; k < d; k++) {
      const g = load<f32>(at(dyRow, k)) * load<f32>(at(w, k));
      store<f32>(at(dxRow, k), rstd * (g - meanG - load<f32>(at(xhat, k)) * meanGX));
    }
  }
}

/** out = x · r · w per row, r = 1/√(mean(x²) + eps). */
export function rmsNormForward(x: usize, w: usize, out: usize, rows: i32, d: i32, eps: f32): void {
  for (let n = 0; n < rows; n++) {
    const row = at(x, n * d);
    const dst = at(out, n * d);
    const r = <f32>1 / Mathf.sqrt(rowSquares(row, d) / <f32>d + eps);
    const rv = f32x4.splat(r);
    let k = 0;
    for (; k + 4 <= d; k += 4) v128.store(at(dst, k), f32x4.mul(f32x4.mul(v128.load(at(row, k)), rv), v128.load(at(w, k))));
    for (; k < d; k++) store<f32>(at(dst, k), load<f32>(at(row, k)) * r * load<f32>(at(w, k)));
  }
}

/** With r = 1/√(mean(x²) + eps) and g = dy·w: dx = r·g − r³·x·mean(g·x), dw = Σ_rows dy·x·r. */
export function rmsNormBackward(dy: usize, x: usize, w: usize, dx: usize, dw: usize, rows: i32, d: i32, eps: f32): void {
  memory.fill(dw, 0, <usize>d << 2);
  for (let n = 0; n < rows; n++) {
    const row = at(x, n * d);
    const dyRow = at(dy, n * d);
    const dxRow = at(dx, n * d);
    const r = <f32>1 / Mathf.sqrt(rowSquares(row, d) / <f32>d + eps);
    const rv = f32x4.splat(r);
    let acc = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= d; k += 4) {
      const xv = v128.load(at(row, k));
      const dyv = v128.load(at(dyRow, k));
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(dyv, v128.load(at(w, k))), xv));
      v128.store(at(dw, k), f32x4.add(v128.load(at(dw, k)), f32x4.mul(f32x4.mul(dyv, xv), rv)));
    }
    let sumGX = laneSum(acc);
    for (; k < d; k++) {
      const xk = load<f32>(at(row, k));
      const dyk = load<f32>(at(dyRow, k));
      sumGX += dyk * load<f32>(at(w, k)) * xk;
      store<f32>(at(dw, k), load<f32>(at(dw, k)) + dyk * xk * r);
    }
    const c = (r * r * r * sumGX) / <f32>d;
    const cv = f32x4.splat(c);
    k = 0;
    for (; k + 4 <= d; k += 4) {
      const g = f32x4.mul(v128.load(at(dyRow, k)), v128.load(at(w, k)));
      v128.store(at(dxRow, k), f32x4.sub(f32x4.mul(rv, g), f32x4.mul(cv, v128.load(at(row, k)))));
    }
    for (; k < d; k++) store<f32>(at(dxRow, k), r * load<f32>(at(dyRow, k)) * load<f32>(at(w, k)) - c * load<f32>(at(row, k)));
  }
}

/**
 * One Adam(W) step of n parameters, in place on w, m, v: g = grad·gradScale; m ← β1·m + (1 − β1)·g;
 * v ← β2·v + (1 − β2)·g²; w ← w·decay − stepSize·m / (√(v·inverse2) + ε), where stepSize = lr / (1 − β1^t),
 * inverse2 = 1 / (1 − β2^t) and decay = 1 − lr·λ (AdamW; 1 for Adam). 1 − β1 and 1 − β2 come from the caller, in
 * float64 before rounding (1 − 0.999 in float32 is 1.3e-5 off 0.001, torch's float32 0.001).
 */
export function adamStep(w: usize, grad: usize, m: usize, v: usize, n: i32, gradScale: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, stepSize: f32, inverse2: f32, epsilon: f32, decay: f32): void {
  const gs = f32x4.splat(gradScale);
  const b1 = f32x4.splat(beta1);
  const c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const c2 = f32x4.splat(oneMinusBeta2);
  const lr = f32x4.splat(stepSize);
  const i2 = f32x4.splat(inverse2);
  const ep = f32x4.splat(epsilon);
  const dc = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const g = f32x4.mul(v128.load(at(grad, i)), gs);
    const mi = f32x4.add(f32x4.mul(v128.load(at(m, i)), b1), f32x4.mul(g, c1));
    const vi = f32x4.add(f32x4.mul(v128.load(at(v, i)), b2), f32x4.mul(f32x4.mul(g, g), c2));
    v128.store(at(m, i), mi);
    v128.store(at(v, i), vi);
    const update = f32x4.div(f32x4.mul(mi, lr), f32x4.add(f32x4.sqrt(f32x4.mul(vi, i2)), ep));
    v128.store(at(w, i), f32x4.sub(f32x4.mul(v128.load(at(w, i)), dc), update));
  }
  for (; i < n; i++) {
    const g = load<f32>(at(grad, i)) * gradScale;
    const mi = load<f32>(at(m, i)) * beta1 + g * oneMinusBeta1;
    const vi = load<f32>(at(v, i)) * beta2 + g * g * oneMinusBeta2;
    store<f32>(at(m, i), mi);
    store<f32>(at(v, i), vi);
    store<f32>(at(w, i), load<f32>(at(w, i)) * decay - (mi * stepSize) / (Mathf.sqrt(vi * inverse2) + epsilon));
  }
}

/** Σ x² over n floats, accumulated in float64 (two lanes of each four). */
export function sumOfSquares(x: usize, n: i32): f64 {
  let low = f64x2.splat(0);
  let high = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    const a = f64x2.promote_low_f32x4(v);
    const b = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
    low = f64x2.add(low, f64x2.mul(a, a));
    high = f64x2.add(high, f64x2.mul(b, b));
  }
  let sum = f64x2.extract_lane(low, 0) + f64x2.extract_lane(low, 1) + f64x2.extract_lane(high, 0) + f64x2.extract_lane(high, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(at(x, i));
    sum += v * v;
  }
  return sum;
}

/** dst [cols, rows] = srcᵀ, src [rows, cols]. */
function transposeInto(src: usize, dst: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) store<f32>(at(dst, c * rows + r), load<f32>(at(src, r * cols + c)));
  }
}

/** One product c [m, n] = a [m, k] · b [k, n]: each row of c 16, then 4 columns at a time, then one. */
function product(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  const rowBytes = <usize>n << 2;
  for (let r = 0; r < m; r++) {
    const aRow = at(a, r * k);
    const cRow = at(c, r * n);
    let col = 0;
    for (; col + 16 <= n; col += 16) {
      let c0 = f32x4.splat(0);
      let c1 = f32x4.splat(0);
      let c2 = f32x4.splat(0);
      let c3 = f32x4.splat(0);
      let bp = at(b, col);
      for (let p = 0; p < k; p++) {
        const x = v128.load32_splat(at(aRow, p));
        c0 = f32x4.add(c0, f32x4.mul(x, v128.load(bp)));
        c1 = f32x4.add(c1, f32x4.mul(x, v128.load(bp, 16)));
        c2 = f32x4.add(c2, f32x4.mul(x, v128.load(bp, 32)));
        c3 = f32x4.add(c3, f32x4.mul(x, v128.load(bp, 48)));
        bp += rowBytes;
      }
      const o = at(cRow, col);
      v128.store(o, c0);
      v128.store(o, c1, 16);
      v128.store(o, c2, 32);
      v128.store(o, c3, 48);
    }
    for (; col + 4 <= n; col += 4) {
      let acc = f32x4.splat(0);
      let bp = at(b, col);
      for (let p = 0; p < k; p++) {
        acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(at(aRow, p)), v128.load(bp)));
        bp += rowBytes;
      }
      v128.store(at(cRow, col), acc);
    }
    for (; col < n; col++) {
      let sum: f32 = 0;
      for (let p = 0; p < k; p++) sum += load<f32>(at(aRow, p)) * load<f32>(at(b, p * n + col));
      store<f32>(at(cRow, col), sum);
    }
  }
}

/**
 * count products c[i] = op(a[i]) · op(b[i]), c [count, m, n], op(a) [m, k], op(b) [k, n]; with `transposeA` a[i] is
 * stored [k, m], with `transposeB` b[i] is stored [n, k] (attention's gradients), and is transposed into
 * `scratchA` / `scratchB` (m·k / k·n floats) first.
 */
export function batchedProduct(a: usize, b: usize, c: usize, count: i32, m: i32, k: i32, n: i32, transposeA: bool, transposeB: bool, scratchA: usize, scratchB: usize): void {
  for (let i = 0; i < count; i++) {
    let left = at(a, i * m * k);
    let right = at(b, i * k * n);
    if (transposeA) {
      transposeInto(left, scratchA, k, m);
      left = scratchA;
    }
    if (transposeB) {
      transposeInto(right, scratchB, n, k);
      right = scratchB;
    }
    product(left, right, at(c, i * m * n), m, k, n);
  }
}

/**
 * e^x for four lanes: Cephes' expf (x = n·ln 2 + r, |r| ≤ ln2/2, a degree-6 polynomial for e^r, 2^n from the exponent
 * bits), within ~2 float32 ulps; x is clamped to ±87.3, where e^x stays a normal float32.
 */
@inline function exp4(x: v128): v128 {
  const clamped = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(87.3));
  const n = f32x4.nearest(f32x4.mul(clamped, f32x4.splat(1.44269504088896341)));
  // ln 2 in two parts: n·ln2 without losing r's low bits.
  const r = f32x4.sub(f32x4.sub(clamped, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const er = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(er, scale);
}

/** σ(2z) of GPT-2's tanh GELU, z = √(2/π)·(x + 0.044715·x³): 1 / (1 + e^(−2z)). */
@inline function geluGate4(x: v128): v128 {
  const twoZ = f32x4.mul(f32x4.mul(x, f32x4.add(f32x4.mul(f32x4.mul(x, x), f32x4.splat(GELU_A)), f32x4.splat(1))), f32x4.splat(GELU_C));
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), exp4(f32x4.neg(twoZ))));
}

/** 2·√(2/π) and the cubic coefficient of "gelu_new". */
const GELU_C: f32 = 1.5957691216057308;
const GELU_A: f32 = 0.044715;

@inline function geluGate(x: f32): f32 {
  return <f32>1 / (<f32>1 + Mathf.exp(-(x * (x * x * GELU_A + <f32>1) * GELU_C)));
}

/** out = x · σ(2z) ("gelu_new", the tanh approximation: 0.5·x·(1 + tanh z) is the same function). */
export function geluForward(x: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    v128.store(at(out, i), f32x4.mul(v, geluGate4(v)));
  }
  for (; i < n; i++) {
    const v = load<f32>(at(x, i));
    store<f32>(at(out, i), v * geluGate(v));
  }
}

/** dx = dy · (s + x·s·(1 − s)·(c + 3·a·c·x²)), s = σ(2z): the derivative of x·σ(2z). */
export function geluBackward(dy: usize, x: usize, dx: usize, n: i32): void {
  const one = f32x4.splat(1);
  const c = f32x4.splat(GELU_C);
  const c3a = f32x4.splat(<f32>3 * GELU_A * GELU_C);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    const s = geluGate4(v);
    const slope = f32x4.add(f32x4.mul(f32x4.mul(v, v), c3a), c);
    const local = f32x4.add(s, f32x4.mul(f32x4.mul(f32x4.mul(v, s), f32x4.sub(one, s)), slope));
    v128.store(at(dx, i), f32x4.mul(v128.load(at(dy, i)), local));
  }
  for (; i < n; i++) {
    const v = load<f32>(at(x, i));
    const s = geluGate(v);
    const slope = v * v * (<f32>3 * GELU_A * GELU_C) + GELU_C;
    store<f32>(at(dx, i), load<f32>(at(dy, i)) * (s + v * s * (<f32>1 - s) * slope));
  }
}
