/** Reading metrics in tests: a record stores NaN as null, which these tests treat as a failure naming the key. */
import * as assert from 'assert';
import type { MetricsRecord } from '../../src/protocol';

export function numericMetrics(record: MetricsRecord): Record<string, number> {
  const values: Record<string, number> = {};
  for (const [key, value] of Object.entries(record.metrics)) {
    assert.ok(value !== null, `step ${record.step}: metric ${key} is null (NaN when written)`);
    values[key] = value;
  }
  return values;
}
