/**
 * A minimal ONNX ModelProto encoder: just enough protobuf to build small float32 graphs in memory for
 * ONNX Runtime. Field numbers follow onnx/onnx.proto (proto2); only the fields used here are written.
 */
import { endianness } from 'node:os';

/** An attribute value, tagged by its ONNX type. */
export type AttrValue = { i: number } | { f: number } | { ints: readonly number[] } | { s: string };

/** A float32 graph input or output. */
export interface ValueSpec {
  name: string;
  shape: readonly number[];
}

/** A float32 constant stored in the model. */
export interface InitializerSpec extends ValueSpec {
  data: Float32Array;
}

export interface NodeSpec {
  opType: string;
  /** '' (ai.onnx, the default) or e.g. 'com.microsoft'. */
  domain?: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Record<string, AttrValue>;
}

export interface GraphSpec {
  nodes: readonly NodeSpec[];
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  initializers?: readonly InitializerSpec[];
  /** ai.onnx opset (default 17); com.microsoft is always imported at version 1. */
  opset?: number;
  /** Default 8; opset 21 needs IR version 10. */
  irVersion?: number;
}

// Protobuf wire types.
const VARINT = 0, FIXED32 = 5, LEN = 2;
// TensorProto.DataType.FLOAT and AttributeProto.AttributeType values.
const FLOAT_TYPE = 1;
const ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_INTS = 7;

/** Appends protobuf fields to a list of byte chunks; `finish()` joins them. */
class ProtoWriter {
  readonly #chunks: Uint8Array[] = [];

  #varint(value: number | bigint): void {
    // int64 fields are two's complement on the wire, so negatives take 10 bytes.
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    do {
      const low = Number(v & 0x7fn);
      v >>= 7n;
      bytes.push(v === 0n ? low : low | 0x80);
    } while (v !== 0n);
    this.#chunks.push(Uint8Array.from(bytes));
  }

  #tag(field: number, wire: number): void {
    this.#varint((field << 3) | wire);
  }

  int(field: number, value: number): this {
    this.#tag(field, VARINT);
    this.#varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.#tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#chunks.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, LEN);
    this.#varint(value.length);
    this.#chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** A repeated varint field in packed form (one length-delimited record). */
  packed(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.#varint(v);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return Buffer.concat(this.#chunks);
  }
}

// TypeProto { tensor_type = 1: Tensor { elem_type = 1, shape = 2: TensorShapeProto { dim = 1: { dim_value = 1 } } } }
function valueInfo(v: ValueSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, new ProtoWriter().int(1, d));
  const tensorType = new ProtoWriter().int(1, FLOAT_TYPE).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

// TensorProto { dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian) }
function initializer(t: InitializerSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.shape) w.int(1, d);
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return w.int(2, FLOAT_TYPE).string(8, t.name).bytes(9, raw);
}

// AttributeProto { name = 1, type = 20, f = 2, i = 3, s = 4, ints = 8 }
function attribute(name: string, value: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('i' in value) return w.int(20, ATTR_INT).int(3, value.i);
  if ('f' in value) return w.int(20, ATTR_FLOAT).float(2, value.f);
  if ('s' in value) return w.int(20, ATTR_STRING).string(4, value.s);
  return w.int(20, ATTR_INTS).packed(8, value.ints);
}

// NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7 }
function node(n: NodeSpec, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.opType}_${index}`).string(4, n.opType);
  for (const [name, value] of Object.entries(n.attributes ?? {})) w.message(5, attribute(name, value));
  if (n.domain) w.string(7, n.domain);
  return w;
}

/** Encodes a float32 graph as a serialized ModelProto, ready for `InferenceSession.create(bytes)`. */
export function encodeModel(spec: GraphSpec): Uint8Array {
  if (endianness() !== 'LE') throw new Error('onnx-model: raw_data must be little-endian; big-endian hosts are not supported');
  // GraphProto { node = 1, name = 2, initializer = 5, input = 11, output = 12 }
  const graph = new ProtoWriter();
  spec.nodes.forEach((n, i) => graph.message(1, node(n, i)));
  graph.string(2, 'bench');
  for (const t of spec.initializers ?? []) graph.message(5, initializer(t));
  for (const v of spec.inputs) graph.message(11, valueInfo(v));
  for (const v of spec.outputs) graph.message(12, valueInfo(v));
  // ModelProto { ir_version = 1, graph = 7, opset_import = 8: OperatorSetIdProto { domain = 1, version = 2 } }
  return new ProtoWriter()
    .int(1, spec.irVersion ?? 8)
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, spec.opset ?? 17))
    .message(8, new ProtoWriter().string(1, 'com.microsoft').int(2, 1))
    .finish();
}

/**
 * A model holding one node. Its inputs are the graph inputs followed by the initializers, in that order; its
 * outputs are the graph outputs.
 */
export function singleNodeModel(opts: Omit<NodeSpec, 'inputs' | 'outputs'> & Omit<GraphSpec, 'nodes'>): Uint8Array {
  const { opType, domain, attributes, ...graph } = opts;
  const inputs = [...graph.inputs, ...(graph.initializers ?? [])].map((v) => v.name);
  const n: NodeSpec = { opType, inputs, outputs: graph.outputs.map((v) => v.name) };
  if (domain !== undefined) n.domain = domain;
  if (attributes !== undefined) n.attributes = attributes;
  return encodeModel({ ...graph, nodes: [n] });
}
