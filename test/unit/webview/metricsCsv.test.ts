import * as assert from 'assert';
import type { MetricsRecord } from '../../../src/protocol';
import { metricKeys, metricsCsv } from '../../../webview/series';

describe('CSV of every metric', () => {
  it('one column per logged key (first-seen order), empty fields for null or missing, a resumed step once', () => {
    const t = Date.UTC(2026, 0, 1);
    const records: MetricsRecord[] = [
      { step: 1, time: t, metrics: { reward: 0.5, reward_std: 0.1 } },
      { step: 2, time: t + 1000, metrics: { reward: null, loss: 0.2 } },
      // Resumed from step 1: the later line of step 2 wins.
      { step: 2, time: t + 5000, metrics: { reward: 0.7, reward_std: 0.3, loss: 0.25 } },
    ];
    assert.deepStrictEqual(metricKeys(records), ['reward', 'reward_std', 'loss']);
    assert.strictEqual(
      metricsCsv([{ runId: 'r', records }, { runId: 'other, "quoted"', records: [{ step: 1, time: t, metrics: { loss: null, extra: 3 } }] }]),
      [
        'run,step,time,reward,reward_std,loss,extra',
        'r,1,2026-01-01T00:00:00.000Z,0.5,0.1,,',
        'r,2,2026-01-01T00:00:05.000Z,0.7,0.3,0.25,',
        '"other, ""quoted""",1,2026-01-01T00:00:00.000Z,,,,3',
        '',
      ].join('\n'),
    );
  });
});
