/**
 * Attention outside a gradient tape runs in blocks of ATTENTION_QUERY_BLOCK queries, each block's scores freed before
 * the next (sampling and scoring long prompts would otherwise hold T·S floats per head and layer, and trap wasm).
 * The blocks must give exactly the values of the one-piece path, which still runs under a tape.
 */
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { attention, ATTENTION_QUERY_BLOCK } from '../../../src/model/layers';
import { attentionBias } from '../../../src/model/model';
import { Random } from '../../../src/model/random';
import { useWasm } from './helpers';

const shape = { batch: 2, length: 2 * ATTENTION_QUERY_BLOCK + 37, nHeads: 4, nKvHeads: 2, headDim: 8 };

function inputs(dims = shape): { q: tf.Tensor2D; k: tf.Tensor2D; v: tf.Tensor2D; bias: tf.Tensor } {
  const rng = new Random(5);
  const { batch: B, length: T, nHeads: H, nKvHeads: Hkv, headDim: hd } = dims;
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  // Row 1 is left-padded by 40 tokens, so the blocks also see masked keys.
  const keyValid = [new Array<boolean>(T).fill(true), Array.from({ length: T }, (_, t) => t >= 40)];
  return {
    q: tf.tensor2d(normal(B * T * H * hd), [B * T, H * hd]),
    k: tf.tensor2d(normal(B * T * Hkv * hd), [B * T, Hkv * hd]),
    v: tf.tensor2d(normal(B * T * Hkv * hd), [B * T, Hkv * hd]),
    bias: attentionBias(keyValid, 0, T),
  };
}

/** The attention output computed while a gradient tape records (the one-piece path), and its gradient exists. */
function underTape(x: ReturnType<typeof inputs>): Float32Array {
  let value: Float32Array | undefined;
  const { grads } = tf.valueAndGrads((q: tf.Tensor) => {
    const { out } = attention(q, x.k, x.v, x.bias, shape, null);
    value = out.dataSync() as Float32Array;
    return tf.sum(out) as tf.Scalar;
  })([x.q]);
  tf.dispose(grads);
  if (!value) throw new Error('no value');
  return value;
}

describe('attention in query blocks', () => {
  for (const backend of ['wasm', 'cpu']) {
    it(`${backend}: blocks outside a tape give exactly the one-piece values of a tape (${shape.length} queries, padding)`, async () => {
      if (backend === 'wasm') await useWasm();
      else await tf.setBackend('cpu');
      const x = inputs();
      try {
        const blocked = tf.tidy(() => attention(x.q, x.k, x.v, x.bias, shape, null).out.dataSync() as Float32Array);
        const whole = underTape(x);
        assert.strictEqual(blocked.length, whole.length);
        let differing = 0;
        for (let i = 0; i < whole.length; i++) if (blocked[i] !== whole[i]) differing++;
        assert.strictEqual(differing, 0, `${differing} of ${whole.length} values differ`);
      } finally {
        tf.dispose(Object.values(x));
        await useWasm();
      }
    });
  }
});
