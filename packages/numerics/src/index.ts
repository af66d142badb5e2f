// @octoserve/numerics: number formats that several packages read and write bit for bit.
export { f32Bits, f32BitsToBf16, f32BitsToF16, f32ToF16Bits, f32ToBf16Bits, f16Table, f16ToF32, bf16ToF32 } from './half.js';
