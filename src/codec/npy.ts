// NumPy .npy read/write for action tensors. Layout (numpy/lib/format.py, versions 1.0/2.0/3.0):
//   "\x93NUMPY" major minor | header length (u16 LE for 1.0, u32 LE for 2.0/3.0) | header | data
// where the header is a Python dict literal (latin-1; UTF-8 from 3.0), space-padded and '\n'-ended
// so the data starts 64-byte aligned. We read little-endian C-order float32 and float64 (narrowed to
// float32) and reject everything else with an INVALID_ARGUMENT naming the field.

import { endianness } from "os";
import { assert } from "../core/assert";
import { invalidArgument } from "../core/errors";
import { NpyHeaderSyntaxError, PyValue, parsePyDict } from "./npy-header";

// Typed-array views below read host byte order; every platform we ship on is little-endian.
assert(endianness() === "LE", ".npy codec assumes a little-endian host");

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** numpy refuses headers above 10000 bytes by default (max_header_size); so do we. */
export const NPY_HEADER_BYTES_MAX = 10_000;
/** numpy's NPY_MAXDIMS (64 since numpy 2; 32 before). */
const NDIM_MAX = 64;
const ALIGN = 64;

export interface NpyArray {
  /** dtype of the file; data is float32 either way. */
  dtype: "float32" | "float64";
  shape: number[];
  data: Float32Array;
}

const shapeText = (shape: number[]): string => `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;

export function parseNpy(buf: Uint8Array, field = "actions"): NpyArray {
  const bad = (why: string, details = {}): Error => invalidArgument(field, `not a valid .npy file: ${why}`, details);
  if (buf.length < 10 || !MAGIC.every((b, i) => buf[i] === b)) {
    throw bad("bad magic (expected the bytes \\x93NUMPY; send the output of numpy.save)");
  }
  const major = buf[6]!;
  const minor = buf[7]!;
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw bad(`unsupported format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (buf.length < 8 + lenBytes) throw bad("truncated header");
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const headerStart = 8 + lenBytes;
  if (headerLen > NPY_HEADER_BYTES_MAX) {
    throw bad(`header of ${headerLen} bytes is over the ${NPY_HEADER_BYTES_MAX}-byte limit`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) throw bad(`header claims ${headerLen} bytes but the file has ${buf.length - headerStart}`);
  const headerText = Buffer.from(buf.buffer, buf.byteOffset + headerStart, headerLen).toString(major >= 3 ? "utf8" : "latin1");

  let header: Map<string, PyValue>;
  try {
    header = parsePyDict(headerText);
  } catch (err) {
    if (err instanceof NpyHeaderSyntaxError) throw bad(`malformed header (${err.message})`);
    throw err;
  }
  const keys = [...header.keys()].sort().join(",");
  if (keys !== "descr,fortran_order,shape") {
    throw bad(`header must have exactly the keys descr, fortran_order, shape; got ${[...header.keys()].join(", ") || "none"}`);
  }
  const shape = readShape(header.get("shape")!, bad);
  const descr = header.get("descr")!;
  if (typeof descr !== "string") {
    throw invalidArgument(field, "unsupported dtype (structured/record dtype); send a plain float32 array", { given: "structured" });
  }
  const dtype = readDtype(descr, field);
  const fortran = header.get("fortran_order");
  if (typeof fortran !== "boolean") throw bad("fortran_order must be True or False");
  if (fortran) {
    throw invalidArgument(field, "fortran_order=True is not supported; save a C-ordered array (numpy.ascontiguousarray(a))", {
      given: "fortran_order=True",
    });
  }

  const count = shape.reduce((a, b) => a * b, 1);
  const itemSize = dtype === "float32" ? 4 : 8;
  const need = count * itemSize;
  const have = buf.length - dataStart;
  if (!Number.isSafeInteger(need) || need !== have) {
    throw invalidArgument(
      field,
      `.npy data is ${have} bytes but shape ${shapeText(shape)} ${dtype} needs ${need} bytes`,
      { expected_bytes: need, given_bytes: have, shape },
    );
  }
  return { dtype, shape, data: readFloats(buf, dataStart, count, itemSize) };
}

function readShape(v: PyValue, bad: (why: string) => Error): number[] {
  if (v === null || typeof v !== "object" || !("tuple" in v)) throw bad("shape must be a tuple of integers");
  const dims = v.tuple;
  if (dims.length > NDIM_MAX) throw bad(`shape has ${dims.length} dimensions (max ${NDIM_MAX})`);
  for (const d of dims) {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) throw bad("shape must be a tuple of non-negative integers");
  }
  return dims as number[];
}

function readDtype(descr: string, field: string): "float32" | "float64" {
  if (descr === "<f4") return "float32";
  if (descr === "<f8") return "float64";
  if (descr === ">f4" || descr === ">f8") {
    throw invalidArgument(field, `big-endian dtype '${descr}' is not supported; send little-endian ('<${descr.slice(1)}', e.g. a.astype('<${descr.slice(1)}'))`, {
      given: descr,
    });
  }
  throw invalidArgument(field, `unsupported dtype '${descr}'; expected float32 ('<f4') or float64 ('<f8')`, { given: descr });
}

function readFloats(buf: Uint8Array, start: number, count: number, itemSize: 4 | 8): Float32Array {
  const offset = buf.byteOffset + start;
  if (itemSize === 4) {
    // Zero-copy view when the payload is 4-byte aligned (numpy aligns it to 64 within the file, but
    // the file itself may sit at any offset of a larger buffer, e.g. inside a multipart body).
    if (offset % 4 === 0) return new Float32Array(buf.buffer, offset, count);
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(buf.subarray(start, start + count * 4));
    return out;
  }
  let f64: Float64Array;
  if (offset % 8 === 0) {
    f64 = new Float64Array(buf.buffer, offset, count);
  } else {
    f64 = new Float64Array(count);
    new Uint8Array(f64.buffer).set(buf.subarray(start, start + count * 8));
  }
  return Float32Array.from(f64); // narrowing: round-to-nearest, out-of-range → ±Infinity
}

export type NpyWriteDtype = "<f4" | "|u1";

/** Write a C-order, little-endian .npy (version 1.0) the way numpy.save does. */
export function encodeNpy(data: Float32Array | Uint8Array, shape: number[], dtype?: NpyWriteDtype): Buffer {
  const descr: NpyWriteDtype = dtype ?? (data instanceof Float32Array ? "<f4" : "|u1");
  assert((descr === "<f4") === data instanceof Float32Array, `dtype ${descr} does not match ${data.constructor.name}`);
  const count = shape.reduce((a, b) => a * b, 1);
  assert(shape.every((d) => Number.isInteger(d) && d >= 0) && count === data.length, `shape ${shapeText(shape)} does not hold ${data.length} items`);
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText(shape)}, }`;
  const unpadded = 10 + dict.length + 1; // magic+version+u16 length, dict, '\n'
  dict += " ".repeat((ALIGN - (unpadded % ALIGN)) % ALIGN) + "\n";
  assert(dict.length <= 0xffff, "npy header too long for version 1.0");
  const out = Buffer.allocUnsafe(10 + dict.length + data.byteLength);
  Buffer.from(MAGIC).copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(dict.length, 8);
  out.write(dict, 10, "latin1");
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 10 + dict.length);
  return out;
}
