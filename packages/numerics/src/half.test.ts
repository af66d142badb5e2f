// Every 16-bit pattern survives a trip to float32 and back; rounding is to nearest even.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bf16ToF32, f16Table, f16ToF32, f32Bits, f32BitsToBf16, f32BitsToF16, f32ToBf16Bits, f32ToF16Bits } from './half.js';

test('binary16: all 65536 patterns decode and encode back (NaNs stay NaN)', () => {
  const t = f16Table();
  for (let h = 0; h < 65536; h++) {
    const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN16) assert.ok(Number.isNaN(t[h]!) && (f32BitsToF16(f32Bits(t[h]!)) & 0x7fff) > 0x7c00);
    else assert.equal(f32BitsToF16(f32Bits(t[h]!)), h, `pattern 0x${h.toString(16)}`);
  }
  const out = new Float32Array(3);
  f16ToF32(Uint16Array.from([0x3c00, 0xc000, 0x0001]), out);
  assert.deepEqual(Array.from(out), [1, -2, 2 ** -24]);
});

test('bfloat16: all 65536 patterns decode and encode back', () => {
  const out = new Float32Array(65536);
  bf16ToF32(Uint16Array.from({ length: 65536 }, (_, i) => i), out);
  for (let h = 0; h < 65536; h++) {
    if (Number.isNaN(out[h]!)) assert.ok((f32ToBf16Bits(out[h]!) & 0x7fff) > 0x7f80);
    else assert.equal(f32BitsToBf16(f32Bits(out[h]!)), h);
  }
});

test('ties round to even, overflow goes to infinity', () => {
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00);
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f32ToF16Bits(65520), 0x7c00);
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000);
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(f32BitsToBf16(0x7f7fffff), 0x7f80);
});
