/** One-line descriptions of a run's setup for the dashboard header. */
import type { LoraSpec } from '../src/protocol/config';

/** "LoRA r 16 · α 32 · all-linear" for a LoRA run's header (PEFT's defaults where unset), or undefined. */
export function loraSummary(lora: LoraSpec | undefined): string | undefined {
  if (!lora) return undefined;
  if (lora.adapter_path !== undefined) return `LoRA from ${lora.adapter_path.split(/[\\/]/).pop()}`;
  const targets = lora.target_modules === undefined ? 'default targets' : Array.isArray(lora.target_modules) ? lora.target_modules.join(', ') : lora.target_modules;
  return `LoRA r ${lora.r ?? 8} · α ${lora.lora_alpha ?? 8} · ${targets}`;
}
