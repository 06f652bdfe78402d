/**
 * The manifest applies the run-config schema only to run configs: files named `*.grpo.json`, and files that say so
 * with `$schema` (VS Code resolves a relative `$schema` itself). Every example and template here declares it.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { RUN_CONFIG_GLOB } from '../../../src/host/configPicks';
import { parseRunConfig } from '../../../src/protocol';

const ROOT = path.resolve(__dirname, '../../..');

interface Manifest {
  contributes: { jsonValidation: { fileMatch: string[]; url: string }[] };
}

/** Every JSON run config under examples/ (not the models' or data sets' own JSON files). */
function exampleConfigs(dir = path.join(ROOT, 'examples')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ['models', 'data'].includes(entry.name) ? [] : exampleConfigs(full);
    return entry.name.endsWith('.json') ? [full] : [];
  });
}

describe('run-config JSON validation (package.json)', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;

  it('matches *.grpo.json only, not any repository\'s examples/*.json or grpo/*.json', () => {
    assert.deepStrictEqual(manifest.contributes.jsonValidation, [{ fileMatch: ['*.grpo.json'], url: './dist/run-config.schema.json' }]);
    // The suffix Start Run looks for in a workspace is the one the schema applies to.
    assert.strictEqual(RUN_CONFIG_GLOB, `**/${manifest.contributes.jsonValidation[0].fileMatch[0]}`);
  });

  it('every example and template declares the schema by a $schema path that resolves to the built schema', () => {
    const configs = exampleConfigs();
    assert.ok(configs.length >= 6, configs.join());
    for (const file of configs) {
      const { $schema } = JSON.parse(fs.readFileSync(file, 'utf8')) as { $schema?: string };
      assert.ok($schema, `${path.relative(ROOT, file)} declares no $schema: it would go unvalidated in the editor`);
      assert.strictEqual(path.resolve(path.dirname(file), $schema), path.join(ROOT, 'dist', 'run-config.schema.json'), path.relative(ROOT, file));
    }
    // The validator takes the key it is declared with.
    for (const file of configs) parseRunConfig(fs.readFileSync(file, 'utf8'), file);
  });
});
