/**
 * gRPC server reflection (v1 and v1alpha) served from the exact descriptor
 * set `buf build` wrote (common/gen/polarise.binpb), so that Go-based tools
 * such as grpcurl and `buf curl` can list and call the services with no
 * .proto files at hand. Descriptors are sent as the original bytes.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import type * as v1 from '../../common/gen/grpc/reflection/v1/reflection.js';

type Request = v1.ServerReflectionRequest;
type Response = v1.ServerReflectionResponse;

interface FileEntry {
  name: string;
  bytes: Buffer;
  dependencies: string[];
}

export class DescriptorIndex {
  private readonly files = new Map<string, FileEntry>();
  private readonly symbols = new Map<string, string>();

  constructor(descriptorSet: Uint8Array) {
    // FileDescriptorSet is `repeated FileDescriptorProto file = 1`: keep each
    // file's bytes exactly as buf wrote them.
    const reader = new BinaryReader(descriptorSet);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field !== 1 || wireType !== WireType.LengthDelimited) {
        reader.skip(wireType);
        continue;
      }
      const bytes = Buffer.from(reader.bytes());
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      this.files.set(file.name, { name: file.name, bytes, dependencies: file.dependency });
      this.indexFile(file);
    }
  }

  private indexFile(file: FileDescriptorProto): void {
    const prefix = file.package ? file.package + '.' : '';
    const addMessage = (message: DescriptorProto, scope: string) => {
      const name = scope + message.name;
      this.symbols.set(name, file.name);
      for (const field of message.field) this.symbols.set(`${name}.${field.name}`, file.name);
      for (const e of message.enumType) this.symbols.set(`${name}.${e.name}`, file.name);
      for (const nested of message.nestedType) addMessage(nested, name + '.');
    };
    for (const message of file.messageType) addMessage(message, prefix);
    for (const e of file.enumType) this.symbols.set(prefix + e.name, file.name);
    for (const service of file.service) {
      this.symbols.set(prefix + service.name, file.name);
      for (const method of service.method) this.symbols.set(`${prefix}${service.name}.${method.name}`, file.name);
    }
  }

  hasSymbol(symbol: string): boolean {
    return this.symbols.has(symbol);
  }

  /** The file and everything it imports, the file itself first. */
  fileWithDependencies(fileName: string): Buffer[] | undefined {
    if (!this.files.has(fileName)) return undefined;
    const seen = new Set<string>();
    const out: Buffer[] = [];
    const visit = (name: string) => {
      const entry = this.files.get(name);
      if (!entry || seen.has(name)) return;
      seen.add(name);
      out.push(entry.bytes);
      entry.dependencies.forEach(visit);
    };
    visit(fileName);
    return out;
  }

  fileContainingSymbol(symbol: string): Buffer[] | undefined {
    const file = this.symbols.get(symbol.replace(/^\./, ''));
    return file === undefined ? undefined : this.fileWithDependencies(file);
  }
}

const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

export function answer(index: DescriptorIndex, services: string[], request: Request): Response {
  const base = { validHost: request.host, originalRequest: request };
  const error = (code: number, message: string): Response => ({
    ...base,
    messageResponse: { $case: 'errorResponse', value: { errorCode: code, errorMessage: message } },
  });
  const files = (found: Buffer[] | undefined, what: string): Response =>
    found
      ? { ...base, messageResponse: { $case: 'fileDescriptorResponse', value: { fileDescriptorProto: found } } }
      : error(NOT_FOUND, `${what} not found`);

  const r = request.messageRequest;
  switch (r?.$case) {
    case 'listServices':
      return {
        ...base,
        messageResponse: { $case: 'listServicesResponse', value: { service: services.map((name) => ({ name })) } },
      };
    case 'fileByFilename':
      return files(index.fileWithDependencies(r.value), `file "${r.value}"`);
    case 'fileContainingSymbol':
      return files(index.fileContainingSymbol(r.value), `symbol "${r.value}"`);
    case 'fileContainingExtension':
      return error(NOT_FOUND, `no extensions of ${r.value.containingType}`);
    case 'allExtensionNumbersOfType':
      return index.hasSymbol(r.value)
        ? { ...base, messageResponse: { $case: 'allExtensionNumbersResponse', value: { baseTypeName: r.value, extensionNumber: [] } } }
        : error(NOT_FOUND, `type "${r.value}" not found`);
    default:
      return error(UNIMPLEMENTED, 'unsupported reflection request');
  }
}

/** A ServerReflectionInfo handler; v1 and v1alpha share the message shapes. */
export function reflectionHandler(index: DescriptorIndex, services: () => string[]) {
  return (call: ServerDuplexStream<Request, Response>) => {
    call.on('data', (request: Request) => call.write(answer(index, services(), request)));
    call.on('end', () => call.end());
    call.on('error', () => call.end());
  };
}
