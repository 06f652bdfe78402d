/**
 * The same model and batch on every backend that loads here agree with the wasm backend: logits within 1e-3
 * relative, the GRPO loss within 1e-3, gradients within 1e-3 relative, and the losses of three Adam steps within
 * 1e-3. A backend that cannot load is skipped with its reason printed. WebGPU runs on whatever adapter Dawn finds,
 * software (Mesa llvmpipe, as in CI) included.
 */
import { strict as assert } from 'assert';
import { activateBackend, BackendUnavailable, ConcreteBackend, selectBackend } from '../../src/worker/backend';
import { compareNumerics, NumericsResult, outOfTolerance, runNumerics } from '../../src/worker/numerics';
import type { PresetName } from '../../src/model';

// tiny: the demo's Llama-style policy; small: the GPT-2-style benchmark shape.
const PRESETS: PresetName[] = ['tiny', 'small'];
const BACKENDS: ConcreteBackend[] = ['webgpu', 'tensorflow', 'cpu'];

describe('backend numerics against wasm', function () {
  this.timeout(300_000);
  const reference = new Map<PresetName, NumericsResult>();

  before(async () => {
    await selectBackend('wasm');
    for (const preset of PRESETS) reference.set(preset, await runNumerics(preset));
  });

  after(async () => {
    await selectBackend('wasm');
  });

  for (const backend of BACKENDS) {
    it(`${backend} agrees with wasm on the tiny and small presets`, async function () {
      let device: string;
      try {
        device = await activateBackend(backend, { allowSoftwareAdapter: true });
      } catch (err) {
        if (!(err instanceof BackendUnavailable)) throw err;
        console.log(`      skipped ${backend}: ${err.reason}`);
        this.skip();
      }
      for (const preset of PRESETS) {
        const difference = compareNumerics(await runNumerics(preset), reference.get(preset)!);
        console.log(`      ${backend} (${device}), ${preset}: ${JSON.stringify(difference, (_, v: unknown) => (typeof v === 'number' ? Number(v.toExponential(2)) : v))}`);
        assert.deepEqual(outOfTolerance(difference), [], `${backend} ${preset}: ${JSON.stringify(difference)}`);
      }
    });
  }
});
