// Half-precision decoding and encoding, checked bit pattern by bit pattern, and through a real file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from './dtype.js';
import { openSafetensors, writeSafetensors } from './safetensors.js';
import { readTensorBlock } from './tensor-file.js';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-dtype-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// [bits, value]
const F16_CASES: [number, number][] = [
  [0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504],
  [0x0400, 2 ** -14], // smallest normal
  [0x0001, 2 ** -24], // smallest subnormal
  [0x03ff, 1023 * 2 ** -24], // largest subnormal
  [0x8001, -(2 ** -24)],
  [0x7c00, Infinity], [0xfc00, -Infinity],
];

const BF16_CASES: [number, number][] = [
  [0x0000, 0], [0x3f80, 1], [0xc040, -3], [0x4049, 3.140625], [0x7f7f, 3.3895313892515355e38],
  [0x0001, 2 ** -133], // smallest subnormal
  [0x7f80, Infinity], [0xff80, -Infinity],
];

function decodeF16(bits: number[]): Float32Array {
  const out = new Float32Array(bits.length);
  f16ToF32(Uint16Array.from(bits), out);
  return out;
}

function decodeBf16(bits: number[]): Float32Array {
  const out = new Float32Array(bits.length);
  bf16ToF32(Uint16Array.from(bits), out);
  return out;
}

describe('f16', () => {
  test('decodes normals, subnormals, signed zero, infinities and NaN', () => {
    const got = decodeF16(F16_CASES.map(([b]) => b));
    F16_CASES.forEach(([b, v], i) => assert.equal(got[i], v, `0x${b.toString(16)}`));
    assert.ok(Object.is(decodeF16([0x8000])[0], -0));
    assert.ok(Number.isNaN(decodeF16([0x7e00])[0]) && Number.isNaN(decodeF16([0xfc01])[0]));
  });

  test('encodes with round-to-nearest-even, overflow to inf, underflow through subnormals', () => {
    for (const [b, v] of F16_CASES) assert.equal(f32ToF16Bits(v), b, `${v}`);
    assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie: rounds to even (down)
    assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie: rounds to even (up)
    assert.equal(f32ToF16Bits(65520), 0x7c00); // halfway to the next binade: overflows
    assert.equal(f32ToF16Bits(65519), 0x7bff);
    assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // exactly half the smallest subnormal: to even (zero)
    assert.equal(f32ToF16Bits(1.5 * 2 ** -25), 0x0001);
    assert.equal(f32ToF16Bits(-0), 0x8000);
    assert.equal(f32ToF16Bits(NaN) & 0x7e00, 0x7e00);
    for (let h = 0; h < 0x7c00; h += 7) assert.equal(f32ToF16Bits(decodeF16([h])[0]!), h); // every finite value survives
  });
});

describe('bf16', () => {
  test('decodes normals, the smallest subnormal, infinities and NaN', () => {
    const got = decodeBf16(BF16_CASES.map(([b]) => b));
    BF16_CASES.forEach(([b, v], i) => assert.equal(got[i], Math.fround(v), `0x${b.toString(16)}`));
    assert.ok(Number.isNaN(decodeBf16([0x7fc0])[0]));
    assert.ok(Object.is(decodeBf16([0x8000])[0], -0));
  });

  test('encodes with round-to-nearest-even and keeps NaN a NaN', () => {
    for (const [b, v] of BF16_CASES) assert.equal(f32ToBf16Bits(v), b, `${v}`);
    assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie to even
    assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(f32ToBf16Bits(NaN) & 0x7fc0, 0x7fc0);
  });
});

test('a safetensors file with F16, BF16 and F32 tensors of known bits reads back as float32', () => {
  const path = join(dir, 'known.safetensors');
  const f16Bits = [...F16_CASES.map(([b]) => b), 0x7e00]; // and a NaN
  const bf16Bits = BF16_CASES.map(([b]) => b);
  writeSafetensors(path, [
    { name: 'h', dtype: 'F16', shape: [f16Bits.length], data: new Uint8Array(Uint16Array.from(f16Bits).buffer) },
    { name: 'b', dtype: 'BF16', shape: [2, bf16Bits.length / 2], data: new Uint8Array(Uint16Array.from(bf16Bits).buffer) },
    { name: 'f', dtype: 'F32', shape: [3], data: Float32Array.of(1.5, -2.25, 1e-42) },
  ]);
  const st = openSafetensors(path);
  const read = (name: string): Float32Array => {
    const t = st.tensors.get(name)!;
    const [rows, cols] = t.shape.length === 1 ? [1, t.shape[0]!] : [t.shape[0]!, t.shape[1]!];
    return readTensorBlock({ file: st.file, offset: t.offset, dtype: t.dtype, shape: t.shape, sourceName: name }, name, 0, rows, 0, cols);
  };
  const h = read('h');
  assert.deepEqual([...h.subarray(0, F16_CASES.length)], F16_CASES.map(([, v]) => v));
  assert.ok(Number.isNaN(h[F16_CASES.length]));
  assert.deepEqual([...read('b')], BF16_CASES.map(([, v]) => Math.fround(v)));
  assert.deepEqual([...read('f')], [1.5, -2.25, Math.fround(1e-42)]);
  st.file.close();
});
