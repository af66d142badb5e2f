// Writing a GGUF (version 3) file: metadata, tensor infos, then each tensor's bytes at an aligned
// offset, produced and written one tensor at a time.
import { closeSync, openSync } from 'node:fs';
import { ModelError } from './errors.js';
import {
  GGML_TYPE_IDS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, ggmlBytes, GgufValueType,
  type GgmlType, type GgufArray, type GgufEntry, type GgufScalar, type GgufValue,
} from './gguf-format.js';
import { elementCount, writeAll } from './tensor-file.js';

export interface GgufWriteTensor {
  readonly name: string;
  /** Fastest-varying first, as GGUF stores them. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  /** The tensor's bytes, already encoded as `type`. */
  readonly data: () => Uint8Array;
}

/** Little-endian bytes appended piece by piece. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      bigger.set(this.buf.subarray(0, this.length));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  u32(v: number): void { this.view.setUint32(this.room(4), v, true); }
  u64(v: number | bigint): void { this.view.setBigUint64(this.room(8), BigInt(v), true); }
  raw(b: Uint8Array): void { this.buf.set(b, this.room(b.length)); }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.raw(b);
  }

  scalar(type: GgufValueType, v: GgufScalar, key: string): void {
    const bad = (): never => { throw new ModelError(`GGUF metadata ${key}: ${JSON.stringify(String(v))} is not a value of type ${type}`); };
    if (type === GgufValueType.STRING) return typeof v === 'string' ? this.string(v) : bad();
    if (type === GgufValueType.BOOL) return typeof v === 'boolean' ? this.raw(Uint8Array.of(v ? 1 : 0)) : bad();
    if (type === GgufValueType.UINT64 || type === GgufValueType.INT64) {
      if (typeof v !== 'bigint' && typeof v !== 'number') bad();
      const at = this.room(8);
      if (type === GgufValueType.UINT64) this.view.setBigUint64(at, BigInt(v as number), true);
      else this.view.setBigInt64(at, BigInt(v as number), true);
      return;
    }
    if (typeof v !== 'number') return bad();
    switch (type) {
      case GgufValueType.UINT8: this.view.setUint8(this.room(1), v); break;
      case GgufValueType.INT8: this.view.setInt8(this.room(1), v); break;
      case GgufValueType.UINT16: this.view.setUint16(this.room(2), v, true); break;
      case GgufValueType.INT16: this.view.setInt16(this.room(2), v, true); break;
      case GgufValueType.UINT32: this.view.setUint32(this.room(4), v, true); break;
      case GgufValueType.INT32: this.view.setInt32(this.room(4), v, true); break;
      case GgufValueType.FLOAT32: this.view.setFloat32(this.room(4), v, true); break;
      case GgufValueType.FLOAT64: this.view.setFloat64(this.room(8), v, true); break;
      default: bad();
    }
  }

  value(type: GgufValueType, v: GgufValue, key: string): void {
    if (type !== GgufValueType.ARRAY) return this.scalar(type, v as GgufScalar, key);
    const a = v as GgufArray;
    this.u32(a.itemType);
    this.u64(a.items.length);
    for (const item of a.items) this.value(a.itemType, item, key);
  }

  pad(alignment: number): void {
    this.room((alignment - (this.length % alignment)) % alignment);
  }

  bytes(): Uint8Array { return this.buf.subarray(0, this.length); }
}

/** Writes a GGUF v3 file; `general.alignment`, if given in `metadata`, sets the alignment. */
export function writeGgufFile(path: string, metadata: ReadonlyMap<string, GgufEntry>, tensors: readonly GgufWriteTensor[]): void {
  const alignment = Number(metadata.get('general.alignment')?.value ?? GGUF_DEFAULT_ALIGNMENT);
  const head = new Bytes();
  head.u32(GGUF_MAGIC);
  head.u32(3);
  head.u64(tensors.length);
  head.u64(metadata.size);
  for (const [key, entry] of metadata) {
    head.string(key);
    head.u32(entry.type);
    head.value(entry.type, entry.value, key);
  }
  let offset = 0;
  for (const t of tensors) {
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GGML_TYPE_IDS[t.type]);
    head.u64(offset);
    offset += Math.ceil(ggmlBytes(t.type, elementCount(t.dims)) / alignment) * alignment;
  }
  head.pad(alignment);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, head.bytes());
    for (const t of tensors) {
      const data = t.data();
      const expected = ggmlBytes(t.type, elementCount(t.dims));
      if (data.length !== expected) {
        throw new ModelError(`${path}: tensor ${t.name} has ${data.length} bytes, ${t.type} [${t.dims.join(', ')}] needs ${expected}`);
      }
      writeAll(fd, data);
      const pad = (alignment - (data.length % alignment)) % alignment;
      if (pad > 0) writeAll(fd, new Uint8Array(pad));
    }
  } finally {
    closeSync(fd);
  }
}

/** Metadata entry helpers. */
export const gguf = {
  str: (value: string): GgufEntry => ({ type: GgufValueType.STRING, value }),
  u32: (value: number): GgufEntry => ({ type: GgufValueType.UINT32, value }),
  f32: (value: number): GgufEntry => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufEntry => ({ type: GgufValueType.BOOL, value }),
  array: (itemType: GgufValueType, items: GgufArray['items']): GgufEntry => ({ type: GgufValueType.ARRAY, value: { itemType, items } }),
};
