import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import { NPY_HEADER_BYTES_MAX, encodeNpy, parseNpy } from "../../src/codec/npy";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";

// Fixtures are written by real numpy at test time (python3 + numpy are on every machine here), so
// the parser is checked against numpy's actual bytes, not against our idea of them.
const FIXTURES_PY = String.raw`
import base64, io, json, numpy as np
rng = np.random.default_rng(7)
a = rng.standard_normal((49, 384)).astype('<f4')
def save(arr, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, arr)
    else:
        np.lib.format.write_array(b, arr, version=version)
    return base64.b64encode(b.getvalue()).decode()
raw = lambda arr: base64.b64encode(np.ascontiguousarray(arr).astype('<f4').tobytes()).decode()
k = rng.standard_normal((8, 48, 384)).astype('<f4')
d = rng.standard_normal((49, 384)) * 1e3
out = {
  'f4': [save(a), raw(a)],
  'f8': [save(d), raw(d)],
  'k3d': [save(k), raw(k)],
  'v2': [save(a, (2, 0)), raw(a)],
  'v3': [save(a, (3, 0)), raw(a)],
  'vec': [save(a[0]), raw(a[0])],
  'fortran': [save(np.asfortranarray(a)), ''],
  'bigendian': [save(a.astype('>f4')), ''],
  'int32': [save(a.astype('<i4')), ''],
  'structured': [save(np.zeros(3, dtype=[('x', '<f4')])), ''],
}
print(json.dumps(out))
`;

const READBACK_PY = String.raw`
import io, sys, numpy as np
a = np.load(io.BytesIO(sys.stdin.buffer.read()), allow_pickle=False)
print(a.dtype.str, list(a.shape), a.flags['C_CONTIGUOUS'], float(a.astype('f8').sum()))
`;

const b64 = (s: string) => Buffer.from(s, "base64");

function rejectsWith(buf: Uint8Array, message: RegExp, field = "actions"): ServiceError {
  try {
    parseNpy(buf, field);
  } catch (err) {
    assert.ok(err instanceof ServiceError, String(err));
    assert.equal(err.reason, "INVALID_ARGUMENT");
    assert.match(err.message, message);
    assert.equal(err.details.field, field);
    return err;
  }
  assert.fail("expected parseNpy to reject");
}

/** A syntactically valid v1.0 file with a custom header text and payload. */
function handMade(header: string, payload = Buffer.alloc(0), version = [1, 0]): Buffer {
  const h = Buffer.from(header, "latin1");
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version[0]!, version[1]!, h.length & 0xff, h.length >> 8]);
  return Buffer.concat([pre, h, payload]);
}

describe("codec/npy", () => {
  let fx: Record<string, [string, string]>;

  before(function () {
    try {
      fx = JSON.parse(execFileSync("python3", ["-c", FIXTURES_PY], { maxBuffer: 64 << 20 }).toString());
    } catch (err) {
      throw new Error(`python3 with numpy is required for the .npy fixtures: ${String(err)}`);
    }
  });

  it("reads numpy's float32 (T, 384), zero-copy when aligned", () => {
    const [file, raw] = fx.f4!;
    const buf = b64(file);
    const arr = parseNpy(buf);
    assert.equal(arr.dtype, "float32");
    assert.deepEqual(arr.shape, [49, 384]);
    assert.ok(Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength).equals(b64(raw)));
    if ((buf.byteOffset + 128) % 4 === 0) assert.equal(arr.data.buffer, buf.buffer, "aligned payload should be a view");
  });

  it("copies into an aligned Float32Array when the payload is unaligned", () => {
    const [file, raw] = fx.f4!;
    const backing = Buffer.alloc(b64(file).length + 1);
    b64(file).copy(backing, 1);
    const shifted = backing.subarray(1);
    assert.notEqual((shifted.byteOffset + 128) % 4, 0);
    const arr = parseNpy(shifted);
    assert.notEqual(arr.data.buffer, shifted.buffer);
    assert.ok(Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength).equals(b64(raw)));
  });

  it("narrows float64 to float32 the way numpy's astype does", () => {
    const [file, raw] = fx.f8!;
    const arr = parseNpy(b64(file));
    assert.equal(arr.dtype, "float64");
    assert.deepEqual(arr.shape, [49, 384]);
    assert.ok(Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength).equals(b64(raw)));
    const odd = Buffer.alloc(b64(file).length + 3);
    b64(file).copy(odd, 3);
    const arr2 = parseNpy(odd.subarray(3));
    assert.ok(Buffer.from(arr2.data.buffer, arr2.data.byteOffset, arr2.data.byteLength).equals(b64(raw)));
  });

  it("reads 3-D (K, T, 384), 1-D and format versions 2.0 and 3.0", () => {
    const k = parseNpy(b64(fx.k3d![0]));
    assert.deepEqual(k.shape, [8, 48, 384]);
    assert.ok(Buffer.from(k.data.buffer, k.data.byteOffset, k.data.byteLength).equals(b64(fx.k3d![1])));
    assert.deepEqual(parseNpy(b64(fx.vec![0])).shape, [384]);
    for (const v of ["v2", "v3"]) {
      const buf = b64(fx[v]![0]);
      assert.equal(buf[6], v === "v2" ? 2 : 3);
      const arr = parseNpy(buf);
      assert.deepEqual(arr.shape, [49, 384]);
      assert.ok(Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength).equals(b64(fx[v]![1])));
    }
  });

  it("rejects fortran order, big-endian, int32 and structured dtypes by name", () => {
    rejectsWith(b64(fx.fortran![0]), /^actions: fortran_order=True is not supported/);
    const be = rejectsWith(b64(fx.bigendian![0]), /^actions: big-endian dtype '>f4' is not supported/);
    assert.equal(be.details.given, ">f4");
    const i4 = rejectsWith(b64(fx.int32![0]), /^actions: unsupported dtype '<i4'; expected float32 \('<f4'\) or float64 \('<f8'\)$/);
    assert.equal(i4.details.given, "<i4");
    rejectsWith(b64(fx.structured![0]), /structured\/record dtype/);
  });

  it("names the field it was given", () => {
    rejectsWith(b64(fx.int32![0]), /^candidates\[2\]: unsupported dtype '<i4'/, "candidates[2]");
  });

  it("rejects bad magic, unknown versions, oversized and malformed headers", () => {
    rejectsWith(Buffer.from("PK\x03\x04 this is a zip, not npy"), /bad magic/);
    rejectsWith(Buffer.alloc(4), /bad magic/);
    const good = b64(fx.f4![0]);
    const v4 = Buffer.from(good);
    v4[6] = 4;
    rejectsWith(v4, /unsupported format version 4\.0/);
    const huge = Buffer.from(good.subarray(0, 12));
    huge[6] = 2;
    huge.writeUInt32LE(NPY_HEADER_BYTES_MAX + 1, 8);
    rejectsWith(huge, /header of 10001 bytes is over the 10000-byte limit/);
    rejectsWith(good.subarray(0, 40), /header claims 118 bytes but the file has 30/);
    rejectsWith(handMade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3) \n"), /malformed header/);
    rejectsWith(handMade("__import__('os').system('x')\n"), /malformed header/);
    rejectsWith(handMade("{'descr': '<f4', 'shape': (1,), }\n"), /exactly the keys descr, fortran_order, shape/);
    rejectsWith(handMade("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n"), /exactly the keys/);
    rejectsWith(handMade("{'descr': '<f4', 'fortran_order': False, 'shape': (1, -2), }\n"), /non-negative integers/);
    rejectsWith(handMade("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }\n", Buffer.alloc(4)), /fortran_order must be True or False/);
  });

  it("rejects a shape nested thousands of levels deep with INVALID_ARGUMENT naming the field, not a stack overflow", () => {
    for (const levels of [3_000, 4_900]) {
      const header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${"(".repeat(levels)}${")".repeat(levels)}, }\n`;
      assert.ok(header.length <= NPY_HEADER_BYTES_MAX);
      rejectsWith(handMade(header), /^actions: not a valid \.npy file: malformed header \(nested deeper than \d+ levels/);
    }
    // Lists nest the same way, and a flat header with just as many characters is fine.
    rejectsWith(handMade(`{'descr': ${"[".repeat(2_000)}${"]".repeat(2_000)}, 'fortran_order': False, 'shape': (1,), }\n`), /nested deeper than/);
    rejectsWith(handMade(`{'descr': '<f4', 'fortran_order': False, 'shape': ${"(".repeat(limits.npyHeaderDepthMax)}${")".repeat(limits.npyHeaderDepthMax)}, }\n`), /shape must be a tuple of/);
  });

  it("rejects a payload whose length does not match the shape", () => {
    const good = b64(fx.f4![0]);
    const err = rejectsWith(good.subarray(0, good.length - 4), /^actions: \.npy data is 75260 bytes but shape \(49, 384\) float32 needs 75264 bytes$/);
    assert.equal(err.details.expected_bytes, 75264);
    rejectsWith(Buffer.concat([good, Buffer.alloc(4)]), /75268 bytes but shape \(49, 384\)/);
  });

  it("encodeNpy writes exactly what numpy.save writes, and numpy reads it back", () => {
    const [file, raw] = fx.f4!;
    const rawBuf = b64(raw);
    const data = new Float32Array(rawBuf.buffer.slice(rawBuf.byteOffset, rawBuf.byteOffset + rawBuf.length));
    const ours = encodeNpy(data, [49, 384]);
    assert.ok(ours.equals(b64(file)), "byte-identical to numpy.save");
    const u8 = encodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6]), [1, 2, 3]);
    const back = execFileSync("python3", ["-c", READBACK_PY], { input: u8 }).toString().trim();
    assert.equal(back, "|u1 [1, 2, 3] True 21.0");
    const one = execFileSync("python3", ["-c", READBACK_PY], { input: encodeNpy(new Float32Array([0.5, 1.5]), [2]) }).toString().trim();
    assert.equal(one, "<f4 [2] True 2.0");
  });
});
