import { strict as assert } from "node:assert";
import { ServiceError } from "../../src/core/errors";
import { MultipartParser, multipartMixed, type MultipartLimits } from "../../src/transport/rest/multipart";
import { formBody, parseMixed } from "./helpers";

const LIMITS: MultipartLimits = { partsMax: 8, headerBytesMax: 512, partBytesMax: () => 1 << 20 };
const BOUNDARY = "----dreamtestboundary7MA4YWxk";

function parse(body: Buffer, chunkSize = body.length, limits = LIMITS) {
  const p = new MultipartParser(BOUNDARY, limits);
  for (let i = 0; i < body.length; i += chunkSize) p.write(body.subarray(i, i + chunkSize));
  return p.end();
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ServiceError, String(err));
    return `${err.reason}: ${err.message}`;
  }
  throw new Error("expected a ServiceError");
}

describe("rest: multipart/form-data parser", () => {
  const binary = Buffer.from([0, 13, 10, 45, 45, 13, 10, 255, 13, 10, 13, 10, 45]); // CR LF and dashes inside data
  const { body } = formBody([
    { name: "frame", filename: "f.png", type: "image/png", data: binary },
    { name: "actions", filename: "a.npy", data: Buffer.alloc(3000, 7) },
    { name: "seed", data: "42" },
  ]);

  it("parses parts whatever the chunking (every split point)", () => {
    const whole = parse(body);
    assert.equal(whole.length, 3);
    assert.deepEqual(
      whole.map((p) => [p.name, p.filename, p.contentType, p.data.length]),
      [
        ["frame", "f.png", "image/png", binary.length],
        ["actions", "a.npy", undefined, 3000],
        ["seed", undefined, undefined, 2],
      ],
    );
    assert.deepEqual(whole[0]!.data, binary);
    for (const size of [1, 2, 3, 7, 31, 64, 1000]) {
      const parts = parse(body, size);
      assert.deepEqual(
        parts.map((p) => p.data),
        whole.map((p) => p.data),
        `chunk size ${size}`,
      );
    }
  });

  it("ignores preamble and epilogue", () => {
    const withExtras = Buffer.concat([Buffer.from("preamble text\r\n"), body, Buffer.from("epilogue")]);
    assert.equal(parse(withExtras).length, 3);
  });

  it("limits the number of parts, header bytes and part bytes", () => {
    const many = formBody(Array.from({ length: 9 }, (_, i) => ({ name: `f${i}`, data: "x" }))).body;
    assert.match(reason(() => parse(many)), /INVALID_ARGUMENT: .*more than 8 parts/);
    const longHeader = formBody([{ name: "x".repeat(600), data: "x" }]).body;
    assert.match(reason(() => parse(longHeader, 50)), /part headers over 512 bytes/);
    const big = formBody([{ name: "frame", data: Buffer.alloc(2000) }]).body;
    assert.match(reason(() => parse(big, 100, { ...LIMITS, partBytesMax: (n) => (n === "frame" ? 1000 : 1 << 20) })), /PAYLOAD_TOO_LARGE: part frame/);
  });

  it("names the problem in malformed bodies", () => {
    assert.match(reason(() => parse(body.subarray(0, body.length - 30))), /before the closing boundary/);
    assert.match(reason(() => parse(Buffer.from("no boundary anywhere"))), /no part found/);
    assert.match(reason(() => parse(Buffer.from(`--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${BOUNDARY}--`))), /no Content-Disposition/);
    assert.match(reason(() => parse(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--${BOUNDARY}--`))), /has no name/);
    assert.match(reason(() => parse(Buffer.from(`--${BOUNDARY}\r\nbad header line\r\n\r\nx\r\n--${BOUNDARY}--`))), /bad part header line/);
  });

  it("multipart/mixed output round-trips", () => {
    const mixed = multipartMixed([
      { headers: { "Content-Type": "video/mp4", "X-DreamEngine-Candidate-Index": "0" }, body: Buffer.from("aaa") },
      { headers: { "Content-Type": "video/mp4", "X-DreamEngine-Candidate-Index": "1" }, body: binary },
    ]);
    const parts = parseMixed(Buffer.concat(mixed.chunks), mixed.contentType);
    assert.equal(parts.length, 2);
    assert.deepEqual(parts[1]!.body, binary);
    assert.equal(parts[1]!.headers["x-dreamengine-candidate-index"], "1");
    assert.equal(parts[1]!.headers["content-length"], String(binary.length));
  });
});
