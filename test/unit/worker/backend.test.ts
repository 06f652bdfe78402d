/**
 * Backend choice: auto's order and its recorded reasons, errors that say why and how to fix, the software-adapter
 * rule, and the doctor's remedies. Written to pass on any machine: what depends on the optional packages or on a
 * Vulkan driver is checked in whichever form this machine gives.
 */
import { strict as assert } from 'assert';
import { BACKEND_NAMES, RUN_CONFIG_SCHEMA } from '../../../src/protocol';
import { activateBackend, AUTO_ORDER, BackendUnavailable, selectBackend } from '../../../src/worker/backend';
import { wasmThreadCount } from '../../../src/worker/wasmThreads';
import { DoctorReport, formatReport, remedies, SystemReport } from '../../../src/worker/doctor';
import { DAWN_NOT_INSTALLED, loadDawnGpu, requestAdapter, summarizeAdapter } from '../../../src/worker/webgpu';

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

describe('backend choice', () => {
  after(async () => {
    await selectBackend('wasm');
  });

  it('offers auto, tensorflow, webgpu, wasm and cpu, auto trying them in that order', () => {
    assert.deepEqual([...BACKEND_NAMES], ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']);
    assert.deepEqual([...AUTO_ORDER], ['tensorflow', 'webgpu', 'wasm', 'cpu']);
    const schema = RUN_CONFIG_SCHEMA.properties?.backend as { enum?: readonly string[] };
    assert.deepEqual([...(schema.enum ?? [])], [...BACKEND_NAMES]);
  });

  it('auto for a run records why every skipped backend was skipped, webgpu included', async () => {
    const choice = await selectBackend('auto');
    const tried = AUTO_ORDER.slice(0, AUTO_ORDER.indexOf(choice.name as (typeof AUTO_ORDER)[number]));
    assert.deepEqual(choice.fallbacks.map((f) => f.split(':')[0]), tried);
    // Runs read asynchronously: webgpu is skipped only when it does not load, or offers only a software adapter.
    const webgpu = choice.fallbacks.find((f) => f.startsWith('webgpu:'));
    if (webgpu) assert.doesNotMatch(webgpu, /synchronous/);
    if (choice.name === 'webgpu') assert.doesNotMatch(choice.device, /software/);
    assert.ok(choice.device.length > 0);
  });

  it('a named backend that cannot load is an error with the reason and the fix', async function () {
    const saved = process.env.GRPO_DAWN_NODE;
    process.env.GRPO_DAWN_NODE = '/nonexistent/dawn.node';
    try {
      await assert.rejects(selectBackend('webgpu'), (err: Error) => {
        assert.match(err.message, /backend 'webgpu' cannot be used: dawn\.node did not load/);
        assert.match(err.message, /To fix: install the optional package "webgpu"/);
        assert.match(err.message, /"auto" takes whatever loads; "GRPO: Check GPU Setup"/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.GRPO_DAWN_NODE;
      else process.env.GRPO_DAWN_NODE = saved;
    }
    if (installed('@tensorflow/tfjs-node-gpu') || installed('@tensorflow/tfjs-node')) return;
    await assert.rejects(selectBackend('tensorflow'), (err: Error) => {
      assert.match(err.message, /@tensorflow\/tfjs-node-gpu is not usable/);
      assert.match(err.message, /CUDA 11\.2 \+ cuDNN 8\.1 \+ libtensorflow 2\.9\.1/);
      assert.match(err.message, /npm install --ignore-scripts.*deps\/.*scripts\/install\.js gpu.*TFJS_NODE_BASE_URI/);
      return true;
    });
  });

  it('wasm and cpu always load and name their device', async () => {
    assert.deepEqual(await selectBackend('cpu'), { name: 'cpu', device: 'CPU (plain JavaScript)', fallbacks: [] });
    // One XNNPACK thread per CPU (at most 8) unless GRPO_WASM_THREADS says otherwise; see wasmThreads.test.ts.
    const threads = wasmThreadCount();
    const device = `CPU (WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'})`;
    assert.deepEqual(await selectBackend('wasm'), { name: 'wasm', device, fallbacks: [] });
  });

  it('tells software WebGPU adapters from GPUs', () => {
    const llvmpipe = { info: { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe: Mesa 25.0.7' } };
    assert.equal(summarizeAdapter(llvmpipe).software, true);
    assert.equal(summarizeAdapter({ info: { description: 'Some GPU', isFallbackAdapter: true } }).software, true);
    assert.equal(summarizeAdapter({ isFallbackAdapter: true }).software, true);
    assert.equal(summarizeAdapter({ info: { description: 'SwiftShader Device (Subzero)' } }).software, true);
    const h100 = summarizeAdapter({ info: { vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' } });
    assert.deepEqual(h100, { description: 'NVIDIA H100 80GB HBM3', vendor: 'nvidia', architecture: 'hopper', software: false, maxBindingBytes: null });
    assert.equal(summarizeAdapter({ info: { description: 'GPU' }, limits: { maxStorageBufferBindingSize: 2 ** 31 } }).maxBindingBytes, 2 ** 31);
  });

  it('auto never takes a software WebGPU adapter; webgpu named explicitly may', async () => {
    try {
      const device = await activateBackend('webgpu', { allowSoftwareAdapter: false });
      assert.doesNotMatch(device, /software/);
    } catch (err) {
      assert.ok(err instanceof BackendUnavailable);
      console.log(`      webgpu for auto here: ${err.reason}`);
      assert.ok(err.fix.length > 0);
    }
  });

  it('a dawn.node that does not load is reported as such', async () => {
    const saved = process.env.GRPO_DAWN_NODE;
    process.env.GRPO_DAWN_NODE = '/nonexistent/dawn.node';
    try {
      await assert.rejects(loadDawnGpu(), (err: unknown) => err instanceof BackendUnavailable && /dawn\.node did not load/.test(err.reason));
    } finally {
      if (saved === undefined) delete process.env.GRPO_DAWN_NODE;
      else process.env.GRPO_DAWN_NODE = saved;
    }
  });
});

describe('asking Dawn for an adapter', () => {
  const fakeGpu = () => {
    const calls: unknown[] = [];
    const gpu = { requestAdapter: async (options?: unknown) => (calls.push(options), { info: { description: 'NVIDIA H100', vendor: 'nvidia', architecture: 'hopper' } }) };
    return { gpu, calls };
  };

  it('on Linux without the Vulkan loader does not ask Dawn (whose own warning would go to stderr) and says why', async () => {
    const { gpu, calls } = fakeGpu();
    await assert.rejects(requestAdapter(gpu, null, 'linux'), (err: unknown) => err instanceof BackendUnavailable && err.reason === 'Dawn found no GPU adapter: the Vulkan loader libvulkan.so.1 is not installed' && /libvulkan1/.test(err.fix));
    assert.deepEqual(calls, []);
  });

  it('asks Dawn where a loader is, or on other platforms', async () => {
    for (const [loader, platform] of [['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', 'linux'], [null, 'darwin']] as const) {
      const { gpu, calls } = fakeGpu();
      assert.equal((await requestAdapter(gpu, loader, platform)).description, 'NVIDIA H100');
      assert.deepEqual(calls, [{ powerPreference: 'high-performance' }]);
    }
  });
});

describe('GPU setup report', () => {
  const bare: SystemReport = {
    platform: 'linux x64',
    node: 'v20',
    cpus: 16,
    nvidiaGpus: ['NVIDIA H100 80GB HBM3, 580.159.04, 81559 MiB'],
    vulkanLoader: null,
    vulkanDrivers: [],
    cudaRuntime: null,
    cudnn: null,
    tfjsNodeGpu: { installed: false, libtensorflow: false, binding: false, dir: null },
  };
  const report: DoctorReport = {
    system: bare,
    backends: [
      { name: 'tensorflow', loads: false, detail: 'not installed', fix: '' },
      { name: 'webgpu', loads: false, detail: 'Dawn found no GPU adapter: the Vulkan loader libvulkan.so.1 is not installed', fix: '' },
      { name: 'wasm', loads: true, detail: 'CPU (WebAssembly SIMD, 1 thread)' },
      { name: 'cpu', loads: true, detail: 'CPU (plain JavaScript)' },
    ],
    autoForRuns: 'wasm',
  };

  it('gives the exact steps for a GPU machine with nothing installed', () => {
    const steps = remedies(report).join('\n');
    assert.match(steps, /apt-get install libvulkan1/);
    assert.match(steps, /nvidia_icd\.json/);
    assert.match(steps, /CUDA 11\.2 runtime/);
    assert.match(steps, /cuDNN 8\.1/);
    assert.match(steps, /npm install --ignore-scripts @tensorflow\/tfjs-node-gpu@4\.22\.0/);
    assert.match(steps, /libtensorflow-gpu-linux-x86_64-2\.9\.1\.tar\.gz -C .*\/deps/);
    assert.match(steps, /TFJS_NODE_BASE_URI/);
    assert.match(steps, /node scripts\/install\.js gpu/);
  });

  it('advises on the real cause: Dawn installed without a Vulkan loader is not told to install Dawn; Dawn missing is', () => {
    const noLoader = remedies(report);
    assert.ok(!noLoader.some((s) => /npm install webgpu/.test(s)), noLoader.join('\n'));
    assert.match(noLoader[0], /^Dawn is installed but found no Vulkan loader \(libvulkan\.so\.1\): `sudo apt-get install libvulkan1`.*mesa-vulkan-drivers/);
    const noDawn: DoctorReport = {
      ...report,
      backends: report.backends.map((b) => (b.name === 'webgpu' ? { ...b, detail: DAWN_NOT_INSTALLED } : b)),
    };
    const steps = remedies(noDawn);
    assert.match(steps[0], /^Install Dawn for Node: `npm install webgpu@\^0\.6\.2`/);
    assert.match(steps[1], /^Install the Vulkan loader: `sudo apt-get install libvulkan1`/);
    // Dawn there but its native part failing to load, with a loader present: the backend's own fix, no install step.
    const broken: DoctorReport = {
      ...report,
      system: { ...bare, vulkanLoader: '/usr/lib/libvulkan.so.1', vulkanDrivers: ['nvidia_icd.json'] },
      backends: report.backends.map((b) => (b.name === 'webgpu' ? { ...b, detail: 'dawn.node did not load: GLIBC_2.38 not found', fix: 'the fix' } : b)),
    };
    const brokenSteps = remedies(broken);
    assert.equal(brokenSteps[0], 'the fix');
    assert.ok(!brokenSteps.some((s) => /npm install webgpu|Vulkan loader/.test(s)), brokenSteps.join('\n'));
  });

  it('suggests backports Mesa for a software adapter on a machine without a GPU, and points a GPU machine with only a software adapter at its driver', () => {
    const noGpu = { ...report, system: { ...bare, nvidiaGpus: [], vulkanLoader: '/usr/lib/libvulkan.so.1' } };
    assert.match(remedies(noGpu).join('\n'), /bookworm-backports mesa-vulkan-drivers/);
    const softwareOnly: DoctorReport = {
      ...report,
      system: { ...bare, vulkanLoader: '/usr/lib/libvulkan.so.1', vulkanDrivers: ['lvp_icd.json'] },
      backends: report.backends.map((b) => (b.name === 'webgpu' ? { ...b, loads: true, detail: 'llvmpipe (WebGPU on a software Vulkan driver)' } : b)),
    };
    assert.match(remedies(softwareOnly).join('\n'), /VK_DRIVER_FILES/);
  });

  it('formats backends, the machine and numbered steps as Markdown', () => {
    const text = formatReport(report);
    assert.match(text, /^# GRPO Studio: GPU setup/);
    assert.match(text, /- \*\*webgpu\*\*: does not load: Dawn found no GPU adapter/);
    assert.match(text, /NVIDIA GPUs \(nvidia-smi\): NVIDIA H100/);
    assert.match(text, /\n1\. /);
  });
});
