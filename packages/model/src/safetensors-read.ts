// Reading a whole tensor of an open safetensors file as float32 (F32, F16 or BF16 on disk).
import { ModelError } from './errors.js';
import type { SafetensorsFile } from './safetensors.js';
import { matrixShape, readTensorBlock } from './tensor-file.js';

/** Tensor `name` of `st` as float32, row-major; vectors and matrices only. */
export function readSafetensor(st: SafetensorsFile, name: string): Float32Array {
  const t = st.tensors.get(name);
  if (t === undefined) throw new ModelError(`${st.file.path}: no tensor ${name}`);
  const loc = { file: st.file, offset: t.offset, dtype: t.dtype, shape: t.shape, sourceName: name };
  const [rows, cols] = matrixShape(t.shape);
  return readTensorBlock(loc, `${st.file.path}: tensor ${name}`, 0, rows, 0, cols);
}
