/**
 * `grpo-studio doctor` and "GRPO: Check GPU Setup": which backends load on this machine, which GPU they see, and
 * the exact steps that would enable the missing ones. Runs in its own process (the CLI), never in the extension
 * host: loading libtensorflow or dawn.node there could take the editor down with it.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { activateBackend, AUTO_ORDER, BackendUnavailable, ConcreteBackend, firstLine } from './backend';
import { compareNumerics, outOfTolerance, runNumerics } from './numerics';
import { DAWN_NOT_INSTALLED, findVulkanLoader } from './webgpu';

export interface BackendReport {
  name: ConcreteBackend;
  loads: boolean;
  /** Device when it loads; why not otherwise. */
  detail: string;
  fix?: string;
  /** Difference from wasm on the numerics scenario, when asked for. */
  numerics?: string;
}

export interface SystemReport {
  platform: string;
  node: string;
  cpus: number;
  /** `nvidia-smi` name, driver and memory per GPU; empty when there is no NVIDIA driver. */
  nvidiaGpus: string[];
  vulkanLoader: string | null;
  vulkanDrivers: string[];
  cudaRuntime: string | null;
  cudnn: string | null;
  tfjsNodeGpu: { installed: boolean; libtensorflow: boolean; binding: boolean; dir: string | null };
}

export interface DoctorReport {
  system: SystemReport;
  backends: BackendReport[];
  /** What `auto` gives a training run here, and why the ones before it were skipped. */
  autoForRuns: string;
}

const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const LIBTENSORFLOW_URL = 'https://storage.googleapis.com/tensorflow/libtensorflow/libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz';

function run(command: string, args: string[]): string | null {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    return null;
  }
}

function nvidiaGpus(): string[] {
  const out = run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader']);
  return out ? out.trim().split('\n').filter(Boolean) : [];
}

/** A shared library as the dynamic loader would find it: LD_LIBRARY_PATH first, then the ldconfig cache. */
function findSharedLibrary(soname: string): string | null {
  for (const dir of (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) {
    if (fs.existsSync(path.join(dir, soname))) return path.join(dir, soname);
  }
  const cache = run('ldconfig', ['-p']) ?? run('/sbin/ldconfig', ['-p']) ?? '';
  const line = cache.split('\n').find((l) => l.trim().startsWith(soname + ' '));
  return line ? line.split('=>')[1]?.trim() ?? soname : null;
}

function vulkanDrivers(): string[] {
  const explicit = (process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? '').split(':').filter(Boolean);
  if (explicit.length > 0) return explicit.map((f) => `${f}${fs.existsSync(f) ? '' : ' (missing)'} (from VK_DRIVER_FILES)`);
  return ICD_DIRS.filter((d) => fs.existsSync(d)).flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => path.join(d, f)));
}

function tfjsNodeGpuState(): SystemReport['tfjsNodeGpu'] {
  let dir: string | null = null;
  try {
    dir = path.dirname(require.resolve('@tensorflow/tfjs-node-gpu/package.json'));
  } catch {
    return { installed: false, libtensorflow: false, binding: false, dir: null };
  }
  const libDir = path.join(dir, 'lib');
  const binding = fs.existsSync(libDir) && fs.readdirSync(libDir).some((d) => fs.existsSync(path.join(libDir, d, 'tfjs_binding.node')));
  return { installed: true, libtensorflow: fs.existsSync(path.join(dir, 'deps', 'lib', 'libtensorflow.so.2')), binding, dir };
}

export function systemReport(): SystemReport {
  return {
    platform: `${process.platform} ${process.arch} (${os.release()})`,
    node: process.version,
    cpus: os.cpus().length,
    nvidiaGpus: nvidiaGpus(),
    vulkanLoader: findVulkanLoader(),
    vulkanDrivers: vulkanDrivers(),
    cudaRuntime: findSharedLibrary('libcudart.so.11.0'),
    cudnn: findSharedLibrary('libcudnn.so.8'),
    tfjsNodeGpu: tfjsNodeGpuState(),
  };
}

/** Loads each backend in turn (software WebGPU adapters included: the report says which kind it is). */
async function probeBackends(withNumerics: boolean): Promise<BackendReport[]> {
  const reports: BackendReport[] = [];
  const reference = withNumerics ? await wasmReference() : undefined;
  for (const name of AUTO_ORDER) {
    try {
      const detail = await activateBackend(name, { allowSoftwareAdapter: true });
      const report: BackendReport = { name, loads: true, detail };
      if (reference && name !== 'wasm') report.numerics = await numericsAgainst(reference);
      reports.push(report);
    } catch (err) {
      const unavailable = err instanceof BackendUnavailable ? err : new BackendUnavailable(firstLine(err), '');
      reports.push({ name, loads: false, detail: unavailable.reason, fix: unavailable.fix });
    }
  }
  return reports;
}

async function wasmReference(): Promise<Awaited<ReturnType<typeof runNumerics>>> {
  await activateBackend('wasm', { allowSoftwareAdapter: false });
  const result = await runNumerics('small');
  return result;
}

async function numericsAgainst(reference: Awaited<ReturnType<typeof runNumerics>>): Promise<string> {
  const difference = compareNumerics(await runNumerics('small'), reference);
  const bad = outOfTolerance(difference);
  const values = Object.entries(difference).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ');
  return `${bad.length === 0 ? 'agrees with wasm' : `DIFFERS from wasm in ${bad.join(', ')}`} (${values})`;
}

/** What a training run's `auto` would pick: the first backend that loads, a software WebGPU adapter ruled out. */
function autoForRuns(backends: BackendReport[]): string {
  const skipped: string[] = [];
  for (const b of backends) {
    if (b.name === 'webgpu' && b.loads && isSoftwareAdapter(b)) {
      skipped.push(`webgpu (only a software adapter, slower than wasm on this CPU; a run that names "webgpu" uses it: ${b.detail})`);
      continue;
    }
    if (b.loads) return `${b.name}: ${b.detail}${skipped.length ? `; skipped ${skipped.join('; ')}` : ''}`;
    skipped.push(`${b.name} (${b.detail})`);
  }
  return `nothing loads; skipped ${skipped.join('; ')}`;
}

/** The device string of a webgpu backend on Mesa llvmpipe or SwiftShader ("… (WebGPU on a software Vulkan driver …)"). */
function isSoftwareAdapter(webgpu: BackendReport): boolean {
  return /software/.test(webgpu.detail);
}

export async function doctor(options: { numerics?: boolean } = {}): Promise<DoctorReport> {
  const system = systemReport();
  const backends = await probeBackends(options.numerics ?? false);
  await tf.setBackend(backends.find((b) => b.name === 'wasm')?.loads ? 'wasm' : 'cpu');
  return { system, backends, autoForRuns: autoForRuns(backends) };
}

/** Exact steps for what is missing, in the order that unblocks the most. */
export function remedies(report: DoctorReport): string[] {
  const { system } = report;
  const steps: string[] = [];
  const webgpu = report.backends.find((b) => b.name === 'webgpu');
  const tensorflow = report.backends.find((b) => b.name === 'tensorflow');
  if (webgpu && !webgpu.loads) steps.push(...webgpuSteps(system, webgpu));
  if (webgpu?.loads && isSoftwareAdapter(webgpu) && system.nvidiaGpus.length > 0) {
    steps.push(`WebGPU found only a software adapter although nvidia-smi sees ${system.nvidiaGpus[0]}: point Vulkan at the NVIDIA driver, e.g. export VK_DRIVER_FILES=/usr/share/vulkan/icd.d/nvidia_icd.json (or /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json in containers).`);
  }
  if (tensorflow && !tensorflow.loads) steps.push(...tensorflowSteps(system));
  return steps;
}

function webgpuSteps(system: SystemReport, webgpu: BackendReport): string[] {
  const steps: string[] = [];
  // Dawn's absence by its own reason: other reasons say "not installed" too (the Vulkan loader's).
  const dawnMissing = webgpu.detail.includes(DAWN_NOT_INSTALLED);
  if (dawnMissing) steps.push('Install Dawn for Node: `npm install webgpu@^0.6.2` in the extension (or CLI) folder.');
  if (!system.vulkanLoader) {
    steps.push(dawnMissing
      ? 'Install the Vulkan loader: `sudo apt-get install libvulkan1` (Debian/Ubuntu).'
      : 'Dawn is installed but found no Vulkan loader (libvulkan.so.1): `sudo apt-get install libvulkan1` (Debian/Ubuntu), and a Vulkan driver if none is installed (mesa-vulkan-drivers for a software one).');
  }
  const missing = system.vulkanDrivers.filter((d) => d.includes('(missing)')).map((d) => d.split(' ')[0]);
  if (missing.length > 0) steps.push(`VK_DRIVER_FILES names ${missing.join(', ')}, which does not exist: correct the path or unset it.`);
  if (system.vulkanDrivers.length === 0 || /no GPU adapter/.test(webgpu.detail)) {
    steps.push(
      system.nvidiaGpus.length > 0
        ? 'Give Vulkan the NVIDIA driver: install the driver\'s Vulkan part (libnvidia-gl-<version>, which provides /usr/share/vulkan/icd.d/nvidia_icd.json), or export VK_DRIVER_FILES=<path to nvidia_icd.json>.'
        : 'Without a GPU, a software adapter serves for testing: Debian 12 needs Mesa ≥ 24 from backports: add `deb http://deb.debian.org/debian bookworm-backports main` to the apt sources, then `sudo apt-get update && sudo apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`.',
    );
  }
  if (steps.length === 0 && webgpu.fix) steps.push(webgpu.fix);
  return steps;
}

function tensorflowSteps(system: SystemReport): string[] {
  const steps: string[] = [];
  const dir = system.tfjsNodeGpu.dir ?? 'node_modules/@tensorflow/tfjs-node-gpu';
  if (system.nvidiaGpus.length > 0 && !system.cudaRuntime) steps.push('Install the CUDA 11.2 runtime (libcudart.so.11.0), which libtensorflow 2.9.1 is built against; newer CUDA majors do not satisfy it.');
  if (system.nvidiaGpus.length > 0 && !system.cudnn) steps.push('Install cuDNN 8.1 for CUDA 11.x (libcudnn.so.8).');
  if (!system.tfjsNodeGpu.installed) {
    steps.push('Install the package without its download step: `npm install --ignore-scripts @tensorflow/tfjs-node-gpu@4.22.0`.');
  }
  if (!system.tfjsNodeGpu.libtensorflow) {
    steps.push(
      `Offline: fetch ${LIBTENSORFLOW_URL} on a connected machine, copy it here, then \`mkdir -p ${dir}/deps && tar -xzf libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz -C ${dir}/deps\`. ` +
        'Or with a mirror: `export TFJS_NODE_BASE_URI=https://<mirror>/libtensorflow-` (the script appends `gpu-linux-x86_64-2.9.1.tar.gz`).',
    );
  }
  if (!system.tfjsNodeGpu.binding) {
    steps.push(`Build the binding: \`cd ${dir} && node scripts/install.js gpu\` (downloads the prebuilt binding, else compiles it: needs build-essential, python3 and Node headers, e.g. npm_config_nodedir).`);
  }
  return steps;
}

/** The report as Markdown, for the terminal and for the editor's document. */
export function formatReport(report: DoctorReport): string {
  const { system } = report;
  const lines = ['# GRPO Studio: GPU setup', '', `${system.platform}, Node ${system.node}, ${system.cpus} CPU cores`, '', '## Backends', ''];
  for (const b of report.backends) {
    lines.push(`- **${b.name}**: ${b.loads ? `loads: ${b.detail}` : `does not load: ${b.detail}`}`);
    if (b.numerics) lines.push(`  - numerics: ${b.numerics}`);
  }
  lines.push('', `Training runs with \`auto\` get **${report.autoForRuns}**.`, '', '## What this machine has', '');
  lines.push(`- NVIDIA GPUs (nvidia-smi): ${system.nvidiaGpus.length ? system.nvidiaGpus.join('; ') : 'none found'}`);
  lines.push(`- Vulkan loader: ${system.vulkanLoader ?? 'not found (libvulkan.so.1)'}`);
  lines.push(`- Vulkan drivers: ${system.vulkanDrivers.length ? system.vulkanDrivers.map((d) => path.basename(d)).join(', ') : 'none'}`);
  lines.push(`- CUDA 11 runtime (libcudart.so.11.0): ${system.cudaRuntime ?? 'not found'}; cuDNN 8 (libcudnn.so.8): ${system.cudnn ?? 'not found'}`);
  const t = system.tfjsNodeGpu;
  lines.push(`- @tensorflow/tfjs-node-gpu: ${t.installed ? `installed; libtensorflow ${t.libtensorflow ? 'present' : 'missing'}; binding ${t.binding ? 'built' : 'missing'}` : 'not installed'}`);
  const steps = remedies(report);
  lines.push('', '## To enable what is missing', '');
  lines.push(...(steps.length ? steps.map((s, i) => `${i + 1}. ${s}`) : ['Nothing: every backend loads.']));
  lines.push('', 'Details: README, "Backends", and docs/gpu.md.');
  return lines.join('\n') + '\n';
}
