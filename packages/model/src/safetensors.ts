// The safetensors file format: u64 little-endian header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}), then the data;
// offsets count from the first byte after the header.
import { closeSync, openSync } from 'node:fs';
import { dtypeBytes, encodeTensor, parseDType, type DType } from './dtype.js';
import { ModelError } from './errors.js';
import { elementCount, OpenFile, writeAll } from './tensor-file.js';

export interface SafetensorsTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute byte offset of element 0 in the file. */
  readonly offset: number;
}

export interface SafetensorsFile {
  readonly file: OpenFile;
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Largest header accepted (the reference implementation caps it at 100 MB too). */
const MAX_HEADER_BYTES = 100_000_000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Opens a .safetensors file and parses its header; tensor data is read later, by block. */
export function openSafetensors(path: string): SafetensorsFile {
  const file = new OpenFile(path);
  try {
    if (file.size < 8) throw new ModelError(`${path}: corrupt safetensors file: ${file.size} bytes, too short for the 8-byte header length`);
    const lenBytes = new Uint8Array(8);
    file.readExactly(lenBytes, 0, 'header length');
    const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
    if (headerLen > file.size - 8 || headerLen > MAX_HEADER_BYTES) {
      throw new ModelError(`${path}: corrupt safetensors header: it claims ${headerLen} bytes of JSON but the file has ${file.size - 8} after the length`);
    }
    const headerBytes = new Uint8Array(headerLen);
    file.readExactly(headerBytes, 8, 'header');
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder().decode(headerBytes));
    } catch (err) {
      throw new ModelError(`${path}: corrupt safetensors header: not valid JSON (${(err as Error).message})`);
    }
    if (!isRecord(header)) throw new ModelError(`${path}: corrupt safetensors header: not a JSON object`);
    const dataStart = 8 + headerLen;
    const dataBytes = file.size - dataStart;
    const tensors = new Map<string, SafetensorsTensor>();
    let metadata: Record<string, string> = {};
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (isRecord(entry)) metadata = entry as Record<string, string>;
        continue;
      }
      const where = `${path}: tensor ${name}`;
      if (!isRecord(entry) || typeof entry.dtype !== 'string' || !Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets)) {
        throw new ModelError(`${where}: corrupt safetensors header entry ${JSON.stringify(entry)}`);
      }
      const dtype = parseDType(entry.dtype, where);
      const shape = entry.shape as unknown[];
      const [begin, end] = entry.data_offsets as unknown[];
      if (!shape.every(isCount) || !isCount(begin) || !isCount(end)) {
        throw new ModelError(`${where}: corrupt shape ${JSON.stringify(shape)} or data_offsets ${JSON.stringify(entry.data_offsets)}`);
      }
      const bytes = elementCount(shape) * dtypeBytes(dtype);
      if (end - begin !== bytes) {
        throw new ModelError(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${bytes}`);
      }
      if (end > dataBytes) {
        throw new ModelError(`${where}: truncated file: its data ends at byte ${dataStart + end}, the file has ${file.size}`);
      }
      tensors.set(name, { dtype, shape, offset: dataStart + begin });
    }
    return { file, tensors, metadata };
  } catch (err) {
    file.close();
    throw err;
  }
}

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** Float32 values (encoded to `dtype` on write), raw little-endian bytes already in `dtype`, or a producer of floats. */
  data: Float32Array | Uint8Array | (() => Float32Array);
}

/** Writes a safetensors file, producing and writing one tensor at a time. */
export function writeSafetensors(path: string, entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of entries) {
    const bytes = elementCount(e.shape) * dtypeBytes(e.dtype);
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // data starts 8-byte aligned
  const jsonBytes = Buffer.from(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, len);
    writeAll(fd, jsonBytes);
    for (const e of entries) {
      const data = typeof e.data === 'function' ? e.data() : e.data;
      const bytes = data instanceof Float32Array ? encodeTensor(data, e.dtype) : data;
      const expected = elementCount(e.shape) * dtypeBytes(e.dtype);
      if (bytes.length !== expected) {
        throw new ModelError(`${path}: tensor ${e.name} has ${bytes.length} bytes of data, ${e.dtype} [${e.shape.join(', ')}] needs ${expected}`);
      }
      writeAll(fd, bytes);
    }
  } finally {
    closeSync(fd);
  }
}
