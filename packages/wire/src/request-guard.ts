// What arrives at a server before it is decoded: a message that is not valid protobuf,
// or whose string fields are not valid UTF-8 (which protobuf decoders otherwise turn into
// U+FFFD without a word), is marked with its problem instead of failing deep inside
// grpc-js, so the handler can answer INVALID_ARGUMENT with a line that names the field.
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { RpcError } from './rpc-error.js';
import { PROTO_ROOT } from './services.js';

/** Set on a decoded request whose bytes were not acceptable; the value says why. */
export const REQUEST_PROBLEM = Symbol('octoserve.requestProblem');

/** The request's problem, if its guard found one. */
export function requestProblem(req: object): string | undefined {
  return (req as { [REQUEST_PROBLEM]?: string })[REQUEST_PROBLEM];
}

/** `req`, unless its guard marked it: then INVALID_ARGUMENT with the problem. */
export function checkDecoded<T extends object>(req: T): T {
  const problem = requestProblem(req);
  if (problem !== undefined) throw RpcError.invalid(problem);
  return req;
}

function loadTypes(file: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_ROOT, target);
  root.loadSync(file, { keepCase: false }).resolveAll();
  return root;
}

/** The first string field (dotted path) of `type` in `bytes` that is not UTF-8; throws on malformed protobuf. */
export function invalidUtf8Field(type: protobuf.Type, bytes: Uint8Array, prefix = ''): string | undefined {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = type.fieldsById[tag >>> 3];
    const wireType = tag & 7;
    const nested = field?.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (wireType !== 2 || field === undefined || (field.type !== 'string' && nested === undefined)) {
      reader.skipType(wireType);
      continue;
    }
    const value = reader.bytes();
    if (field.type === 'string' && !isUtf8(value)) return `${prefix}${field.name}`;
    const inner = nested === undefined ? undefined : invalidUtf8Field(nested, value, `${prefix}${field.name}.`);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

/**
 * `definition` with each method's request decoder guarded: undecodable bytes or a non-UTF-8
 * string field give an object carrying REQUEST_PROBLEM instead of an exception.
 */
export function guardRequests(definition: grpc.ServiceDefinition, protoFile: string, serviceName: string): grpc.ServiceDefinition {
  const root = loadTypes(protoFile);
  const service = root.lookupService(serviceName);
  const guarded: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    const rpc = service.methods[name];
    const type = rpc === undefined ? undefined : root.lookupType(rpc.requestType);
    const typeName = type?.fullName.replace(/^\./, '') ?? 'message';
    const decode = method.requestDeserialize;
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          const field = type === undefined ? undefined : invalidUtf8Field(type, bytes);
          if (field !== undefined) return { [REQUEST_PROBLEM]: `${field} is not valid UTF-8` };
          return decode(bytes);
        } catch (err) {
          return { [REQUEST_PROBLEM]: `the request is not a valid ${typeName} (${(err as Error).message})` };
        }
      },
    };
  }
  return guarded as grpc.ServiceDefinition;
}

/** The most characters of status text a server sends: longer trailers do not get through HTTP/2 header limits. */
export const MAX_STATUS_DETAILS = 2_000;

/** `details` cut to MAX_STATUS_DETAILS, saying so when it was cut. */
export function limitDetails(details: string): string {
  return details.length <= MAX_STATUS_DETAILS ? details : `${details.slice(0, MAX_STATUS_DETAILS)}... (${details.length - MAX_STATUS_DETAILS} more characters)`;
}
