/**
 * WebGPU in Node through Dawn: the optional npm package `webgpu` ships `dawn.node` (linux-x64, linux-arm64, macOS,
 * Windows), which talks to the GPU through Vulkan on Linux. Only the few members used here are typed, so that the
 * DOM's WebGPU types need not be pulled into the worker's compilation.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BackendUnavailable, firstLine } from './backendError';

export interface DawnAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export interface DawnAdapter {
  info?: DawnAdapterInfo;
  limits?: { maxStorageBufferBindingSize?: number };
  /** Older Dawn builds put the flag on the adapter itself. */
  isFallbackAdapter?: boolean;
}

export interface DawnGpu {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<DawnAdapter | null>;
}

interface DawnModule {
  create(flags: string[]): DawnGpu;
  /** GPUBufferUsage, GPUMapMode, …: constants that browser code (tfjs-backend-webgpu) expects as globals. */
  globals: Record<string, unknown>;
}

export interface AdapterSummary {
  description: string;
  vendor: string;
  architecture: string;
  /** A CPU rasteriser posing as a GPU (Mesa llvmpipe / lavapipe, SwiftShader). */
  software: boolean;
  /**
   * Largest tensor a shader may bind, in bytes. tfjs-backend-webgpu gives wrong values, with only a Dawn validation
   * message on stderr, for a bigger one (llvmpipe: 128 MiB, less than GPT-2's 154 MB embedding).
   */
  maxBindingBytes: number | null;
}

/**
 * Imported by a name held in a variable, so that neither the type checker nor the bundler requires the optional
 * package to be installed; it is an ES module, hence import() rather than require().
 */
const DAWN_PACKAGE: string = 'webgpu';

/** Where the Vulkan loader usually lives; Dawn opens `libvulkan.so.1` at run time and finds no adapter without it. */
const VULKAN_LOADER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

/** The webgpu backend's reason when the `webgpu` package is absent (the doctor's advice keys on it). */
export const DAWN_NOT_INSTALLED = 'the optional package "webgpu" (Dawn) is not installed';

export const WEBGPU_FIX =
  'install the optional package "webgpu" (npm install) and a Vulkan driver with its loader: ' +
  'Debian/Ubuntu "apt-get install libvulkan1" plus the GPU vendor\'s Vulkan driver (NVIDIA: the driver\'s ' +
  'nvidia_icd.json; set VK_DRIVER_FILES to it when it is not under /usr/share/vulkan/icd.d), or ' +
  'mesa-vulkan-drivers ≥ 24 for a software adapter (Debian 12: from bookworm-backports; docs/gpu.md)';

const VULKAN_LOADER = 'libvulkan.so.1';

/**
 * Path of the Vulkan loader library, or null when neither the usual places nor the dynamic linker's cache
 * (/etc/ld.so.cache, which lists every library `dlopen` finds by name) has it (Linux only).
 */
export function findVulkanLoader(): string | null {
  if (process.platform !== 'linux') return null;
  const extra = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  for (const dir of [...extra, ...VULKAN_LOADER_DIRS]) {
    const file = path.join(dir, VULKAN_LOADER);
    if (fs.existsSync(file)) return file;
  }
  try {
    if (fs.readFileSync('/etc/ld.so.cache').includes(VULKAN_LOADER)) return `${VULKAN_LOADER} (from /etc/ld.so.cache)`;
  } catch {
    // no cache: the directories above were the places to look
  }
  return null;
}

/**
 * Dawn's `GPU` object. `GRPO_DAWN_NODE` may name a `dawn.node` file directly (a bundled worker carried to a machine
 * without node_modules, as the GPU benchmark does); otherwise the `webgpu` package is imported.
 */
export async function loadDawnGpu(): Promise<DawnGpu> {
  const direct = process.env.GRPO_DAWN_NODE;
  let dawn: DawnModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    dawn = direct ? (require(path.resolve(direct)) as DawnModule) : ((await import(DAWN_PACKAGE)) as DawnModule);
  } catch (err) {
    const missing = !direct && /Cannot find (module|package)/.test(String(err));
    const reason = missing ? DAWN_NOT_INSTALLED : `dawn.node did not load: ${firstLine(err)}`;
    throw new BackendUnavailable(reason, WEBGPU_FIX);
  }
  installGlobals(dawn.globals);
  return dawn.create([]);
}

/** Defines Dawn's WebGPU constants as globals where nothing of that name exists yet. */
function installGlobals(globals: Record<string, unknown>): void {
  const scope = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(globals)) if (!(name in scope)) scope[name] = value;
}

/**
 * The adapter tfjs-backend-webgpu will use (it asks for 'high-performance' too), summarised. On Linux without the
 * Vulkan loader Dawn is not asked at all: it would find nothing and print its own warning, with its build machine's
 * source path, straight to the process's stderr (native code, past any Node stream), on every run; the reason is
 * reported once, cleanly, by the caller. `loader`: where the Vulkan loader is (tests pass one).
 */
export async function requestAdapter(gpu: DawnGpu, loader = findVulkanLoader(), platform = process.platform): Promise<AdapterSummary> {
  const noLoader = platform === 'linux' && !loader;
  const adapter = noLoader ? null : await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    const why = noLoader ? `the Vulkan loader ${VULKAN_LOADER} is not installed` : 'no Vulkan driver offers an adapter';
    throw new BackendUnavailable(`Dawn found no GPU adapter: ${why}`, WEBGPU_FIX);
  }
  return summarizeAdapter(adapter);
}

/**
 * Dawn's adapter, asked for in a child process: for `auto`, which only wants to know whether the adapter is a real
 * GPU before it commits to it. Dawn writes warnings of its own to the process's stderr (with a software driver:
 * "maxDynamicUniformBuffersPerPipelineLayout artificially reduced …", on every run), from native code past any Node
 * stream, and keeps its Vulkan instance for the life of the process; in a child both stay there. Resolves to the
 * adapter (null: none), or rejects with BackendUnavailable naming why the child could not tell.
 */
export function probeAdapterInChild(timeoutMs = 30_000): DawnAdapter | null {
  // import() in `node -e` resolves against the working directory: this module's folder finds the same package.
  const result = spawnSync(process.execPath, ['-e', PROBE_SCRIPT], {
    cwd: __dirname,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, GRPO_DAWN_PACKAGE: DAWN_PACKAGE },
  });
  const line = (result.stdout ?? '').trim().split('\n').pop() ?? '';
  let answer: { adapter?: DawnAdapter | null; error?: string } | undefined;
  try {
    answer = JSON.parse(line) as typeof answer;
  } catch {
    const why = result.error ? firstLine(result.error) : `exit ${result.status ?? result.signal}`;
    throw new BackendUnavailable(`the WebGPU adapter probe gave no answer (${why})`, WEBGPU_FIX);
  }
  if (answer?.error !== undefined) {
    const missing = /Cannot find (module|package)/.test(answer.error);
    throw new BackendUnavailable(missing ? DAWN_NOT_INSTALLED : `dawn.node did not load: ${answer.error}`, WEBGPU_FIX);
  }
  return answer?.adapter ?? null;
}

/** The child's side of probeAdapterInChild: one JSON line with the adapter's info (getters copied by name). */
const PROBE_SCRIPT = `
(async () => {
  const direct = process.env.GRPO_DAWN_NODE;
  const dawn = direct ? require(require('path').resolve(direct)) : await import(process.env.GRPO_DAWN_PACKAGE);
  const adapter = await dawn.create([]).requestAdapter({ powerPreference: 'high-performance' });
  const pick = (o, keys) => o ? Object.fromEntries(keys.map((k) => [k, o[k]])) : undefined;
  const info = pick(adapter && adapter.info, ['vendor', 'architecture', 'device', 'description', 'isFallbackAdapter']);
  const limits = pick(adapter && adapter.limits, ['maxStorageBufferBindingSize']);
  process.stdout.write(JSON.stringify({ adapter: adapter ? { info, limits, isFallbackAdapter: adapter.isFallbackAdapter } : null }) + '\\n');
  process.exit(0);
})().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.message || err).split('\\n')[0] }) + '\\n');
  process.exit(0);
});
`;

export function summarizeAdapter(adapter: DawnAdapter): AdapterSummary {
  const info = adapter.info ?? {};
  const description = info.description || info.device || info.vendor || 'unnamed adapter';
  const architecture = info.architecture ?? '';
  const software =
    info.isFallbackAdapter === true ||
    adapter.isFallbackAdapter === true ||
    architecture === 'software' ||
    /llvmpipe|lavapipe|swiftshader/i.test(`${description} ${info.device ?? ''}`);
  return { description, vendor: info.vendor ?? '', architecture, software, maxBindingBytes: adapter.limits?.maxStorageBufferBindingSize ?? null };
}
