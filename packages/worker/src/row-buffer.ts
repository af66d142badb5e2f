// Preallocated [maxRows, width] buffers with cached views of row ranges: a step allocates nothing.
import ort from 'onnxruntime-node';

/** A key for a row range [offset, offset + n) (n < 65536). */
export const rangeKey = (n: number, offset: number): number => offset * 65536 + n;

/**
 * A [maxRows, width] buffer; rows(n, offset) and array(n, offset) are views made once per range.
 * A batched buffer's tensors are [1, n, width] (a graph input with a leading batch axis).
 */
export class RowBuffer<A extends Float32Array | BigInt64Array> {
  private readonly tensors = new Map<number, ort.Tensor>();
  private readonly arrays = new Map<number, A>();

  constructor(readonly data: A, readonly width: number, private readonly batched = false) {}

  /** Rows [offset, offset + n) as an ort.Tensor [n, width] (batched: [1, n, width]) over `data`. */
  rows(n: number, offset = 0): ort.Tensor {
    const key = rangeKey(n, offset);
    let t = this.tensors.get(key);
    if (t === undefined) {
      const view = this.array(n, offset);
      t = new ort.Tensor(view instanceof BigInt64Array ? 'int64' : 'float32', view as Float32Array, this.batched ? [1, n, this.width] : [n, this.width]);
      this.tensors.set(key, t);
    }
    return t;
  }

  /** Rows [offset, offset + n) as a typed-array view of `data`. */
  array(n: number, offset = 0): A {
    const key = rangeKey(n, offset);
    let a = this.arrays.get(key);
    if (a === undefined) {
      a = this.data.subarray(offset * this.width, (offset + n) * this.width) as A;
      this.arrays.set(key, a);
    }
    return a;
  }
}

export const floats = (rows: number, width: number): RowBuffer<Float32Array> => new RowBuffer(new Float32Array(rows * width), width);
/** A float buffer whose tensors are [1, n, width]. */
export const batchedFloats = (rows: number, width: number): RowBuffer<Float32Array> => new RowBuffer(new Float32Array(rows * width), width, true);
export const longs = (rows: number, width: number): RowBuffer<BigInt64Array> => new RowBuffer(new BigInt64Array(rows * width), width);
