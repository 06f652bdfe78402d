/**
 * Llama (Touvron et al. 2023) and Qwen2, with Hugging Face `LlamaForCausalLM` / `Qwen2ForCausalLM` tensor names:
 * RMSNorm, rotary position embedding with the config's theta and scaling (rope.ts), grouped-query attention with
 * the config's head_dim, SwiGLU MLP (down(silu(gate(x)) · up(x))), q/k/v biases for Qwen2, q/k/v/o biases for Llama's
 * attention_bias and gate/up/down biases for its mlp_bias, head tied to the embedding or separate (`lm_head`).
 * nn.Linear weights are stored [out, in] in the checkpoint and kept [in, out] here (ParamSpec.transposed).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelConfig } from './config';
import { embeddingLookup } from './kernels';
import { applyRope, attention, linear, projector, rmsNorm, ropeTables, silu } from './layers';
import type { LoraAdapters } from './lora';
import { inverseFrequencies } from './rope';
import { ForwardInput, KVCache, ModelFamily, OutputHead, ParamSpec, cacheSlot, partsForward, runBlock, selectColumns, tiedHead, updateCache, weight, Weights } from './model';

/** Older checkpoints saved RoPE's inverse frequencies per layer (`model.layers.N.self_attn.rotary_emb.inv_freq`). */
const BUFFER = /^model\.(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$/;

export const llama: ModelFamily = {
  embeddingName: 'model.embed_tokens.weight',
  lookupTables: ['model.embed_tokens.weight'],

  isBuffer: (name) => BUFFER.test(name),

  parameterSpecs(c: ModelConfig): ParamSpec[] {
    const d = c.dModel;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const std = 0.02;
    const matrix = (name: string, out: number, inp: number): ParamSpec =>
      ({ name, shape: [out, inp], transposed: true, init: { kind: 'normal', std } });
    const vector = (name: string, size: number, kind: 'zeros' | 'ones'): ParamSpec =>
      ({ name, shape: [size], transposed: false, init: { kind } });
    const specs: ParamSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, d], transposed: false, init: { kind: 'normal', std } }];
    for (let i = 0; i < c.nLayers; i++) {
      const p = `model.layers.${i}.`;
      specs.push(
        vector(p + 'input_layernorm.weight', d, 'ones'),
        matrix(p + 'self_attn.q_proj.weight', qDim, d),
        matrix(p + 'self_attn.k_proj.weight', kvDim, d),
        matrix(p + 'self_attn.v_proj.weight', kvDim, d),
      );
      if (c.qkvBias) {
        specs.push(vector(p + 'self_attn.q_proj.bias', qDim, 'zeros'), vector(p + 'self_attn.k_proj.bias', kvDim, 'zeros'), vector(p + 'self_attn.v_proj.bias', kvDim, 'zeros'));
      }
      specs.push(matrix(p + 'self_attn.o_proj.weight', d, qDim));
      if (c.attnOutBias) specs.push(vector(p + 'self_attn.o_proj.bias', d, 'zeros'));
      specs.push(
        vector(p + 'post_attention_layernorm.weight', d, 'ones'),
        matrix(p + 'mlp.gate_proj.weight', c.dFF, d),
        matrix(p + 'mlp.up_proj.weight', c.dFF, d),
        matrix(p + 'mlp.down_proj.weight', d, c.dFF),
      );
      if (c.mlpBias) {
        specs.push(vector(p + 'mlp.gate_proj.bias', c.dFF, 'zeros'), vector(p + 'mlp.up_proj.bias', c.dFF, 'zeros'), vector(p + 'mlp.down_proj.bias', d, 'zeros'));
      }
    }
    specs.push(vector('model.norm.weight', d, 'ones'));
    if (!c.tieEmbeddings) specs.push(matrix('lm_head.weight', c.vocabSize, d));
    return specs;
  },

  forward(w: Weights, c: ModelConfig, input: ForwardInput, cache: KVCache | null, adapters?: LoraAdapters | null): tf.Tensor2D {
    return partsForward(llama, w, c, input, cache, adapters);
  },

  trunk(w: Weights, c: ModelConfig, input: ForwardInput, cache: KVCache | null, adapters?: LoraAdapters | null): tf.Tensor2D {
    const W = (name: string) => weight(w, name);
    // Each projection with its bias when the model has one (Qwen2's q/k/v, Llama's attention_bias / mlp_bias).
    const P = projector(w, adapters, input.dropoutSeed);
    const { batch: B, length: T } = input;
    const rope = ropeTables(input.positions, c.headDim, inverseFrequencies(c.headDim, c.ropeTheta, c.ropeScaling));
    let x = embeddingLookup(W('model.embed_tokens.weight') as tf.Tensor2D, tf.reshape(input.ids, [B * T])) as tf.Tensor2D;
    for (let i = 0; i < c.nLayers; i++) {
      const layer = `model.layers.${i}.`;
      x = runBlock(x, input, w, adapters, layer, [input.attentionBias, rope.cos, rope.sin, rope.rotateHalf], (x, [attentionBias, cos, sin, rotateHalf]) => {
        const tables = { cos, sin, rotateHalf: rotateHalf as tf.Tensor2D };
        const p = layer + 'self_attn.';
        const h = rmsNorm(x, W(layer + 'input_layernorm.weight'), c.normEps);
        const q = applyRope(P(p + 'q_proj', h), c.nHeads, c.headDim, tables);
        const k = applyRope(P(p + 'k_proj', h), c.nKvHeads, c.headDim, tables);
        const v = P(p + 'v_proj', h);
        const shape = { batch: B, length: T, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim };
        const { out, present } = attention(q, k, v, attentionBias, shape, cacheSlot(cache, i));
        updateCache(cache, i, present);
        const attended = tf.add(x, P(p + 'o_proj', out)) as tf.Tensor2D;
        const m = layer + 'mlp.';
        const g = rmsNorm(attended, W(layer + 'post_attention_layernorm.weight'), c.normEps);
        const gated = tf.mul(silu(P(m + 'gate_proj', g)), P(m + 'up_proj', g));
        return tf.add(attended, P(m + 'down_proj', gated)) as tf.Tensor2D;
      });
    }
    return rmsNorm(selectColumns(x, input), W('model.norm.weight'), c.normEps);
  },

  outputHead(w: Weights, c: ModelConfig, input: ForwardInput, adapters?: LoraAdapters | null): OutputHead {
    if (c.tieEmbeddings) {
      // The fused head reads the table itself; only the logits path needs (and caches) its transpose.
      const table = weight(w, 'model.embed_tokens.weight');
      return { weight: { table: table as tf.Tensor2D }, apply: (x) => linear(x, tiedHead(table)) };
    }
    const project = projector(w, adapters, input.dropoutSeed);
    const head = adapters?.hasModule('lm_head') || w.has('lm_head.bias') ? null : (weight(w, 'lm_head.weight') as tf.Tensor2D);
    return { weight: head && { matrix: head }, apply: (x) => project('lm_head', x) };
  },
};
