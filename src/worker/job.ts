import type { GroupRecord } from '../protocol';

export interface StepResult {
  metrics: Record<string, number>;
  groups: GroupRecord[];
}

/** A task's training state: each call to `step` samples, scores and updates once. */
export interface TrainingJob {
  step(step: number): StepResult | Promise<StepResult>;
  dispose(): void;
}
