/**
 * GPT-2 (Radford et al. 2019), with Hugging Face `GPT2LMHeadModel` tensor names: learned position embeddings,
 * pre-LayerNorm blocks, fused q/k/v projection `c_attn`, gelu_new MLP, final LayerNorm, head tied to the token
 * embedding. HF's GPT-2 uses Conv1D, whose weights are already stored [in, out].
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelConfig } from './config';
import { embeddingLookup } from './kernels';
import { attention, geluNew, layerNorm, linear, projector } from './layers';
import type { LoraAdapters } from './lora';
import { ForwardInput, KVCache, ModelFamily, OutputHead, ParamSpec, cacheSlot, partsForward, runBlock, selectColumns, tiedHead, updateCache, weight, Weights } from './model';

const PREFIX = 'transformer.';
/**
 * The causal mask `attn.bias` and the constant `attn.masked_bias`: buffers that older transformers saved with the
 * weights (the OpenAI conversions carry them too); today's GPT2Attention builds the mask itself.
 */
const BUFFER = /^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$/;

export const gpt2: ModelFamily = {
  embeddingName: PREFIX + 'wte.weight',
  lookupTables: [PREFIX + 'wte.weight', PREFIX + 'wpe.weight'],

  isBuffer: (name) => BUFFER.test(name),

  parameterSpecs(c: ModelConfig): ParamSpec[] {
    const d = c.dModel;
    const std = 0.02;
    // GPT-2 scales the residual projections by 1/√(2·layers) at init.
    const residualStd = std / Math.sqrt(2 * c.nLayers);
    const specs: ParamSpec[] = [
      { name: 'wte.weight', shape: [c.vocabSize, d], transposed: false, init: { kind: 'normal', std } },
      { name: 'wpe.weight', shape: [c.maxPositions, d], transposed: false, init: { kind: 'normal', std: 0.01 } },
    ];
    for (let i = 0; i < c.nLayers; i++) {
      const p = `h.${i}.`;
      specs.push(
        { name: p + 'ln_1.weight', shape: [d], transposed: false, init: { kind: 'ones' } },
        { name: p + 'ln_1.bias', shape: [d], transposed: false, init: { kind: 'zeros' } },
        { name: p + 'attn.c_attn.weight', shape: [d, 3 * d], transposed: false, init: { kind: 'normal', std } },
        { name: p + 'attn.c_attn.bias', shape: [3 * d], transposed: false, init: { kind: 'zeros' } },
        { name: p + 'attn.c_proj.weight', shape: [d, d], transposed: false, init: { kind: 'normal', std: residualStd } },
        { name: p + 'attn.c_proj.bias', shape: [d], transposed: false, init: { kind: 'zeros' } },
        { name: p + 'ln_2.weight', shape: [d], transposed: false, init: { kind: 'ones' } },
        { name: p + 'ln_2.bias', shape: [d], transposed: false, init: { kind: 'zeros' } },
        { name: p + 'mlp.c_fc.weight', shape: [d, c.dFF], transposed: false, init: { kind: 'normal', std } },
        { name: p + 'mlp.c_fc.bias', shape: [c.dFF], transposed: false, init: { kind: 'zeros' } },
        { name: p + 'mlp.c_proj.weight', shape: [c.dFF, d], transposed: false, init: { kind: 'normal', std: residualStd } },
        { name: p + 'mlp.c_proj.bias', shape: [d], transposed: false, init: { kind: 'zeros' } },
      );
    }
    specs.push(
      { name: 'ln_f.weight', shape: [d], transposed: false, init: { kind: 'ones' } },
      { name: 'ln_f.bias', shape: [d], transposed: false, init: { kind: 'zeros' } },
    );
    // save_pretrained writes `transformer.`-prefixed names; the original OpenAI conversions have none.
    const named: ParamSpec[] = specs.map((s) => ({ ...s, name: PREFIX + s.name, aliases: [s.name] }));
    if (!c.tieEmbeddings) named.push({ name: 'lm_head.weight', shape: [c.vocabSize, d], transposed: true, init: { kind: 'normal', std } });
    return named;
  },

  forward(w: Weights, c: ModelConfig, input: ForwardInput, cache: KVCache | null, adapters?: LoraAdapters | null): tf.Tensor2D {
    return partsForward(gpt2, w, c, input, cache, adapters);
  },

  trunk(w: Weights, c: ModelConfig, input: ForwardInput, cache: KVCache | null, adapters?: LoraAdapters | null): tf.Tensor2D {
    const W = (name: string) => weight(w, PREFIX + name);
    const project = projector(w, adapters, input.dropoutSeed);
    const P = (module: string, x: tf.Tensor, columns?: [number, number]) => project(PREFIX + module, x, columns);
    const { batch: B, length: T } = input;
    const d = c.dModel;
    const tokens = embeddingLookup(W('wte.weight') as tf.Tensor2D, tf.reshape(input.ids, [B * T]));
    const positions = embeddingLookup(W('wpe.weight') as tf.Tensor2D, tf.tensor1d(input.positions, 'int32'));
    let x = tf.add(tokens, positions) as tf.Tensor2D;
    for (let i = 0; i < c.nLayers; i++) {
      const p = `h.${i}.`;
      x = runBlock(x, input, w, adapters, PREFIX + p, [input.attentionBias], (x, [attentionBias]) => {
        const h = layerNorm(x, W(p + 'ln_1.weight'), W(p + 'ln_1.bias'), c.normEps);
        const [q, k, v] = queryKeyValue(W(p + 'attn.c_attn.weight'), (columns) => P(p + 'attn.c_attn', h, columns), d);
        const shape = { batch: B, length: T, nHeads: c.nHeads, nKvHeads: c.nHeads, headDim: c.headDim };
        const { out, present } = attention(q, k, v, attentionBias, shape, cacheSlot(cache, i));
        updateCache(cache, i, present);
        const attended = tf.add(x, P(p + 'attn.c_proj', out)) as tf.Tensor2D;
        const m = layerNorm(attended, W(p + 'ln_2.weight'), W(p + 'ln_2.bias'), c.normEps);
        const hidden = geluNew(P(p + 'mlp.c_fc', m));
        return tf.add(attended, P(p + 'mlp.c_proj', hidden)) as tf.Tensor2D;
      });
    }
    return layerNorm(selectColumns(x, input), W('ln_f.weight'), W('ln_f.bias'), c.normEps);
  },

  outputHead(w: Weights, c: ModelConfig, input: ForwardInput, adapters?: LoraAdapters | null): OutputHead {
    if (c.tieEmbeddings) {
      // The fused head reads the table itself; only the logits path needs (and caches) its transpose.
      const table = weight(w, PREFIX + 'wte.weight');
      return { weight: { table: table as tf.Tensor2D }, apply: (x) => linear(x, tiedHead(table)) };
    }
    const project = projector(w, adapters, input.dropoutSeed);
    const head = adapters?.hasModule('lm_head') || w.has('lm_head.bias') ? null : (weight(w, 'lm_head.weight') as tf.Tensor2D);
    return { weight: head && { matrix: head }, apply: (x) => project('lm_head', x) };
  },
};

/**
 * q, k, v from the fused c_attn. A trained weight is split (slices of the small weight, cached outside a tape:
 * wasm's SplitV of the large activation is slower than the product itself). A frozen one (a LoRA run's base) gives
 * one product, split after: cached slices would be a second copy of every layer's c_attn for the whole run.
 */
function queryKeyValue(weight: tf.Variable, project: (columns?: [number, number]) => tf.Tensor2D, d: number): tf.Tensor2D[] {
  if (weight.trainable) return [0, 1, 2].map((part) => project([part * d, (part + 1) * d]));
  const all = project();
  return [0, 1, 2].map((part) => tf.slice(all, [0, part * d], [all.shape[0], d]) as tf.Tensor2D);
}
