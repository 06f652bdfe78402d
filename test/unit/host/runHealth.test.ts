import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_HEALTH_THRESHOLDS, MetricsRecord, RUN_FILES } from '../../../src/protocol';
import { healthBadge, RunHealthScanner } from '../../../src/host/runHealth';

const row = (step: number, kl: number): MetricsRecord => ({ step, time: step * 1000, metrics: { reward: 0.5, loss: 0.1, kl } });
const lines = (rows: MetricsRecord[]) => rows.map((r) => JSON.stringify(r) + '\n').join('');

describe('run health for the Runs tree', () => {
  let runDir: string;

  beforeEach(() => {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-health-'));
  });

  afterEach(() => fs.rmSync(runDir, { recursive: true, force: true }));

  it('reads appended rows incrementally, and rescans when the thresholds change', () => {
    const file = path.join(runDir, RUN_FILES.metrics);
    fs.writeFileSync(file, lines([1, 2, 3].map((s) => row(s, 0.01))));
    const scanner = new RunHealthScanner();
    assert.deepStrictEqual(scanner.alerts(runDir, DEFAULT_HEALTH_THRESHOLDS), []);
    // A live step with a KL spike, and a torn last line the worker is still writing.
    fs.appendFileSync(file, lines([row(4, 3)]) + '{"step": 5, "ti');
    const alerts = scanner.alerts(runDir, DEFAULT_HEALTH_THRESHOLDS);
    assert.deepStrictEqual(alerts.map((a) => [a.rule, a.steps]), [['kl-blowup', [4]]]);
    assert.deepStrictEqual(scanner.alerts(runDir, { ...DEFAULT_HEALTH_THRESHOLDS, klMax: 5 }), []);
    // A run without a metrics file yet has no alerts (and no error).
    assert.deepStrictEqual(scanner.alerts(path.join(runDir, 'missing'), DEFAULT_HEALTH_THRESHOLDS), []);
  });

  it('the badge: none without alerts; a warning sign and one tooltip line per alert', () => {
    assert.strictEqual(healthBadge([]), undefined);
    const badge = healthBadge([
      { rule: 'kl-blowup', message: 'KL to the reference above 1 (up to 3) at step 4', steps: [4], source: 'train' },
      { rule: 'reward-failures', message: '1 sample whose reward failed, at step 2', steps: [2], source: 'train' },
    ]);
    assert.deepStrictEqual(badge, {
      badge: '⚠',
      tooltip: '2 health alerts (open the dashboard for the steps)\nKL to the reference above 1 (up to 3) at step 4\n1 sample whose reward failed, at step 2',
    });
  });
});
