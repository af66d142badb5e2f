// Reading one tensor, or a block of its rows and columns, from a file at a byte offset.
// Both checkpoint formats describe their tensors as TensorLocations and read through here.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { bf16ToF32, dtypeBytes, f16ToF32, type DType } from './dtype.js';
import { ModelError } from './errors.js';

if (endianness() !== 'LE') throw new ModelError('octoserve reads little-endian checkpoints and needs a little-endian host');

/** Where a tensor's bytes are. `shape` is [rows, cols] for matrices, [n] for vectors (read as one row). */
export interface TensorLocation {
  readonly file: OpenFile;
  readonly offset: number; // byte offset of element 0
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** The tensor's name in the file (for messages). */
  readonly sourceName: string;
}

/** A read-only file handle that knows its path and size. */
export class OpenFile {
  readonly fd: number;
  readonly size: number;
  private closed = false;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  /** Fills `into` from byte `position`; a short read is a truncated file. */
  readExactly(into: Uint8Array, position: number, what: string): void {
    let done = 0;
    while (done < into.length) {
      const chunk = Math.min(into.length - done, 1 << 30);
      const n = readSync(this.fd, into, done, chunk, position + done);
      if (n === 0) {
        throw new ModelError(
          `${this.path}: truncated while reading ${what}: needs bytes ${position}..${position + into.length}, file has ${this.size}`,
        );
      }
      done += n;
    }
  }

  close(): void {
    if (!this.closed) closeSync(this.fd);
    this.closed = true;
  }
}

/** [rows, cols] of a tensor: a vector of n elements is one row. */
export function matrixShape(shape: readonly number[]): [number, number] {
  if (shape.length === 1) return [1, shape[0]!];
  if (shape.length === 2) return [shape[0]!, shape[1]!];
  throw new ModelError(`tensor of rank ${shape.length} (shape [${shape.join(', ')}]) is not supported`);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Most bytes one block read holds in its scratch buffer before converting. */
const CHUNK_BYTES = 16 << 20;

/** Converts `count` elements of `dtype` held in `bytes` into out[outOffset...]. */
function convert(bytes: Uint8Array, dtype: DType, count: number, out: Float32Array, outOffset: number): void {
  if (dtype === 'F32') {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), outOffset);
  } else {
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
    if (dtype === 'F16') f16ToF32(halves, out, outOffset);
    else bf16ToF32(halves, out, outOffset);
  }
}

/**
 * Rows [rowStart, rowEnd) and columns [colStart, colEnd) of the row-major tensor at `loc`,
 * as a row-major float32 array of (rowEnd-rowStart) x (colEnd-colStart).
 */
export function readTensorBlock(
  loc: TensorLocation, name: string, rowStart: number, rowEnd: number, colStart: number, colEnd: number,
): Float32Array {
  const [rows, cols] = matrixShape(loc.shape);
  if (!(Number.isInteger(rowStart) && Number.isInteger(rowEnd) && Number.isInteger(colStart) && Number.isInteger(colEnd))
    || rowStart < 0 || rowEnd > rows || rowStart > rowEnd || colStart < 0 || colEnd > cols || colStart > colEnd) {
    throw new ModelError(
      `${name}: block rows [${rowStart}, ${rowEnd}) cols [${colStart}, ${colEnd}) is outside its shape [${rows}, ${cols}]`,
    );
  }
  const width = colEnd - colStart;
  const nRows = rowEnd - rowStart;
  const out = new Float32Array(nRows * width);
  if (out.length === 0) return out;
  const elt = dtypeBytes(loc.dtype);
  const what = `tensor ${loc.sourceName}`;
  if (width === cols && loc.dtype === 'F32') {
    // whole rows of float32: read straight into the result
    loc.file.readExactly(new Uint8Array(out.buffer), loc.offset + rowStart * cols * elt, what);
    return out;
  }
  // whole rows into a scratch buffer, a chunk at a time, then keep the columns asked for
  const rowBytes = cols * elt;
  const rowsPerChunk = Math.max(1, Math.min(nRows, Math.floor(CHUNK_BYTES / rowBytes)));
  const scratch = new Uint8Array(rowsPerChunk * rowBytes);
  for (let r = 0; r < nRows; r += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, nRows - r);
    const bytes = scratch.subarray(0, n * rowBytes);
    loc.file.readExactly(bytes, loc.offset + (rowStart + r) * rowBytes, what);
    for (let i = 0; i < n; i++) {
      const start = i * rowBytes + colStart * elt;
      convert(scratch.subarray(start, start + width * elt), loc.dtype, width, out, (r + i) * width);
    }
  }
  return out;
}

/** Writes all of `bytes` at the file's current position (writeSync may write less than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}
