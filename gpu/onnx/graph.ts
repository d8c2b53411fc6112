// A tiny ONNX graph builder on top of onnx-proto (protobufjs). It exists so the reference models can
// be written from TypeScript with no Python, byte-for-byte reproducibly: names come from a counter in
// call order, tensors are stored as little-endian raw_data, and nothing time- or host-dependent is
// written into the model.
import { onnx } from "onnx-proto";
import { endianness } from "node:os";
import { assert } from "../../src/core/assert";

export const DT = onnx.TensorProto.DataType;
export type ElemType = onnx.TensorProto.DataType;

/** A dimension: a fixed size, or a symbolic name such as "B". */
export type Dim = number | string;

export type AttrValue =
  | { kind: "i"; v: number }
  | { kind: "f"; v: number }
  | { kind: "s"; v: string }
  | { kind: "ints"; v: number[] }
  | { kind: "floats"; v: number[] }
  | { kind: "g"; v: onnx.IGraphProto };

/** Attribute constructors; explicit because 1.0 and 1 are the same JS number. */
export const attr = {
  i: (v: number): AttrValue => ({ kind: "i", v }),
  f: (v: number): AttrValue => ({ kind: "f", v }),
  s: (v: string): AttrValue => ({ kind: "s", v }),
  ints: (v: number[]): AttrValue => ({ kind: "ints", v }),
  floats: (v: number[]): AttrValue => ({ kind: "floats", v }),
  g: (v: onnx.IGraphProto): AttrValue => ({ kind: "g", v }),
};

export function valueInfo(name: string, elemType: ElemType, dims: Dim[] | null): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType };
  if (dims !== null) {
    tensorType.shape = { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) };
  }
  return { name, type: { tensorType } };
}

function toAttribute(name: string, a: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case "i":
      assert(Number.isSafeInteger(a.v), `attribute ${name}: integer expected`);
      return { name, type: T.INT, i: a.v };
    case "f":
      return { name, type: T.FLOAT, f: a.v };
    case "s":
      return { name, type: T.STRING, s: Buffer.from(a.v, "utf8") };
    case "ints":
      return { name, type: T.INTS, ints: a.v };
    case "floats":
      return { name, type: T.FLOATS, floats: a.v };
    case "g":
      return { name, type: T.GRAPH, g: a.v };
  }
}

type TensorData = Float32Array | BigInt64Array | Uint8Array | Int32Array;

function elemTypeOf(data: TensorData): ElemType {
  if (data instanceof Float32Array) return DT.FLOAT;
  if (data instanceof BigInt64Array) return DT.INT64;
  if (data instanceof Int32Array) return DT.INT32;
  return DT.UINT8;
}

export function tensorProto(name: string, dims: number[], data: TensorData): onnx.ITensorProto {
  assert(endianness() === "LE", "ONNX raw_data is little-endian; this host is not");
  const count = dims.reduce((a, b) => a * b, 1);
  assert(data.length === count, `tensor ${name}: ${data.length} values for dims [${dims}]`);
  return {
    name,
    dims,
    dataType: elemTypeOf(data),
    rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  };
}

/** Builds one GraphProto. Output names default to `${prefix}${opType}_${n}`, so call order fixes them. */
export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(
    readonly name: string,
    /** Prefix for generated names: subgraphs use their own so they never collide with the outer scope. */
    private readonly prefix = "",
  ) {}

  private claim(name: string): string {
    assert(!this.names.has(name), `graph ${this.name}: duplicate name ${name}`);
    this.names.add(name);
    return name;
  }

  input(name: string, elemType: ElemType, dims: Dim[] | null): string {
    this.inputs.push(valueInfo(this.claim(name), elemType, dims));
    return name;
  }

  /** Declares a graph output; `value` is renamed to `name` with an Identity when they differ. */
  output(name: string, elemType: ElemType, dims: Dim[] | null, value: string): string {
    if (value !== name) this.nodes.push({ opType: "Identity", input: [value], output: [this.claim(name)], name: `${this.prefix}out_${name}` });
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  init(name: string, dims: number[], data: TensorData): string {
    this.initializers.push(tensorProto(this.claim(name), dims, data));
    return name;
  }

  f32(name: string, dims: number[], values: ArrayLike<number>): string {
    return this.init(name, dims, Float32Array.from(values));
  }

  i64(name: string, dims: number[], values: number[]): string {
    return this.init(name, dims, BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /** Adds one node and returns its outputs' names. `""` as an input means "optional input omitted". */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1): string[] {
    const n = this.counter++;
    const outNames = Array.from({ length: outputs }, (_, k) => this.claim(`${this.prefix}${opType}_${n}${outputs > 1 ? `_${k}` : ""}`));
    this.nodes.push({
      name: `${this.prefix}${opType}_${n}`,
      opType,
      input: inputs,
      output: outNames,
      // Sorted so that the serialized bytes never depend on object key order.
      attribute: Object.keys(attrs)
        .sort()
        .map((k) => toAttribute(k, attrs[k]!)),
    });
    return outNames;
  }

  /** Single-output shorthand for op(). */
  o(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.op(opType, inputs, attrs, 1)[0]!;
  }

  build(): onnx.IGraphProto {
    return { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }
}

export interface ModelMeta {
  irVersion: number;
  opset: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  metadata: Record<string, string>;
}

export function encodeModel(graph: onnx.IGraphProto, meta: ModelMeta): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: meta.irVersion,
    opsetImport: [{ domain: "", version: meta.opset }],
    producerName: meta.producerName,
    producerVersion: meta.producerVersion,
    docString: meta.docString,
    graph,
    metadataProps: Object.keys(meta.metadata)
      .sort()
      .map((key) => ({ key, value: meta.metadata[key]! })),
  };
  const err = onnx.ModelProto.verify(model);
  assert(err === null, `invalid ModelProto: ${err}`);
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
