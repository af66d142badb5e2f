// GGUF headers: every metadata value type read back as written, the alignment honoured, and
// malformed files refused with one-line ModelErrors that say what is wrong.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openGguf } from './checkpoint-gguf.js';
import { ModelError } from './errors.js';
import { writeGguf } from './gguf-checkpoint-write.js';
import { GgufValueType, type GgufEntry } from './gguf-format.js';
import { readGgufHeader } from './gguf-read.js';
import { gguf, writeGgufFile } from './gguf-write.js';
import { openCheckpoint, openModel } from './model-source.js';
import { SynthCheckpoint } from './synth.js';
import { OpenFile } from './tensor-file.js';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-gguf-err-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const synth = SynthCheckpoint.ofShape('tiny', 0);
const good = join(dir, 'good.gguf');
writeGguf(good, synth);
const goodBytes = readFileSync(good);

function header(path: string): ReturnType<typeof readGgufHeader> {
  const file = new OpenFile(path);
  try {
    return readGgufHeader(file);
  } finally {
    file.close();
  }
}

/** Asserts that opening `bytes` as a GGUF fails with a one-line ModelError matching `pattern`. */
function refuses(name: string, bytes: Uint8Array, pattern: RegExp): void {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  assert.throws(() => openCheckpoint(path), (err: unknown) => {
    assert.ok(err instanceof ModelError, String(err));
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    assert.ok(err.message.startsWith(path), `names the file: ${err.message}`);
    return true;
  });
}

/** `goodBytes` with the type of tensor `tensor` set to `typeId`. */
function withType(tensor: string, typeId: number): Uint8Array {
  const bytes = Uint8Array.from(goodBytes);
  const at = goodBytes.indexOf(Buffer.from(tensor)) + tensor.length + 4 + 2 * 8; // n_dims, 2 dims
  new DataView(bytes.buffer).setUint32(at, typeId, true);
  return bytes;
}

describe('GGUF metadata', () => {
  test('every value type reads back as written', () => {
    const entries: [string, GgufEntry][] = [
      ['u8', { type: GgufValueType.UINT8, value: 200 }],
      ['i8', { type: GgufValueType.INT8, value: -100 }],
      ['u16', { type: GgufValueType.UINT16, value: 60000 }],
      ['i16', { type: GgufValueType.INT16, value: -30000 }],
      ['u32', gguf.u32(4_000_000_000)],
      ['i32', { type: GgufValueType.INT32, value: -2_000_000_000 }],
      ['f32', gguf.f32(1e-5)],
      ['bool', gguf.bool(true)],
      ['str', gguf.str('héllo ▁world')],
      ['u64', { type: GgufValueType.UINT64, value: 2n ** 63n + 5n }],
      ['i64', { type: GgufValueType.INT64, value: -(2n ** 62n) }],
      ['f64', { type: GgufValueType.FLOAT64, value: Math.PI }],
      ['strings', gguf.array(GgufValueType.STRING, ['a', '', '<0x0A>'])],
      ['floats', gguf.array(GgufValueType.FLOAT32, Float32Array.of(0.5, -2))],
      ['ints', gguf.array(GgufValueType.INT32, Int32Array.of(1, -1))],
      ['bools', gguf.array(GgufValueType.BOOL, [true, false])],
      ['nested', gguf.array(GgufValueType.ARRAY, [{ itemType: GgufValueType.UINT8, items: [1, 2] }, { itemType: GgufValueType.STRING, items: ['x'] }])],
    ];
    const path = join(dir, 'values.gguf');
    writeGgufFile(path, new Map(entries), []);
    const h = header(path);
    assert.equal(h.version, 3);
    assert.equal(h.tensors.size, 0);
    assert.deepEqual([...h.metadata.entries()], entries);
  });

  test('general.alignment places every tensor at a multiple of it', () => {
    const path = join(dir, 'aligned.gguf');
    const data = Float32Array.of(1, 2, 3);
    writeGgufFile(path, new Map([['general.alignment', gguf.u32(64)]]), [
      { name: 'a', dims: [3], type: 'F32', data: () => new Uint8Array(data.buffer) },
      { name: 'b', dims: [3], type: 'F32', data: () => new Uint8Array(data.buffer) },
    ]);
    const h = header(path);
    assert.equal(h.alignment, 64);
    for (const t of h.tensors.values()) assert.equal(t.offset % 64, 0);
    assert.equal(h.tensors.get('b')!.offset - h.tensors.get('a')!.offset, 64);
  });

  test('a file without llama.* keys, or of another architecture, is refused by name', () => {
    const path = join(dir, 'gpt2.gguf');
    writeGgufFile(path, new Map([['general.architecture', gguf.str('gpt2')]]), []);
    assert.throws(() => openGguf(path), /GGUF architecture "gpt2" is not supported \(only 'llama'\)/);
    writeGgufFile(path, new Map([['general.architecture', gguf.str('llama')]]), []);
    assert.throws(() => openGguf(path), /GGUF metadata llama.embedding_length is missing/);
  });

  test('a GGUF without a tokenizer looks for one beside it, then asks for --tokenizer', async () => {
    await assert.rejects(openModel({ model: good }), /no tokenizer for model .*good.gguf: looked for tokenizer.bin, .*; pass --tokenizer FILE/);
    const g = openGguf(good);
    assert.equal(g.hasTokenizer(), false);
    assert.throws(() => g.tokenizer(), /carries no tokenizer \(no tokenizer.ggml.model\); pass --tokenizer FILE/);
    g.close();
  });
});

describe('malformed GGUF files', () => {
  test('bad magic', () => {
    refuses('magic.gguf', Buffer.concat([Buffer.from('GGML'), goodBytes.subarray(4)]), /not a GGUF file: it starts with "GGML", not "GGUF"/);
  });

  test('unsupported version', () => {
    const bytes = Uint8Array.from(goodBytes);
    bytes[4] = 1;
    refuses('v1.gguf', bytes, /GGUF version 1 is not supported \(versions 2 and 3 are\)/);
    const bigEndian = Uint8Array.from(goodBytes);
    new DataView(bigEndian.buffer).setUint32(4, 3, false);
    refuses('be.gguf', bigEndian, /GGUF version 50331648 is not supported .*big-endian GGUF; octoserve reads little-endian ones/);
  });

  test('truncated header', () => {
    refuses('short.gguf', goodBytes.subarray(0, 100), /truncated GGUF header: .* at byte \d+ needs \d+ bytes, the file has 100/);
    refuses('tiny.gguf', goodBytes.subarray(0, 10), /truncated GGUF header: the tensor count at byte 8 needs 8 bytes, the file has 10/);
  });

  test('tensor data past the end of the file', () => {
    refuses('cut.gguf', goodBytes.subarray(0, goodBytes.length - 4096), /truncated GGUF file: tensor \S+ \(F32 \[[\d, ]+\]\) ends at byte \d+, the file has \d+/);
  });

  test('a tensor type octoserve does not read, and an unknown one', () => {
    refuses('q4k.gguf', withType('blk.0.attn_q.weight', 12), /tensor blk.0.attn_q.weight has type Q4_K, which octoserve does not read \(supported: F32, F16, BF16, Q8_0, Q4_0\)/);
    refuses('t99.gguf', withType('blk.0.attn_q.weight', 99), /tensor blk.0.attn_q.weight has type unknown \(ggml type id 99\)/);
  });

  test('a missing tensor, and one of the wrong shape', () => {
    const renamed = Buffer.from(goodBytes);
    renamed.write('blk.0.ffn_up.weighX', goodBytes.indexOf(Buffer.from('blk.0.ffn_up.weight')));
    refuses('missing.gguf', renamed, /missing GGUF tensor blk.0.ffn_up.weight/);
    const reshaped = Buffer.from(goodBytes);
    const at = goodBytes.indexOf(Buffer.from('blk.1.ffn_gate.weight')) + 'blk.1.ffn_gate.weight'.length + 4;
    reshaped.writeBigUInt64LE(172n, at); // dims [64, 172] -> [172, 172]: rows of the wrong width
    refuses('shape.gguf', reshaped, /tensor layers.1.w1 has shape \[172, 172\] but the GGUF metadata implies \[172, 64\]/);
  });
});
