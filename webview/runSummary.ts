/** One-line descriptions of a run's setup for the dashboard header. */
import type { LoraSpec } from '../src/protocol/config';
import { RUN_FORMAT_LABELS, type RunSource } from '../src/protocol/runSource';

/** "LoRA r 16 · α 32 · all-linear" for a LoRA run's header (PEFT's defaults where unset), or undefined. */
export function loraSummary(lora: LoraSpec | undefined): string | undefined {
  if (!lora) return undefined;
  if (lora.adapter_path !== undefined) return `LoRA from ${lora.adapter_path.split(/[\\/]/).pop()}`;
  const targets = lora.target_modules === undefined ? 'default targets' : Array.isArray(lora.target_modules) ? lora.target_modules.join(', ') : lora.target_modules;
  return `LoRA r ${lora.r ?? 8} · α ${lora.lora_alpha ?? 8} · ${targets}`;
}

/**
 * "verl run · derived: advantage" for another trainer's run, with a tooltip saying what was derived and which
 * metrics were renamed to ours (and from what); undefined for our own runs.
 */
export function sourceSummary(source: RunSource | undefined): { text: string; tooltip: string } | undefined {
  if (!source) return undefined;
  const derived = source.derived.map((d) => d.split(':')[0]);
  const renamed = Object.entries(source.metricOrigins).map(([ours, theirs]) => `${ours} ← ${theirs}`);
  return {
    text: [`${RUN_FORMAT_LABELS[source.format]} run`, derived.length ? `derived: ${derived.join(', ')}` : ''].filter(Boolean).join(' · '),
    tooltip: [...source.derived, renamed.length ? `Metrics shown under our names (ours ← ${RUN_FORMAT_LABELS[source.format]}'s): ${renamed.join(', ')}` : ''].filter(Boolean).join('\n\n'),
  };
}
