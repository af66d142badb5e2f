// A small builder for ONNX graphs of standard operators, serialised to ModelProto bytes.
import { AttributeType, DataType, IR_VERSION, OPSET_VERSION, onnxModelType } from './onnx-schema.js';

/** onnxruntime's contrib operators (MatMulNBits). */
export const CONTRIB_DOMAIN = 'com.microsoft';

/** A dimension: a fixed size or a symbolic name ("tokens", "past"). */
export type Dim = number | string;

export type AttributeValue = number | number[] | string | { floats: number[] } | { float: number };

interface TensorInit {
  name: string;
  dataType: number;
  dims: number[];
  rawData: Uint8Array;
}

interface Node {
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  name: string;
  attribute: object[];
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): object {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function attribute(name: string, value: AttributeValue): object {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

function bytesOf(data: Float32Array | Int32Array | BigInt64Array | Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Builds one graph. `op` returns the name of its (first) output so blocks read
 * like the math: `const y = g.op('Mul', [x, w])`.
 */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: TensorInit[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private counter = 0;
  /** Operator domains besides the standard one that the graph's nodes use. */
  private readonly domains = new Set<string>();
  /** What initializer names start with while a block is added (scoped). */
  private scope = '';

  constructor(readonly name: string) {}

  /**
   * Runs `build` with every initializer it adds named `prefix` + its name, so a block that names
   * its constants ('eps', 'wqkv') can be added to one graph once per layer.
   */
  scoped<T>(prefix: string, build: () => T): T {
    const outer = this.scope;
    this.scope = outer + prefix;
    try {
      return build();
    } finally {
      this.scope = outer;
    }
  }

  /** A name no other value of the graph has, for an intermediate a block names itself. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  private init(name: string, dataType: number, dims: readonly number[], rawData: Uint8Array): string {
    const scopedName = this.scope + name;
    this.inits.push({ name: scopedName, dataType, dims: [...dims], rawData });
    return scopedName;
  }

  input(name: string, dims: readonly Dim[], elemType: number = DataType.FLOAT): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, dims: readonly Dim[], elemType: number = DataType.FLOAT): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** A float32 initializer (weights are initializers so onnxruntime can pre-pack them). */
  weight(name: string, data: Float32Array, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new Error(`initializer ${name}: dims [${dims.join(', ')}] hold ${count} floats, data has ${data.length}`);
    }
    return this.init(name, DataType.FLOAT, dims, bytesOf(data));
  }

  /** A uint8 initializer (packed quantized weights). */
  bytes(name: string, data: Uint8Array, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${name}: dims [${dims.join(', ')}] hold ${count} bytes, data has ${data.length}`);
    return this.init(name, DataType.UINT8, dims, data);
  }

  /** An int64 constant (shapes, axes). */
  ints(name: string, values: readonly number[]): string {
    return this.init(name, DataType.INT64, [values.length], bytesOf(BigInt64Array.from(values, (v) => BigInt(v))));
  }

  /** An int32 constant (Slice bounds beside an int32 input, which a step sets without a BigInt). */
  ints32(name: string, values: readonly number[]): string {
    return this.init(name, DataType.INT32, [values.length], bytesOf(Int32Array.from(values)));
  }

  /** A float32 scalar constant. */
  scalar(name: string, value: number): string {
    return this.init(name, DataType.FLOAT, [], bytesOf(Float32Array.of(value)));
  }

  /** Adds a node; returns its outputs' names (`outputs` names them, else they are generated). */
  opN(opType: string, input: readonly string[], attrs: Record<string, AttributeValue> = {}, outputs: number | readonly string[] = 1): string[] {
    const id = this.counter++;
    const output = typeof outputs === 'number'
      ? Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}_${id}_${i}`)
      : [...outputs];
    const attributes = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType, input: [...input], output, name: `${opType}_${id}`, attribute: attributes });
    return output;
  }

  /** Adds a single-output node of onnxruntime's contrib domain (com.microsoft). */
  contribOp(opType: string, input: readonly string[], attrs: Record<string, AttributeValue> = {}, out?: string): string {
    const name = this.op(opType, input, attrs, out);
    const node = this.nodes.at(-1) as Node;
    node.domain = CONTRIB_DOMAIN;
    this.domains.add(CONTRIB_DOMAIN);
    return name;
  }

  /** Adds a single-output node; `out` names its output (e.g. a graph output). */
  op(opType: string, input: readonly string[], attrs: Record<string, AttributeValue> = {}, out?: string): string {
    const [name] = this.opN(opType, input, attrs, out === undefined ? 1 : [out]);
    return name as string;
  }

  /** Serialises to ONNX ModelProto bytes for InferenceSession.create. */
  toBytes(): Uint8Array {
    const type = onnxModelType();
    const model = {
      irVersion: IR_VERSION,
      producerName: 'octoserve',
      opsetImport: [{ domain: '', version: OPSET_VERSION }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    };
    return type.encode(type.fromObject(model)).finish();
  }
}
