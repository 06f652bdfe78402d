// Row-wise kernels, the Adam update and matrix products in 128-bit WebAssembly SIMD (AssemblyScript; compiled by
// `npm run build:simd` twice: kernels.wasm, and kernels-relaxed.wasm with relaxed SIMD's fused multiply-add; loaded by
// ../simdKernels.ts). JavaScript loops over Float32Arrays ran the row kernels at 15–30 ns an element; four lanes at a
// time they take ~1–3. tfjs-wasm runs a batch of small products at ~2 GFLOP/s (or ~4 as one XNNPACK call per
// product); these run at ~25–40 on one thread.
//
// Every pointer is a byte offset into the memory the module imports (env.memory): its own (../simdKernels.ts copies
// arrays in and out, at or above heapBase()) or tfjs-wasm's heap, where the kernels read and write tensors in place.
// So the module has no static data (data segments would be written over tfjs's own at instantiation); a test checks.
// Arrays are float32, rows of `d` contiguous values.
// Each loop runs four lanes while four remain, then one value at a time (any `d` works).

/** Where arrays in the module's own memory may start (above AssemblyScript's reserved first bytes). */
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

// Matrix products: c = op(a) · op(b). op(b) is packed into panels of 8 columns (k × 8 contiguous floats, zero past
// the last column), which reads a transposed b in place; the 4 × 8 register block below keeps 8 accumulators, reads
// two vectors of a panel and four scalars of a per step of k. A transposed a is packed in blocks of 4 rows (its 4 values
// of one step are adjacent). XNNPACK's wasm kernels are built the same way; with the relaxed-SIMD build (fused
// multiply-add) this runs at ~25–40 GFLOP/s on one thread of this project's machines, against ~20 for XNNPACK.

/** a·b + c, fused where the relaxed-SIMD build runs on a CPU with FMA (kernels-relaxed.wasm). */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * Floats from one packed panel to the next: k × 8 and one cache line more, so that the panels' p-th rows, which
 * packPanels writes one after the other, fall in different sets of the L1 cache (k × 8 floats is a multiple of 4 KiB
 * for k a multiple of 128, and would put them all in one set).
 */
@inline function panelStride(k: i32): i32 {
  return 8 * k + 16;
}

/**
 * Columns [n0, n0 + width) of op(b) [k, n] into panels of 8: dst[j][p][q] = op(b)[p][n0 + 8j + q], 0 past n. b's
 * stored rows (k of them, or n transposed) are `ldb` floats apart.
 *
 * A plain b is read row by row, each row's `width` floats in order. Panel by panel, the reads would be 32 bytes from
 * each of k rows a page or more apart: the prefetchers do not follow that across pages, so with b out of cache
 * (decoding walks all the weights each token) every read waited on memory and the products ran at half speed.
 */
function packPanels(b: usize, ldb: i32, dst: usize, k: i32, n0: i32, width: i32, transposeB: bool): void {
  const stride = panelStride(k);
  if (!transposeB) {
    const full = width & ~7;
    for (let p = 0; p < k; p++) {
      const row = at(b, p * ldb + n0);
      const o = at(dst, p * 8);
      for (let j = 0; j < full; j += 8) {
        const panel = at(o, (j >> 3) * stride);
        v128.store(panel, v128.load(at(row, j)));
        v128.store(panel, v128.load(at(row, j + 4)), 16);
      }
      for (let q = 0; q < 8 && full < width; q++) store<f32>(at(o, (full >> 3) * stride + q), full + q < width ? load<f32>(at(row, full + q)) : 0);
    }
    return;
  }
  const panels = (width + 7) >> 3;
  for (let j = 0; j < panels; j++) {
    const col0 = n0 + j * 8;
    const cols = min(8, n0 + width - col0);
    const panel = at(dst, j * stride);
    let p = 0;
    // A transposed b's 8 stored rows, 4 values of each at a time, turned into 4 rows of the panel in registers.
    if (cols == 8) {
      for (; p + 4 <= k; p += 4) {
        transposeInto(at(b, col0 * ldb + p), ldb, at(panel, p * 8));
        transposeInto(at(b, (col0 + 4) * ldb + p), ldb, at(panel, p * 8 + 4));
      }
    }
    for (; p < k; p++) {
      const o = at(panel, p * 8);
      for (let q = 0; q < 8; q++) store<f32>(at(o, q), q < cols ? load<f32>(at(b, (col0 + q) * ldb + p)) : 0);
    }
  }
}

/** The 4 × 4 block at `from` (rows `ld` floats apart), transposed, as 4 rows of 4 at `to`, rows 8 floats apart. */
@inline function transposeInto(from: usize, ld: i32, to: usize): void {
  const rowBytes = <usize>ld << 2;
  const r0 = v128.load(from);
  const r1 = v128.load(from + rowBytes);
  const r2 = v128.load(from + 2 * rowBytes);
  const r3 = v128.load(from + 3 * rowBytes);
  const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(to, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(to, f32x4.shuffle(t0, t1, 2, 3, 6, 7), 32);
  v128.store(to, f32x4.shuffle(t2, t3, 0, 1, 4, 5), 64);
  v128.store(to, f32x4.shuffle(t2, t3, 2, 3, 6, 7), 96);
}

/** Stores (or adds, with `accumulate`) a block of 8 accumulators' first `rows` × `cols` values at c, rows `ldc` apart. */
@inline function storeBlock(acc: usize, c: usize, ldc: i32, rows: i32, cols: i32, accumulate: bool): void {
  for (let r = 0; r < rows; r++) {
    const o = at(c, r * ldc);
    const from = at(acc, r * 8);
    if (cols == 8) {
      let lo = v128.load(from);
      let hi = v128.load(from, 16);
      if (accumulate) {
        lo = f32x4.add(lo, v128.load(o));
        hi = f32x4.add(hi, v128.load(o, 16));
      }
      v128.store(o, lo);
      v128.store(o, hi, 16);
      continue;
    }
    for (let q = 0; q < cols; q++) store<f32>(at(o, q), load<f32>(at(from, q)) + (accumulate ? load<f32>(at(o, q)) : 0));
  }
}

/**
 * c[0..rows) × [0..cols) (=, or += with `accumulate`) of 4 rows of op(a), read at a0..a3 advancing `aStep` bytes a
 * step of k, times 8 columns of op(b) read at `panel` advancing `bStep` bytes a step (32 in a packed panel, a row of
 * b in place). `block` holds 32 floats of scratch.
 */
@inline function product4x8(a0: usize, a1: usize, a2: usize, a3: usize, aStep: usize, panel: usize, bStep: usize, k: i32, c: usize, ldc: i32, rows: i32, cols: i32, accumulate: bool, block: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let bp = panel;
  for (let p = 0; p < k; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    bp += bStep;
    let x = v128.load32_splat(a0);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(a1);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(a2);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(a3);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
    a0 += aStep;
    a1 += aStep;
    a2 += aStep;
    a3 += aStep;
  }
  if (rows == 4 && cols == 8 && !accumulate) {
    const rowBytes = <usize>ldc << 2;
    v128.store(c, c00);
    v128.store(c, c01, 16);
    v128.store(c + rowBytes, c10);
    v128.store(c + rowBytes, c11, 16);
    v128.store(c + 2 * rowBytes, c20);
    v128.store(c + 2 * rowBytes, c21, 16);
    v128.store(c + 3 * rowBytes, c30);
    v128.store(c + 3 * rowBytes, c31, 16);
    return;
  }
  v128.store(block, c00);
  v128.store(block, c01, 16);
  v128.store(block, c10, 32);
  v128.store(block, c11, 48);
  v128.store(block, c20, 64);
  v128.store(block, c21, 80);
  v128.store(block, c30, 96);
  v128.store(block, c31, 112);
  storeBlock(block, c, ldc, rows, cols, accumulate);
}

/**
 * product4x8 for one row: each value the same sequence of multiply-adds as there, so a row's results do not depend
 * on how many rows are multiplied with it.
 */
@inline function product1x8(a0: usize, aStep: usize, panel: usize, bStep: usize, k: i32, c: usize, cols: i32, accumulate: bool, block: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let bp = panel;
  for (let p = 0; p < k; p++) {
    const x = v128.load32_splat(a0);
    c00 = madd(x, v128.load(bp), c00);
    c01 = madd(x, v128.load(bp, 16), c01);
    bp += bStep;
    a0 += aStep;
  }
  v128.store(block, c00);
  v128.store(block, c01, 16);
  storeBlock(block, c, 0, 1, cols, accumulate);
}

/** Scratch floats product() needs for [m, k] · [k, n] packing `columns` columns of op(b) at a time. */
export function productScratch(m: i32, k: i32, columns: i32, transposeA: bool): i32 {
  return 32 + ((columns + 7) >> 3) * panelStride(k) + (transposeA ? ((m + 3) & ~3) * k : 0);
}

/**
 * A transposed a [k, m] (stored rows `lda` floats apart) as blocks of 4 rows of op(a), each [k, 4] contiguous (zero
 * past m): one vector a step.
 */
function packRowBlocks(a: usize, lda: i32, dst: usize, m: i32, k: i32): void {
  for (let r = 0; r < m; r += 4) {
    const block = at(dst, r * k);
    if (r + 4 <= m) {
      for (let p = 0; p < k; p++) v128.store(at(block, p * 4), v128.load(at(a, p * lda + r)));
      continue;
    }
    for (let p = 0; p < k; p++) {
      for (let i = 0; i < 4; i++) store<f32>(at(block, p * 4 + i), r + i < m ? load<f32>(at(a, p * lda + r + i)) : 0);
    }
  }
}

/**
 * c [m, n] = op(a) · op(b) (+= c with `accumulate`), op(a) [m, k] (a stored [k, m] with `transposeA`), op(b) [k, n]
 * (b stored [n, k] with `transposeB`). The stored rows of a and b are `lda` and `ldb` floats apart (k, m, n or k when
 * contiguous; more for a block of a larger matrix: a depth tile); c's rows are n apart. `scratch` holds
 * `scratchFloats` floats, at least productScratch(m, k, 8, transposeA): op(b) is packed as many columns at a time as
 * the rest holds.
 */
export function product(a: usize, lda: i32, b: usize, ldb: i32, c: usize, m: i32, k: i32, n: i32, transposeA: bool, transposeB: bool, accumulate: bool, scratch: usize, scratchFloats: i32): void {
  const block = scratch;
  const packedA = at(scratch, 32);
  const packedASize = transposeA ? ((m + 3) & ~3) * k : 0;
  const panels = at(packedA, packedASize);
  const columns = max(8, ((scratchFloats - 32 - packedASize) / panelStride(k)) * 8);
  // A transposed a is packed once, not once per block of columns: its reads are 4 floats from each of k rows.
  if (transposeA) packRowBlocks(a, lda, packedA, m, k);
  if (m <= 4 && !transposeB) {
    productFewRows(a, lda, b, ldb, c, m, k, n, transposeA ? packedA : 0, accumulate, panels, block);
    return;
  }
  for (let n0 = 0; n0 < n; n0 += columns) {
    const width = min(columns, n - n0);
    packPanels(b, ldb, panels, k, n0, width, transposeB);
    for (let r = 0; r < m; r += 4) {
      const rows = min(4, m - r);
      let a0: usize, a1: usize, a2: usize, a3: usize, step: usize;
      if (transposeA) {
        a0 = at(packedA, r * k);
        a1 = a0 + 4;
        a2 = a0 + 8;
        a3 = a0 + 12;
        step = 16;
      } else {
        // Rows past m read the last row again (their results are not stored).
        a0 = at(a, r * lda);
        a1 = at(a, (r + min(1, rows - 1)) * lda);
        a2 = at(a, (r + min(2, rows - 1)) * lda);
        a3 = at(a, (r + min(3, rows - 1)) * lda);
        step = 4;
      }
      for (let j = 0; j < width; j += 8) {
        const panel = at(panels, (j >> 3) * panelStride(k));
        // One row (decoding's attention: one query per head) need not be computed four times.
        if (rows == 1) product1x8(a0, step, panel, 32, k, at(c, r * n + n0 + j), min(8, width - j), accumulate, block);
        else product4x8(a0, a1, a2, a3, step, panel, 32, k, at(c, r * n + n0 + j), n, rows, min(8, width - j), accumulate, block);
      }
    }
  }
}

/**
 * product() for m ≤ 4 rows and a plain b: b is read once, so it is read in place rather than packed (decoding's
 * products), but for its last columns past a multiple of 8, packed into one zero-padded panel. The sums are the same
 * multiply-adds in the same order as in the packed path. `packedA`: a transposed a's packed rows, else 0.
 */
function productFewRows(a: usize, lda: i32, b: usize, ldb: i32, c: usize, m: i32, k: i32, n: i32, packedA: usize, accumulate: bool, panel: usize, block: usize): void {
  const rowBytes = <usize>ldb << 2;
  let a0: usize, a1: usize, a2: usize, a3: usize, step: usize;
  if (packedA) {
    a0 = packedA;
    a1 = a0 + 4;
    a2 = a0 + 8;
    a3 = a0 + 12;
    step = 16;
  } else {
    a0 = a;
    a1 = at(a, min(1, m - 1) * lda);
    a2 = at(a, min(2, m - 1) * lda);
    a3 = at(a, min(3, m - 1) * lda);
    step = 4;
  }
  for (let j = 0; j < n; j += 8) {
    const cols = min(8, n - j);
    let columns = at(b, j);
    let bStep = rowBytes;
    if (cols < 8) {
      packPanels(b, ldb, panel, k, j, cols, false);
      columns = panel;
      bStep = 32;
    }
    if (m == 1) product1x8(a0, step, columns, bStep, k, at(c, j), cols, accumulate, block);
    else product4x8(a0, a1, a2, a3, step, columns, bStep, k, at(c, j), n, m, cols, accumulate, block);
  }
}

/**
 * count products c[i] = op(a[i]) · op(b[i]) (see product), c [count, m, n], a[i] m·k floats apart. b[i] starts
 * `bStride` floats after b[i − 1] and its stored rows are `ldb` floats apart: k·n and n (k transposed) for contiguous
 * matrices; w and count·w for a time-major [L, count, w] (a KV cache: row i's keys interleaved with the others').
 */
export function batchedProduct(a: usize, b: usize, c: usize, count: i32, m: i32, k: i32, n: i32, transposeA: bool, transposeB: bool, bStride: i32, ldb: i32, scratch: usize, scratchFloats: i32): void {
  for (let i = 0; i < count; i++) {
    product(at(a, i * m * k), transposeA ? m : k, at(b, i * bStride), ldb, at(c, i * m * n), m, k, n, transposeA, transposeB, false, scratch, scratchFloats);
  }
}

/**
 * e^x for four lanes: Cephes' expf (x = n·ln 2 + r, |r| ≤ ln2/2, a degree-6 polynomial for e^r, 2^n from the exponent
 * bits), within ~2 float32 ulps; x is clamped to ±87.3, where e^x stays a normal float32.
 */
@inline function exp4(x: v128): v128 {
  // pmin/pmax are one instruction each on x86 (min/max with NaN semantics are several); a NaN still comes through.
  const clamped = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.3)), f32x4.splat(87.3));
  // n = round(x·log2 e), to nearest even as f32x4.nearest: adding 1.5·2²³ leaves n in the low bits of the sum, which
  // is n's integer too (one add and one subtract, where nearest and a saturating conversion cost a dozen).
  const shifted = f32x4.add(f32x4.mul(clamped, f32x4.splat(1.44269504088896341)), f32x4.splat(ROUNDING_SHIFT));
  const n = f32x4.sub(shifted, f32x4.splat(ROUNDING_SHIFT));
  // ln 2 in two parts: n·ln2 without losing r's low bits.
  const r = f32x4.sub(f32x4.sub(clamped, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const er = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n: n + 127 in the exponent bits. The sum's bits are 0x4B400000 + n (|n| ≤ 126 here).
  const scale = i32x4.shl(i32x4.add(i32x4.sub(shifted, i32x4.splat(0x4b400000)), i32x4.splat(127)), 23);
  return f32x4.mul(er, scale);
}

/** 1.5·2²³: a float32 sum with it rounds to an integer, which sits in the sum's low mantissa bits. */
const ROUNDING_SHIFT: f32 = 12582912;

/** σ(2z) of GPT-2's tanh GELU, z = √(2/π)·(x + 0.044715·x³): 1 / (1 + e^(−2z)). */
@inline function geluGate4(x: v128): v128 {
  const twoZ = f32x4.mul(f32x4.mul(x, f32x4.add(f32x4.mul(f32x4.mul(x, x), f32x4.splat(GELU_A)), f32x4.splat(1))), f32x4.splat(GELU_C));
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), exp4(f32x4.neg(twoZ))));
}

/** 2·√(2/π) and the cubic coefficient of "gelu_new". */
const GELU_C: f32 = 1.5957691216057308;
const GELU_A: f32 = 0.044715;

/** geluGate4 for one value (the loops' tails): Mathf.exp would bring static tables into the module. */
@inline function geluGate(x: f32): f32 {
  return f32x4.extract_lane(geluGate4(f32x4.splat(x)), 0);
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

/**
 * out [a, c, b, d] = x [a, b, c, d] with the middle axes swapped (attention's [B, T, H, hd] ↔ [B, H, T, hd]): rows of
 * d contiguous values moved whole, four lanes at a time.
 */
export function swapMiddleAxes(x: usize, out: usize, a: i32, b: i32, c: i32, d: i32): void {
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      for (let l = 0; l < c; l++) {
        const from = at(x, ((i * b + j) * c + l) * d);
        const to = at(out, ((i * c + l) * b + j) * d);
        let e = 0;
        for (; e + 4 <= d; e += 4) v128.store(at(to, e), v128.load(at(from, e)));
        for (; e < d; e++) store<f32>(at(to, e), load<f32>(at(from, e)));
      }
    }
  }
}

/**
 * `count` blocks of `floats` contiguous values from `from` to `to`, the blocks `fromStride` and `toStride` floats apart
 * on either side (a decoded token's keys, one block per head, into a KV cache's rows).
 */
export function copyBlocks(from: usize, fromStride: i32, to: usize, toStride: i32, count: i32, floats: i32): void {
  for (let i = 0; i < count; i++) memory.copy(at(to, i * toStride), at(from, i * fromStride), <usize>floats << 2);
}
