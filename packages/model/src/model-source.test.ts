// Resolving --model / --tokenizer and the default model.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeHf } from './checkpoint-hf.js';
import { openLlama2c } from './checkpoint-llama2c.js';
import { defaultModelPath, findTokenizer, openCheckpoint, openModel, synthFallbackModel } from './model-source.js';
import { cacheDir, EMBEDDED_STORIES260K_DIR, STORIES260K } from './stories260k.js';
import { findTestModel, sharedModelsDir } from '@octoserve/testkit';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `fn` with environment variables set (undefined: unset), restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>): void => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

describe('--model paths', () => {
  test('a .bin file, its directory, and an HF directory converted from it', async () => {
    const model = await findTestModel();
    const viaFile = await openModel({ model: model.modelPath });
    assert.equal(viaFile.checkpoint.format, 'llama2c');
    assert.equal(viaFile.tokenizerPath, model.tokenizerPath); // tok512.bin, found as tok<vocab>.bin
    viaFile.checkpoint.close();
    const viaDir = await openModel({ model: model.dir });
    assert.equal(viaDir.checkpoint.path, model.modelPath);
    viaDir.checkpoint.close();

    const hfDir = join(dir, 'hf');
    const src = openLlama2c(model.modelPath);
    writeHf(hfDir, src);
    src.close();
    copyFileSync(model.tokenizerPath, join(hfDir, 'tok512.bin'));
    const viaHf = await openModel({ model: hfDir });
    assert.equal(viaHf.checkpoint.format, 'hf');
    assert.equal(viaHf.tokenizer.encode('Once upon a time').join(' '), '1 403 407 261 378');
    viaHf.checkpoint.close();
  });

  test('--tokenizer overrides the tokenizer beside the model', async () => {
    const model = await findTestModel();
    const d = join(dir, 'override');
    mkdirSync(d);
    copyFileSync(model.modelPath, join(d, 'stories.bin'));
    const tok = join(dir, 'elsewhere.bin');
    copyFileSync(model.tokenizerPath, tok);
    const ckpt = openCheckpoint(d);
    assert.equal(findTokenizer(ckpt, tok), tok);
    ckpt.close();
    const loaded = await openModel({ model: d, tokenizer: tok });
    assert.equal(loaded.tokenizerPath, tok);
    loaded.checkpoint.close();
  });
});

describe('the default model', () => {
  test('$OCTOSERVE_MODEL comes first', async () => {
    const model = await findTestModel();
    assert.equal(await withEnv({ OCTOSERVE_MODEL: model.modelPath }, () => defaultModelPath()), model.modelPath);
  });

  test('then the stories260K this package carries, checked against its sha256', async () => {
    const path = await withEnv({ OCTOSERVE_MODEL: undefined, XDG_CACHE_HOME: join(dir, 'empty-cache') }, () =>
      defaultModelPath({ log: () => assert.fail('no notice expected when the embedded model is there') }));
    assert.equal(path, join(EMBEDDED_STORIES260K_DIR, STORIES260K.model.file));
    const loaded = await openModel({ model: path });
    assert.equal(loaded.tokenizer.encode('Once upon a time').join(' '), '1 403 407 261 378');
    loaded.checkpoint.close();
  });

  test('then stories260K in the user cache ($XDG_CACHE_HOME/octoserve/models/stories260K), saying why in one line', async () => {
    const model = await findTestModel();
    const cache = join(dir, 'cache');
    const target = join(cache, 'octoserve', 'models', 'stories260K');
    mkdirSync(target, { recursive: true });
    copyFileSync(model.modelPath, join(target, 'stories260K.bin'));
    copyFileSync(model.tokenizerPath, join(target, 'tok512.bin'));
    const lines: string[] = [];
    const path = await withEnv({ OCTOSERVE_MODEL: undefined, XDG_CACHE_HOME: cache }, async () => {
      assert.equal(cacheDir(), join(cache, 'octoserve'));
      return defaultModelPath({ embeddedDir: join(dir, 'no-embedded-copy'), log: (l) => lines.push(l) });
    });
    assert.equal(path, join(target, 'stories260K.bin'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /embedded stories260K is missing from .*no-embedded-copy; looking for stories260K in /);
  });

  test('an altered embedded copy is refused, not used', async () => {
    const model = await findTestModel();
    const altered = join(dir, 'altered');
    mkdirSync(altered);
    copyFileSync(model.tokenizerPath, join(altered, 'tok512.bin'));
    copyFileSync(model.tokenizerPath, join(altered, 'stories260K.bin')); // right name, wrong bytes
    const cache = join(dir, 'cache'); // filled by the test above
    const lines: string[] = [];
    const path = await withEnv({ OCTOSERVE_MODEL: undefined, XDG_CACHE_HOME: cache }, () =>
      defaultModelPath({ embeddedDir: altered, log: (l) => lines.push(l) }));
    assert.equal(path, join(cache, 'octoserve', 'models', 'stories260K', 'stories260K.bin'));
    assert.match(lines[0] ?? '', /stories260K\.bin is altered \(sha256 /);
  });

  test('the synthetic fallback is a working model with a tokenizer', async () => {
    const cache = join(dir, 'fallback-cache');
    const path = await withEnv({ XDG_CACHE_HOME: cache }, async () => synthFallbackModel());
    assert.ok(path.startsWith(cache) && existsSync(path));
    const loaded = await openModel({ model: path });
    assert.equal(loaded.checkpoint.config.dim, 64);
    assert.equal(loaded.tokenizer.decode(loaded.tokenizer.encode('the big dog').slice(1), 1), 'the big dog');
    loaded.checkpoint.close();
  });
});

test('the shared test models are found by walking up from the package', () => {
  const shared = sharedModelsDir();
  assert.ok(shared !== null, 'shared/models/stories260K should be above the repository');
  assert.ok(existsSync(join(shared, 'stories260K', 'golden.json')));
});
