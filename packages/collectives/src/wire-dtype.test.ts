// bf16 / f16 conversions and the payload kernels (aligned and unaligned payloads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WireDtype } from './frame-codec.js';
import { f32BitsToBf16, f32BitsToF16 } from '@octoserve/numerics';
import { applyPayload, encodeElements, roundTripInPlace, Scratch } from './wire-dtype.js';

const bitsOf = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0] as number;

test('bf16: round to nearest even, NaN stays NaN', () => {
  assert.equal(f32BitsToBf16(bitsOf(1)), 0x3f80);
  assert.equal(f32BitsToBf16(0x3f808000), 0x3f80);       // tie, even stays
  assert.equal(f32BitsToBf16(0x3f818000), 0x3f82);       // tie, odd rounds up
  assert.equal(f32BitsToBf16(0x3f808001), 0x3f81);       // above the tie
  assert.equal(f32BitsToBf16(bitsOf(-Infinity)), 0xff80);
  assert.equal(f32BitsToBf16(0x7f7fffff), 0x7f80);       // max float rounds to inf
  assert.ok((f32BitsToBf16(bitsOf(NaN)) & 0x7fff) > 0x7f80);
});

test('f16: normals, subnormals, ties to even, overflow to inf', () => {
  assert.equal(f32BitsToF16(bitsOf(1)), 0x3c00);
  assert.equal(f32BitsToF16(bitsOf(-2)), 0xc000);
  assert.equal(f32BitsToF16(bitsOf(65504)), 0x7bff);
  assert.equal(f32BitsToF16(bitsOf(65519)), 0x7bff);
  assert.equal(f32BitsToF16(bitsOf(65520)), 0x7c00);
  assert.equal(f32BitsToF16(bitsOf(2 ** -24)), 0x0001);  // smallest subnormal
  assert.equal(f32BitsToF16(bitsOf(2 ** -25)), 0x0000);  // tie to even: zero
  assert.equal(f32BitsToF16(bitsOf(3 * 2 ** -25)), 0x0002); // tie to even: 2
  assert.equal(f32BitsToF16(bitsOf(2 ** -14)), 0x0400);  // smallest normal
  assert.equal(f32BitsToF16(bitsOf(1 + 2 ** -11)), 0x3c00); // tie to even
  assert.equal(f32BitsToF16(bitsOf(1 + 3 * 2 ** -11)), 0x3c02);
  assert.equal(f32BitsToF16(bitsOf(Infinity)), 0x7c00);
  assert.ok((f32BitsToF16(bitsOf(NaN)) & 0x7fff) > 0x7c00);
});

test('a value that went through the wire once is unchanged by a second trip, and decodes to what roundTrip gives', () => {
  const scratch = new Scratch();
  for (const dtype of [WireDtype.BF16, WireDtype.F16]) {
    const src = new Float32Array([0.1, -3.14159, 1e-6, 60000, -0, 7, 1e-8, 12345.678]);
    const rounded = src.slice();
    roundTripInPlace(dtype, rounded, 0, rounded.length);
    const twice = rounded.slice();
    roundTripInPlace(dtype, twice, 0, twice.length);
    assert.deepEqual(twice, rounded);
    const wire = Buffer.alloc(2 * src.length + 8);
    encodeElements(dtype, wire, 8, src, 0, src.length);
    const out = new Float32Array(src.length);
    applyPayload(false, out, 0, wire.subarray(8), dtype, src.length, scratch);
    assert.deepEqual(out, rounded);
  }
});

test('applyPayload copies and adds from aligned and unaligned payloads alike', () => {
  const scratch = new Scratch();
  const values = new Float32Array([1.5, -2.25, 3, 4e10, -5e-10]);
  for (const shift of [0, 1, 2, 3]) {
    const mem = Buffer.alloc(values.byteLength + 8);
    Buffer.from(values.buffer).copy(mem, 4 + shift);
    const payload = mem.subarray(4 + shift, 4 + shift + values.byteLength);
    const dst = new Float32Array([10, 10, 10, 10, 10, 10, 10]);
    applyPayload(false, dst, 1, payload, WireDtype.F32, values.length, scratch);
    assert.deepEqual(dst, new Float32Array([10, ...values, 10]));
    applyPayload(true, dst, 1, payload, WireDtype.F32, values.length, scratch);
    assert.deepEqual(dst, new Float32Array([10, ...values.map((v) => Math.fround(v + v)), 10]));
  }
});
