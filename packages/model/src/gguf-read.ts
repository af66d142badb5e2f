// Parsing a GGUF file's header (metadata and tensor infos) by offset: the header is read in chunks,
// tensor data is never touched here, so a worker opening a large file reads only what it needs.
//
// Hand-written rather than taken from an npm reader: the one maintained parser (@huggingface/gguf)
// is asynchronous (it reads through fetch-style range requests), while openCheckpoint is synchronous
// for the workers and the coordinator; the format's header is a few dozen lines of fields anyway.
import { ModelError } from './errors.js';
import {
  GGML_BLOCK, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, ggmlBytes, ggmlTypeOf, GgufValueType,
  type GgmlType, type GgufArray, type GgufEntry, type GgufScalar, type GgufValue,
} from './gguf-format.js';
import { elementCount, OpenFile } from './tensor-file.js';

export interface GgufTensor {
  readonly name: string;
  /** As stored: fastest-varying first. */
  readonly dims: readonly number[];
  readonly typeId: number;
  /** undefined when octoserve does not read this type. */
  readonly type: GgmlType | undefined;
  /** Absolute byte offset in the file. */
  readonly offset: number;
}

export interface GgufHeader {
  readonly file: OpenFile;
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufEntry>;
  readonly tensors: ReadonlyMap<string, GgufTensor>;
  readonly alignment: number;
  readonly dataStart: number;
}

const CHUNK = 1 << 20;
const utf8 = new TextDecoder('utf-8', { fatal: false });
/** Bytes of one element of each fixed-size value type. */
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Reads the header front to back through a window onto the file. */
class Cursor {
  pos = 0;
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;

  constructor(private readonly file: OpenFile) {}

  private need(n: number, what: string): number {
    if (this.pos + n > this.file.size) {
      throw new ModelError(
        `${this.file.path}: truncated GGUF header: ${what} at byte ${this.pos} needs ${n} bytes, the file has ${this.file.size} ` +
        '(an incomplete download or copy?)',
      );
    }
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(this.file.size - this.pos, Math.max(n, CHUNK));
      this.buf = new Uint8Array(len);
      this.file.readExactly(this.buf, this.pos, 'the GGUF header');
      this.view = new DataView(this.buf.buffer);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u32(what: string): number {
    const at = this.need(4, what); // before reading this.view: need() may replace it
    return this.view.getUint32(at, true);
  }

  /** A uint64 that must fit a JS number (a count, a size or an offset). */
  count(what: string): number {
    const at = this.need(8, what);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModelError(`${this.file.path}: corrupt GGUF header: ${what} is ${v}`);
    return Number(v);
  }

  string(what: string): string {
    const len = this.count(`the length of ${what}`);
    const at = this.need(len, what);
    return utf8.decode(this.buf.subarray(at, at + len));
  }

  scalar(type: number, what: string): GgufScalar {
    const size = SCALAR_BYTES[type];
    if (type === GgufValueType.STRING) return this.string(what);
    if (size === undefined) throw new ModelError(`${this.file.path}: corrupt GGUF header: ${what} has unknown value type ${type}`);
    const at = this.need(size, what);
    const v = this.view;
    switch (type) {
      case GgufValueType.UINT8: return v.getUint8(at);
      case GgufValueType.INT8: return v.getInt8(at);
      case GgufValueType.UINT16: return v.getUint16(at, true);
      case GgufValueType.INT16: return v.getInt16(at, true);
      case GgufValueType.UINT32: return v.getUint32(at, true);
      case GgufValueType.INT32: return v.getInt32(at, true);
      case GgufValueType.FLOAT32: return shortestFloat32(v.getFloat32(at, true));
      case GgufValueType.BOOL: return v.getUint8(at) !== 0;
      case GgufValueType.UINT64: return v.getBigUint64(at, true);
      case GgufValueType.INT64: return v.getBigInt64(at, true);
      default: return v.getFloat64(at, true);
    }
  }

  value(type: number, what: string): GgufValue {
    if (type !== GgufValueType.ARRAY) return this.scalar(type, what);
    const itemType = this.u32(`the item type of ${what}`) as GgufValueType;
    const len = this.count(`the length of ${what}`);
    const min = SCALAR_BYTES[itemType] ?? 8; // a string or array item takes at least its 8-byte length
    if (len * min > this.file.size - this.pos) {
      throw new ModelError(`${this.file.path}: truncated GGUF header: ${what} claims ${len} items, more than the ${this.file.size - this.pos} bytes left hold`);
    }
    if (itemType === GgufValueType.FLOAT32) {
      const at = this.need(4 * len, what);
      return { itemType, items: new Float32Array(this.buf.slice(at, at + 4 * len).buffer) };
    }
    if (itemType === GgufValueType.INT32) {
      const at = this.need(4 * len, what);
      return { itemType, items: new Int32Array(this.buf.slice(at, at + 4 * len).buffer) };
    }
    if (itemType === GgufValueType.ARRAY) {
      const items: GgufArray[] = [];
      for (let i = 0; i < len; i++) items.push(this.value(itemType, `${what}[${i}]`) as GgufArray);
      return { itemType, items };
    }
    const items: GgufScalar[] = [];
    for (let i = 0; i < len; i++) items.push(this.scalar(itemType, `${what}[${i}]`));
    return { itemType, items };
  }
}

/** The shortest decimal that rounds to float32 `x` (so a stored 1e-5 reads back as 1e-5). */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let digits = 1; digits < 10; digits++) {
    const d = Number(x.toPrecision(digits));
    if (Math.fround(d) === x) return d;
  }
  return x;
}

/** Whether the file at `path` starts with the GGUF magic (false for anything unreadable or short). */
export function isGgufFile(path: string): boolean {
  let file: OpenFile | undefined;
  try {
    file = new OpenFile(path);
    return hasGgufMagic(file);
  } catch {
    return false;
  } finally {
    file?.close();
  }
}

/** Whether `file` starts with the GGUF magic. */
export function hasGgufMagic(file: OpenFile): boolean {
  if (file.size < 4) return false;
  const head = new Uint8Array(4);
  file.readExactly(head, 0, 'magic');
  return new DataView(head.buffer).getUint32(0, true) === GGUF_MAGIC;
}

/** Parses the header of the GGUF file `file` (which the caller keeps open and closes). */
export function readGgufHeader(file: OpenFile): GgufHeader {
  const path = file.path;
  if (!hasGgufMagic(file)) {
    const head = new Uint8Array(Math.min(4, file.size));
    file.readExactly(head, 0, 'magic');
    throw new ModelError(`${path}: not a GGUF file: it starts with ${JSON.stringify(Buffer.from(head).toString('latin1'))}, not "GGUF"`);
  }
  const c = new Cursor(file);
  c.pos = 4;
  const version = c.u32('the version');
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
    const hint = version === 1 ? ' (GGUF v1 is obsolete: reconvert with a current llama.cpp)'
      : swapped === 2 || swapped === 3 ? ' (this is a big-endian GGUF; octoserve reads little-endian ones)' : '';
    throw new ModelError(`${path}: GGUF version ${version} is not supported (versions 2 and 3 are)${hint}`);
  }
  const tensorCount = c.count('the tensor count');
  const kvCount = c.count('the metadata count');
  const metadata = new Map<string, GgufEntry>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`metadata key ${i}`);
    const type = c.u32(`the type of ${key}`) as GgufValueType;
    metadata.set(key, { type, value: c.value(type, key) });
  }
  const alignEntry = metadata.get('general.alignment')?.value;
  const alignment = alignEntry === undefined ? GGUF_DEFAULT_ALIGNMENT : Number(alignEntry);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new ModelError(`${path}: corrupt GGUF header: general.alignment is ${String(alignEntry)}, not a power of two`);
  }
  const infos: { name: string; dims: number[]; typeId: number; rel: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string(`the name of tensor ${i}`);
    const nDims = c.u32(`the rank of ${name}`);
    if (nDims > 8) throw new ModelError(`${path}: corrupt GGUF header: tensor ${name} has rank ${nDims}`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.count(`dimension ${d} of ${name}`));
    const typeId = c.u32(`the type of ${name}`);
    infos.push({ name, dims, typeId, rel: c.count(`the offset of ${name}`) });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  const tensors = new Map<string, GgufTensor>();
  for (const { name, dims, typeId, rel } of infos) {
    if (rel % alignment !== 0) {
      throw new ModelError(`${path}: corrupt GGUF header: tensor ${name} starts at data offset ${rel}, not a multiple of the alignment ${alignment}`);
    }
    const type = ggmlTypeOf(typeId);
    const offset = dataStart + rel;
    if (type !== undefined) {
      const n = elementCount(dims);
      const block = GGML_BLOCK[type].elements;
      if ((dims[0] ?? 1) % block !== 0) {
        throw new ModelError(`${path}: corrupt GGUF tensor ${name}: ${type} rows of ${dims[0]} elements are not whole blocks of ${block}`);
      }
      const end = offset + ggmlBytes(type, n);
      if (end > file.size) {
        throw new ModelError(`${path}: truncated GGUF file: tensor ${name} (${type} [${dims.join(', ')}]) ends at byte ${end}, the file has ${file.size} (an incomplete download or copy?)`);
      }
    }
    tensors.set(name, { name, dims, typeId, type, offset });
  }
  return { file, version, metadata, tensors, alignment, dataStart };
}
