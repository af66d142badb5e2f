// The test kit finds stories260K and its eight golden cases, as every golden test relies on.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { findTestModel, loadGoldenCases } from './test-model.js';

test('stories260K and its goldens are found, with the case every demo tells', async () => {
  const model = await findTestModel();
  for (const path of [model.modelPath, model.tokenizerPath, model.goldenPath]) assert.ok(existsSync(path), path);
  const cases = loadGoldenCases(model);
  assert.equal(cases.length, 8);
  const once = cases.find((c) => c.prompt === 'Once upon a time');
  assert.deepEqual(once?.prompt_token_ids, [1, 403, 407, 261, 378]);
  assert.ok(once !== undefined && once.text.startsWith('Once upon a time, there was a little girl named Lily.'));
});
