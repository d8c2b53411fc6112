// Synchronous JPEG/PNG encodes straight into the libvips that sharp ships (@img/sharp-libvips-*), called
// through koffi. Why not sharp: every sharp call is one libuv job (a JS options object, a hop to a pool
// thread and back, a promise), which for a 48x64 frame costs more than the encode itself
// (bench/codecs-jpeg.ts measures both against a C program calling the same two libvips functions).
// Called from an encoder worker thread (encoder-worker.ts), a whole batch of frames costs one
// message each way and then runs back to back at the C floor.
//
// Same library, same options as image-encode.ts's sharp pipelines, so the bytes are identical
// (test/codec/encoder-pool.test.ts compares them). Sharp itself initialises libvips when it loads;
// vips_init is also called here so a worker that never loaded sharp is safe (it is idempotent).

import path from "node:path";

/** Sync encoders over one loaded libvips; throw Error with libvips' message on failure. */
export interface VipsEncoder {
  readonly version: string;
  readonly libraryPath: string;
  /** `rgb` is the frame itself, or the address of its first byte in this process (addressOf). */
  jpeg(rgb: Uint8Array | bigint, width: number, height: number, quality: number): Uint8Array;
  png(rgb: Uint8Array | bigint, width: number, height: number, compressionLevel: number, adaptiveFiltering: boolean): Uint8Array;
}

/**
 * The address of a frame's first byte, for an encoder thread of this process to read it in place (no
 * copy). Array buffer memory does not move while referenced; the caller keeps `rgb` referenced and
 * unmodified until the encode answers, as sharp's own calls require of their input too.
 */
export function addressOf(rgb: Uint8Array): bigint {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("koffi") as typeof import("koffi")).address(rgb);
}

// libvips enum values (vips/foreign.h, vips/image.h); stable across 8.x.
const VIPS_FORMAT_UCHAR = 0;
const VIPS_FOREIGN_SUBSAMPLE_ON = 1;
const VIPS_FOREIGN_KEEP_NONE = 0;
const VIPS_FOREIGN_PNG_FILTER_NONE = 0x08;
const VIPS_FOREIGN_PNG_FILTER_ALL = 0xf8;

/** Where sharp's own libvips lives on this platform, or undefined (then sharp is the only path). */
export function sharpLibvipsPath(): string | undefined {
  const musl = process.platform === "linux" && !(process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  const pkg = `@img/sharp-libvips-${process.platform}${musl ? "musl" : ""}-${process.arch}`;
  try {
    const dir = require(`${pkg}/lib`) as string;
    const binary = require.resolve(`${pkg}/binary`);
    return path.isAbsolute(binary) ? binary : path.join(dir, path.basename(binary));
  } catch {
    return undefined;
  }
}

let loaded: VipsEncoder | null | undefined;

/** The encoder, or undefined where koffi or sharp's libvips cannot be loaded (cached either way). */
export function loadVipsEncoder(): VipsEncoder | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  try {
    loaded = bind();
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}

function bind(): VipsEncoder {
  const libraryPath = sharpLibvipsPath();
  if (libraryPath === undefined) throw new Error("sharp's libvips package not found");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require("koffi") as typeof import("koffi");
  const lib = koffi.load(libraryPath);
  const vipsInit = lib.func("int vips_init(const char *argv0)");
  const versionString = lib.func("const char *vips_version_string(void)");
  const newFromMemory = lib.func("void *vips_image_new_from_memory(const uint8_t *data, size_t size, int width, int height, int bands, int format)");
  const newFromAddress = lib.func("vips_image_new_from_memory", "void *", ["uintptr_t", "size_t", "int", "int", "int", "int"]);
  const jpegsave = lib.func("int vips_jpegsave_buffer(void *in, _Out_ void **buf, _Out_ size_t *len, ...)");
  const pngsave = lib.func("int vips_pngsave_buffer(void *in, _Out_ void **buf, _Out_ size_t *len, ...)");
  const unref = lib.func("void g_object_unref(void *obj)");
  const gFree = lib.func("void g_free(void *p)");
  const errorBuffer = lib.func("const char *vips_error_buffer(void)");
  const errorClear = lib.func("void vips_error_clear(void)");
  if (vipsInit("dream-engine") !== 0) throw new Error("vips_init failed");
  // Variadic arguments need a type each; resolved once here rather than parsed from a name per call.
  const STR = koffi.types.str;
  const INT = koffi.types.int;

  const fail = (what: string): never => {
    const why = String(errorBuffer() ?? "").trim();
    errorClear();
    throw new Error(`${what}: ${why || "libvips failed"}`);
  };
  const save = (what: string, rgb: Uint8Array | bigint, width: number, height: number, call: (image: unknown, out: unknown[], len: number[]) => number): Uint8Array => {
    const bytes = width * height * 3;
    if (typeof rgb !== "bigint" && rgb.byteLength !== bytes) throw new Error(`${what}: frame is ${rgb.byteLength} bytes, expected ${height}x${width}x3`);
    // The image points at the frame's memory without copying; it is released before this returns.
    const image = typeof rgb === "bigint" ? newFromAddress(rgb, bytes, width, height, 3, VIPS_FORMAT_UCHAR) : newFromMemory(rgb, bytes, width, height, 3, VIPS_FORMAT_UCHAR);
    if (image === null) fail(what);
    const out: unknown[] = [null];
    const len: number[] = [0];
    let rc: number;
    try {
      rc = call(image, out, len);
    } finally {
      unref(image);
    }
    if (rc !== 0) fail(what);
    try {
      // An ArrayBuffer of its own (not a pooled Buffer slab), so it can be transferred between threads.
      const copy = new Uint8Array(len[0]!);
      copy.set(new Uint8Array(koffi.view(out[0], len[0]!)));
      return copy;
    } finally {
      gFree(out[0]);
    }
  };

  return {
    version: String(versionString()),
    libraryPath,
    // sharp's .jpeg({ quality, chromaSubsampling: "4:2:0" }): Huffman optimisation on, no metadata.
    jpeg: (rgb, width, height, quality) =>
      save("JPEG", rgb, width, height, (image, out, len) =>
        jpegsave(image, out, len, STR, "Q", INT, quality, STR, "subsample_mode", INT, VIPS_FOREIGN_SUBSAMPLE_ON, STR, "optimize_coding", INT, 1, STR, "keep", INT, VIPS_FOREIGN_KEEP_NONE, STR, null),
      ),
    // sharp's .png({ compressionLevel, adaptiveFiltering }): no palette, 8 bits, no metadata.
    png: (rgb, width, height, compressionLevel, adaptiveFiltering) =>
      save("PNG", rgb, width, height, (image, out, len) =>
        pngsave(image, out, len, STR, "compression", INT, compressionLevel, STR, "filter", INT, adaptiveFiltering ? VIPS_FOREIGN_PNG_FILTER_ALL : VIPS_FOREIGN_PNG_FILTER_NONE, STR, "keep", INT, VIPS_FOREIGN_KEEP_NONE, STR, null),
      ),
  };
}
