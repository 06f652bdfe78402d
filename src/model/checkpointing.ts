/**
 * Gradient checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"; transformers'
 * `gradient_checkpointing`): a transformer block runs forward without keeping its intermediates, and its backward
 * runs the block again under a tape of its own. A training step then holds every block's input, not every block's
 * activations — for GPT-2-124M about 130 MiB per layer for 4 rows of 96 tokens, against 1 MiB — at the price of one
 * more forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tapeIsRecording } from './model';
import { upstream } from './tensorIo';

/** Blocks whose forward is running inside a checkpointed op (no tape: the engine does not record inside a kernel). */
let checkpointedForwards = 0;

/**
 * Whether this forward computes something a gradient will be taken of: a tape is recording, or a checkpointed block
 * runs its first, tape-less pass (its backward repeats it under a tape, and both passes must draw the same values —
 * LoRA dropout's masks).
 */
export function inTrainingForward(): boolean {
  return tapeIsRecording() || checkpointedForwards > 0;
}

/** A block's computation: x and the tensors it reads besides x and the weights (attention mask, RoPE tables). */
export type Block = (x: tf.Tensor2D, captured: tf.Tensor[]) => tf.Tensor2D;

/**
 * block(x), its activations recomputed in the backward pass. `trainables` are the tensors a gradient must reach
 * through the block besides x (the block's trainable weights or LoRA adapters, which it reads as closures);
 * `captured` are the other tensors it reads, saved for the recomputation (the forward's own are freed by then), so
 * the block must read them from its argument, not from a closure. x's gradient is returned too. The block must
 * compute the same values when run again (a seeded dropout does). Without a tape this is just block(x).
 */
export function checkpointed(x: tf.Tensor2D, trainables: tf.Tensor[], captured: tf.Tensor[], block: Block): tf.Tensor2D {
  if (!tapeIsRecording()) return block(x, captured);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor2D;
    (args[args.length - 1] as tf.GradSaveFunc)([input, ...captured]);
    checkpointedForwards++;
    let value: tf.Tensor2D;
    try {
      value = block(input, captured);
    } finally {
      checkpointedForwards--;
    }
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => blockGradients(saved[0] as tf.Tensor2D, trainables, saved.slice(1), block, upstream(dy)),
    };
  });
  return op(x, ...trainables) as tf.Tensor2D;
}

/** The backward of a checkpointed block: its forward again under a nested tape, then dy back to x and the trainables. */
function blockGradients(x: tf.Tensor2D, trainables: tf.Tensor[], captured: tf.Tensor[], block: Block, dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine();
  // The outer backward is still walking its tape: the nested gradients() would replace the engine's active tape
  // with its own and leave it null, and the outer one then fails to free its saved tensors.
  const outerTape = engine.state.activeTape;
  try {
    const { value, grads } = engine.gradients(() => block(x, captured), [x, ...trainables], dy as tf.Tensor2D, true);
    value.dispose();
    // A trainable the block does not reach (none today) gets a zero gradient: customGrad needs one per input.
    return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? x : trainables[i - 1]));
  } finally {
    engine.state.activeTape = outerTape;
  }
}
