/**
 * Property-based tests (fast-check) of every reader of a run folder and of the run-config validator: random good
 * records mixed with garbage, truncated and ill-typed lines, huge numbers, a byte-order mark, CRLF line ends and a
 * torn last line. A reader never throws out of its API and never drops a good line.
 */
import * as assert from 'assert';
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isMetricsRecord, isRolloutsRecord, MetricsRecord, parseJsonl, parseRunConfig, RolloutsRecord, SchemaError, validateRunConfig } from '../../../src/protocol';
import { latestPerStep, readSnapshot, readSummary } from '../../../src/protocol/runStore';
import { JsonlStepIndex, JsonlTail } from '../../../src/protocol/stepIndex';
import { checkpointProblem } from '../../../src/worker/runDirectory';
import { readLock } from '../../../src/protocol/runLockFile';

const RUNS = 150;

/** Doubles JSON can carry (no NaN/±Infinity: the writer stores NaN as null), huge and tiny ones included. */
const storedNumber = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null), fc.constantFrom(1e308, -1e308, 5e-324, -0, Number.MAX_SAFE_INTEGER));
const metricName = fc.oneof(fc.constantFrom('reward', 'loss', 'kl', 'rewards/arith/mean'), fc.string({ unit: 'grapheme', maxLength: 12 }));
const metricsRecord: fc.Arbitrary<MetricsRecord> = fc.record({
  step: fc.nat({ max: 1e6 }),
  time: fc.double({ noNaN: true, noDefaultInfinity: true }),
  metrics: fc.dictionary(metricName, storedNumber, { maxKeys: 5 }),
});
const rolloutsRecord: fc.Arbitrary<RolloutsRecord> = fc.record({
  step: fc.nat({ max: 50 }),
  groups: fc.array(fc.record({ prompt: fc.string({ unit: 'grapheme', maxLength: 20 }), rollouts: fc.constant([]) }), { maxLength: 3 }),
});

/** Lines that are not a record of the file: garbage text, ill-typed records, JSON that is no object, cut records. */
function badLine<T>(good: fc.Arbitrary<T>, accept: (v: unknown) => boolean): fc.Arbitrary<string> {
  const cut = good.chain((record) => {
    const text = JSON.stringify(record);
    return fc.integer({ min: 1, max: Math.max(1, text.length - 1) }).map((n) => text.slice(0, n));
  });
  return fc
    .oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      cut,
      fc.constantFrom('null', '5', '"text"', '[]', '{}', '{"step":"1","time":0,"metrics":{}}', '{"step":-1,"time":0,"metrics":{},"groups":[]}',
        '{"step":1e400,"time":0,"metrics":{},"groups":[]}', '{"step":1,"time":0,"metrics":{"reward":"high"}}', '{"step":2,"groups":5}', '{"step":1.5,"time":1,"metrics":{}}'),
    )
    // One line each; and never, by chance, a good record.
    .map((line) => line.replace(/[\r\n]/g, ' '))
    .filter((line) => {
      try {
        return !accept(JSON.parse(line));
      } catch {
        return true;
      }
    });
}

interface FileCase<T> {
  text: string;
  good: T[];
}

/** A file of good and bad lines, maybe with a BOM, CRLF line ends and a torn tail. */
function fileOf<T>(good: fc.Arbitrary<T>, accept: (v: unknown) => boolean): fc.Arbitrary<FileCase<T>> {
  const line = fc.oneof({ arbitrary: good.map((record) => ({ record, text: JSON.stringify(record) })), weight: 3 }, { arbitrary: badLine(good, accept).map((text) => ({ record: undefined, text })), weight: 1 });
  return fc
    .record({ lines: fc.array(line, { maxLength: 12 }), bom: fc.boolean(), crlf: fc.boolean(), torn: fc.option(badLine(good, accept), { nil: undefined }) })
    .map(({ lines, bom, crlf, torn }) => {
      const eol = crlf ? '\r\n' : '\n';
      const text = (bom ? '\uFEFF' : '') + lines.map((l) => l.text + eol).join('') + (torn ?? '');
      return { text, good: lines.flatMap((l) => (l.record === undefined ? [] : [l.record])) };
    });
}

/** A record as JSON gives it back (-0 becomes 0, etc.). */
function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe('run-folder readers and the config validator (property-based)', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grpo-prop-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('parseJsonl keeps every good line, in order, and reports every other complete line', () => {
    fc.assert(
      fc.property(fileOf(metricsRecord, isMetricsRecord), ({ text, good }) => {
        const { records, problems } = parseJsonl(text, 'metrics.jsonl', isMetricsRecord);
        assert.deepStrictEqual(records, good.map(roundTrip));
        for (const problem of problems) assert.match(problem, /^metrics\.jsonl:\d+: /);
      }),
      { numRuns: RUNS },
    );
  });

  it('readSnapshot and readSummary never throw and see every good metrics line', () => {
    fc.assert(
      fc.property(fileOf(metricsRecord, isMetricsRecord), fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }), ({ text, good }, events, config) => {
        const runDir = fs.mkdtempSync(path.join(tmp, 'run-'));
        fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), text);
        fs.writeFileSync(path.join(runDir, 'events.jsonl'), events);
        fs.writeFileSync(path.join(runDir, 'config.json'), config);
        const snapshot = readSnapshot(runDir);
        assert.deepStrictEqual(snapshot.metrics, latestPerStep(good.map(roundTrip)));
        const summary = readSummary(runDir);
        assert.strictEqual(summary.step, good.length > 0 ? good[good.length - 1].step : 0);
      }),
      { numRuns: RUNS },
    );
  });

  it('JsonlStepIndex indexes every step with a good line and reads its newest good record', () => {
    fc.assert(
      fc.property(fileOf(rolloutsRecord, isRolloutsRecord), ({ text, good }) => {
        const file = path.join(fs.mkdtempSync(path.join(tmp, 'idx-')), 'rollouts.jsonl');
        fs.writeFileSync(file, text);
        const index = new JsonlStepIndex(file);
        const steps = index.steps();
        const newest = new Map(good.map((r) => [r.step, roundTrip(r)]));
        for (const [step, record] of newest) {
          assert.ok(steps.includes(step), `step ${step} indexed`);
          assert.deepStrictEqual(index.read(step, isRolloutsRecord), record);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('JsonlTail returns every good complete line, whether read at once or in two appends', () => {
    fc.assert(
      fc.property(fileOf(metricsRecord, isMetricsRecord), fc.nat(), ({ text, good }, cutAt) => {
        const file = path.join(fs.mkdtempSync(path.join(tmp, 'tail-')), 'metrics.jsonl');
        // Written in two parts at any byte (mid-character too), read after each: a line split across the appends is read once, whole.
        const bytes = Buffer.from(text, 'utf8');
        const cut = cutAt % (bytes.length + 1);
        fs.writeFileSync(file, bytes.subarray(0, cut));
        const tail = new JsonlTail(file);
        const first = tail.read(isMetricsRecord);
        fs.appendFileSync(file, bytes.subarray(cut));
        const records = [...first, ...tail.read(isMetricsRecord)];
        assert.deepStrictEqual(records, good.map(roundTrip));
      }),
      { numRuns: RUNS },
    );
  });

  it('worker resume readers (lock file, checkpoint manifest) never throw on any content', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.json()), (lock, state) => {
        const dir = fs.mkdtempSync(path.join(tmp, 'ck-'));
        fs.writeFileSync(path.join(dir, 'run.lock'), lock);
        fs.writeFileSync(path.join(dir, 'state.json'), state);
        const read = readLock(dir);
        assert.ok(read === 'unreadable' || typeof read?.pid === 'number');
        const problem = checkpointProblem(dir);
        assert.ok(problem === undefined || typeof problem === 'string');
      }),
      { numRuns: RUNS },
    );
  });

  it('the config validator never throws anything but a SchemaError (or a JSON syntax error naming the file)', () => {
    const configLike = fc.record(
      {
        name: fc.oneof(fc.string(), fc.constant('run-1'), fc.integer()),
        seed: fc.oneof(fc.integer(), fc.double(), fc.constant(1e300), fc.string()),
        task: fc.oneof(fc.constant({ type: 'bandit' }), fc.record({ type: fc.constantFrom('arithmetic', 'gsm8k', 'prompts', 'chess') }, { requiredKeys: [] }), fc.anything()),
        model: fc.oneof(fc.constant({ name_or_path: 'tiny' }), fc.anything()),
        algorithm: fc.oneof(fc.record({ num_generations: fc.oneof(fc.integer(), fc.double()), beta: fc.double() }, { requiredKeys: [] }), fc.anything()),
        rewards: fc.oneof(fc.array(fc.record({ name: fc.string(), weight: fc.double() }, { requiredKeys: [] })), fc.anything()),
        extra: fc.anything(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(configLike, fc.anything()), (raw) => {
        try {
          const config = validateRunConfig(raw, 'prop.json');
          assert.strictEqual(typeof config.name, 'string');
          assert.ok(Number.isInteger(config.seed));
        } catch (err) {
          assert.ok(err instanceof SchemaError, String(err));
          // Each problem names its field (or the top level) before a colon.
          assert.ok(err.problems.length > 0 && err.problems.every((p) => /^(\(top level\)|[^\n]+?): \S/.test(p)), err.message);
        }
      }),
      { numRuns: RUNS * 2 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.boolean(), (text, bom) => {
        try {
          parseRunConfig((bom ? '\uFEFF' : '') + text, 'prop.json');
        } catch (err) {
          assert.ok(err instanceof SchemaError || (err instanceof Error && /^prop\.json:\d+:\d+: invalid JSON/.test(err.message)), String(err));
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });
});
