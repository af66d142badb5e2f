// Loads octoserve's subset of the ONNX schema (proto/onnx/onnx-subset.proto) with protobufjs.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const SCHEMA_PATH = fileURLToPath(new URL('../../../../proto/onnx/onnx-subset.proto', import.meta.url));

let modelType: protobuf.Type | undefined;

/** The protobufjs type of onnx.ModelProto, loaded once per process. */
export function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.loadSync(SCHEMA_PATH).lookupType('onnx.ModelProto');
  return modelType;
}

/** TensorProto.DataType values octoserve uses. */
export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9 } as const;

/** AttributeProto.AttributeType values octoserve uses. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** IR version and opset of every graph octoserve writes. */
export const IR_VERSION = 8;
export const OPSET_VERSION = 23;
