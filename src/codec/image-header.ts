// Magic-byte sniffing and header-only size reading for PNG and JPEG. Reading the declared size
// BEFORE decoding lets us reject wrong-size frames and decompression bombs (a 100-byte PNG that
// claims 60000x60000) without allocating a single pixel.

export type ImageFormat = "PNG" | "JPEG";

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function sniffImageFormat(data: Uint8Array): ImageFormat | undefined {
  if (data.length >= 8 && PNG_MAGIC.every((b, i) => data[i] === b)) return "PNG";
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return "JPEG";
  return undefined;
}

export interface ImageSize {
  height: number;
  width: number;
}

/** Declared size from the header, or undefined when the header is missing or malformed. */
export function readImageSize(data: Uint8Array, format: ImageFormat): ImageSize | undefined {
  return format === "PNG" ? readPngSize(data) : readJpegSize(data);
}

function u16be(d: Uint8Array, o: number): number {
  return (d[o]! << 8) | d[o + 1]!;
}

function u32be(d: Uint8Array, o: number): number {
  return ((d[o]! << 24) >>> 0) + ((d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!);
}

// PNG: signature(8) then the IHDR chunk must come first: length(4)=13, "IHDR", width(4), height(4).
function readPngSize(d: Uint8Array): ImageSize | undefined {
  if (d.length < 24) return undefined;
  const isIhdr = d[12] === 0x49 && d[13] === 0x48 && d[14] === 0x44 && d[15] === 0x52;
  if (!isIhdr || u32be(d, 8) !== 13) return undefined;
  const width = u32be(d, 16);
  const height = u32be(d, 20);
  return width > 0 && height > 0 ? { height, width } : undefined;
}

// JPEG: walk marker segments until a start-of-frame (SOF0..SOF15 except DHT=C4, JPG=C8, DAC=CC).
// SOF payload: length(2) precision(1) height(2) width(2) components(1).
function readJpegSize(d: Uint8Array): ImageSize | undefined {
  let o = 2;
  while (o + 4 <= d.length) {
    if (d[o] !== 0xff) return undefined;
    const marker = d[o + 1]!;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2; // standalone markers carry no length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // EOI / SOS before any SOF
    const len = u16be(d, o + 2);
    if (len < 2) return undefined;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (o + 9 > d.length) return undefined;
      const height = u16be(d, o + 5);
      const width = u16be(d, o + 7);
      // height 0 means "defined later by a DNL marker": legal but exotic; treat as unreadable.
      return width > 0 && height > 0 ? { height, width } : undefined;
    }
    o += 2 + len;
  }
  return undefined;
}
