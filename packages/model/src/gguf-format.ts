// Constants of llama.cpp's GGUF file format (little-endian, versions 2 and 3):
//   uint32 magic "GGUF", uint32 version, uint64 tensor_count, uint64 metadata_kv_count,
//   metadata: { string key, uint32 value_type, value } x kv_count,
//   tensor infos: { string name, uint32 n_dims, uint64 dims[n_dims], uint32 ggml_type, uint64 offset } x tensor_count,
//   padding to `general.alignment` (default 32), then the data section; each offset counts from its
//   start and is a multiple of the alignment. A string is uint64 length + UTF-8 bytes (no NUL).
// dims list the fastest-varying dimension first: a row-major (rows, cols) matrix has dims [cols, rows].

/** "GGUF" read as a little-endian uint32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types. */
export const GgufValueType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** A metadata value: numbers (64-bit integers as bigint), booleans, strings, and arrays of them. */
export type GgufScalar = number | bigint | boolean | string;
export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly items: readonly GgufScalar[] | readonly GgufArray[] | Float32Array | Int32Array;
}
export type GgufValue = GgufScalar | GgufArray;

/** A metadata entry with its stored type (needed to write it back the same way). */
export interface GgufEntry {
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

/** The tensor element types this reader knows by name (ggml_type ids). */
export const GGML_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1',
  10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS',
  24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16',
};

/** The types octoserve reads (and writes), each as float32 on read. */
export type GgmlType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0';
export const GGML_TYPE_IDS: Readonly<Record<GgmlType, number>> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 };
export const GGML_TYPES: readonly GgmlType[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'];

/** Elements per block and bytes per block: plain types are blocks of one element. */
export const GGML_BLOCK: Readonly<Record<GgmlType, { elements: number; bytes: number }>> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  Q8_0: { elements: 32, bytes: 2 + 32 }, // f16 scale, 32 x int8
  Q4_0: { elements: 32, bytes: 2 + 16 }, // f16 scale, 16 bytes of nibbles
};

export function ggmlTypeName(id: number): string {
  return GGML_TYPE_NAMES[id] ?? `unknown (ggml type id ${id})`;
}

export function ggmlTypeOf(id: number): GgmlType | undefined {
  return GGML_TYPES.find((t) => GGML_TYPE_IDS[t] === id);
}

export function isGgmlType(s: string): s is GgmlType {
  return (GGML_TYPES as readonly string[]).includes(s);
}

/** Bytes of `elements` elements of `type` laid out as whole blocks (elements a multiple of the block). */
export function ggmlBytes(type: GgmlType, elements: number): number {
  const b = GGML_BLOCK[type];
  return (elements / b.elements) * b.bytes;
}

/** general.file_type ("mostly" type) of a file whose matrices are `type`. */
export const GGUF_FILE_TYPE: Readonly<Record<GgmlType, number>> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 };

/** tokenizer.ggml.token_type values. */
export const GgufTokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
