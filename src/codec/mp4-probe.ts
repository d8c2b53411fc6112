// A small, dependency-free ISO-BMFF (MP4) box reader: just enough to learn a video track's size,
// frame count and frame rate from mvhd/mdhd/stsd/stts/stsz, or from moof/trun for fragmented files.
// Parsing the container ourselves is exact (no scraping of ffmpeg's human-readable stderr) and
// works without running anything.

export interface Mp4Info {
  width: number;
  height: number;
  /** Sample entry type of the video track, e.g. "avc1". */
  codec: string;
  timescale: number;
  frameCount: number;
  /** timescale / sample duration when every frame lasts the same; else frames / duration. */
  fps: number;
  durationS: number;
  fragmented: boolean;
}

interface Box {
  type: string;
  start: number; // payload start
  end: number; // box end
}

export class Mp4ParseError extends Error {
  override name = "Mp4ParseError";
}

function* boxes(buf: Buffer, start: number, end: number): Generator<Box> {
  let o = start;
  while (o + 8 <= end) {
    let size = buf.readUInt32BE(o);
    const type = buf.toString("latin1", o + 4, o + 8);
    let header = 8;
    if (size === 1) {
      if (o + 16 > end) throw new Mp4ParseError(`box ${type}: truncated 64-bit size`);
      const big = buf.readBigUInt64BE(o + 8);
      if (big > BigInt(end - o)) throw new Mp4ParseError(`box ${type}: size past end of data`);
      size = Number(big);
      header = 16;
    } else if (size === 0) {
      size = end - o; // extends to the end of the enclosing space
    }
    if (size < header || o + size > end) throw new Mp4ParseError(`box ${type} at ${o}: bad size ${size}`);
    yield { type, start: o + header, end: o + size };
    o += size;
  }
}

function child(buf: Buffer, parent: Box, type: string): Box | undefined {
  for (const b of boxes(buf, parent.start, parent.end)) if (b.type === type) return b;
  return undefined;
}

function path(buf: Buffer, parent: Box, ...types: string[]): Box | undefined {
  let cur: Box | undefined = parent;
  for (const t of types) {
    if (!cur) return undefined;
    cur = child(buf, cur, t);
  }
  return cur;
}

interface Track {
  handler: string;
  timescale: number;
  durationUnits: number;
  width: number;
  height: number;
  codec: string;
  sttsFrames: number;
  sttsDeltas: Set<number>;
  trackId: number;
}

function readTrack(buf: Buffer, trak: Box): Track | undefined {
  const tkhd = child(buf, trak, "tkhd");
  const mdhd = path(buf, trak, "mdia", "mdhd");
  const hdlr = path(buf, trak, "mdia", "hdlr");
  const stbl = path(buf, trak, "mdia", "minf", "stbl");
  if (!tkhd || !mdhd || !hdlr || !stbl) return undefined;
  const trackId = buf.readUInt8(tkhd.start) === 1 ? buf.readUInt32BE(tkhd.start + 20) : buf.readUInt32BE(tkhd.start + 12);
  const v = buf.readUInt8(mdhd.start);
  const timescale = v === 1 ? buf.readUInt32BE(mdhd.start + 20) : buf.readUInt32BE(mdhd.start + 12);
  const durationUnits = v === 1 ? Number(buf.readBigUInt64BE(mdhd.start + 24)) : buf.readUInt32BE(mdhd.start + 16);
  const handler = buf.toString("latin1", hdlr.start + 8, hdlr.start + 12);

  let width = 0;
  let height = 0;
  let codec = "";
  const stsd = child(buf, stbl, "stsd");
  if (stsd) {
    // stsd: version/flags(4) entry_count(4), then sample entries (boxes). A visual sample entry:
    // reserved(6) data_reference_index(2) pre_defined/reserved(16) width(2) height(2) ...
    for (const entry of boxes(buf, stsd.start + 8, stsd.end)) {
      codec = entry.type;
      if (entry.start + 28 <= entry.end) {
        width = buf.readUInt16BE(entry.start + 24);
        height = buf.readUInt16BE(entry.start + 26);
      }
      break;
    }
  }
  let sttsFrames = 0;
  const sttsDeltas = new Set<number>();
  const stts = child(buf, stbl, "stts");
  if (stts) {
    const n = buf.readUInt32BE(stts.start + 4);
    if (stts.start + 8 + n * 8 > stts.end) throw new Mp4ParseError("stts: entry table past end of box");
    for (let i = 0; i < n; i++) {
      const count = buf.readUInt32BE(stts.start + 8 + i * 8);
      const delta = buf.readUInt32BE(stts.start + 12 + i * 8);
      sttsFrames += count;
      if (count > 0) sttsDeltas.add(delta);
    }
  }
  return { handler, timescale, durationUnits, width, height, codec, sttsFrames, sttsDeltas, trackId };
}

/** Frames and per-frame durations of one track across moof fragments (fragmented MP4). */
function readFragments(buf: Buffer, trackId: number, trexDuration: number): { frames: number; units: number; deltas: Set<number> } {
  let frames = 0;
  let units = 0;
  const deltas = new Set<number>();
  for (const moof of boxes(buf, 0, buf.length)) {
    if (moof.type !== "moof") continue;
    for (const traf of boxes(buf, moof.start, moof.end)) {
      if (traf.type !== "traf") continue;
      const tfhd = child(buf, traf, "tfhd");
      if (!tfhd || buf.readUInt32BE(tfhd.start + 4) !== trackId) continue;
      const tfFlags = buf.readUInt32BE(tfhd.start) & 0xffffff;
      let o = tfhd.start + 8;
      if (tfFlags & 0x01) o += 8; // base_data_offset
      if (tfFlags & 0x02) o += 4; // sample_description_index
      const defaultDuration = tfFlags & 0x08 ? buf.readUInt32BE(o) : trexDuration;
      for (const trun of boxes(buf, traf.start, traf.end)) {
        if (trun.type !== "trun") continue;
        const flags = buf.readUInt32BE(trun.start) & 0xffffff;
        const count = buf.readUInt32BE(trun.start + 4);
        let p = trun.start + 8;
        if (flags & 0x01) p += 4; // data_offset
        if (flags & 0x04) p += 4; // first_sample_flags
        const per = [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length * 4;
        for (let i = 0; i < count; i++) {
          const d = flags & 0x100 ? buf.readUInt32BE(p + i * per) : defaultDuration;
          deltas.add(d);
          units += d;
        }
        frames += count;
      }
    }
  }
  return { frames, units, deltas };
}

/** Size, frame count and fps of the first video track. Throws Mp4ParseError on malformed input. */
export function probeMp4(buf: Buffer): Mp4Info {
  try {
    const top: Box = { type: "", start: 0, end: buf.length };
    const moov = child(buf, top, "moov");
    if (!moov) throw new Mp4ParseError("no moov box (not an MP4, or truncated)");
    let video: Track | undefined;
    for (const b of boxes(buf, moov.start, moov.end)) {
      if (b.type !== "trak") continue;
      const t = readTrack(buf, b);
      if (t?.handler === "vide") {
        video = t;
        break;
      }
    }
    if (!video) throw new Mp4ParseError("no video track");
    if (video.timescale <= 0) throw new Mp4ParseError("video track has timescale 0");

    const mvex = child(buf, moov, "mvex");
    let frameCount = video.sttsFrames;
    let units = video.durationUnits;
    let deltas = video.sttsDeltas;
    const fragmented = mvex !== undefined && frameCount === 0;
    if (fragmented) {
      let trexDuration = 0;
      for (const trex of boxes(buf, mvex.start, mvex.end)) {
        if (trex.type === "trex" && buf.readUInt32BE(trex.start + 4) === video.trackId) trexDuration = buf.readUInt32BE(trex.start + 12);
      }
      const f = readFragments(buf, video.trackId, trexDuration);
      frameCount = f.frames;
      units = f.units;
      deltas = f.deltas;
    }
    const durationS = units / video.timescale;
    const constant = deltas.size === 1 ? [...deltas][0]! : 0;
    const fps = constant > 0 ? video.timescale / constant : durationS > 0 ? frameCount / durationS : 0;
    return { width: video.width, height: video.height, codec: video.codec, timescale: video.timescale, frameCount, fps, durationS, fragmented };
  } catch (err) {
    if (err instanceof Mp4ParseError) throw err;
    // Buffer reads past the end throw RangeError: the file is truncated or lies about a size.
    throw new Mp4ParseError(`malformed MP4 (${err instanceof Error ? err.message : String(err)})`);
  }
}
