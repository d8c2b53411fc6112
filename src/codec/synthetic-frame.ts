// A deterministic, realistic-ish RGB frame for tests and benchmarks. Flat colours flatter every codec
// (PNG and H.264 shrink them to nothing), so this has what camera frames have: smooth gradients,
// a moving soft object, hard-edged texture and a little sensor noise.

/** H*W*3 RGB8. `t` moves the object and shifts the texture, so consecutive t look like video. */
export function syntheticFrame(height: number, width: number, t = 0, noiseAmplitude = 3): Uint8Array {
  const out = new Uint8Array(height * width * 3);
  let s = (0x9e3779b9 ^ (t * 0x85ebca6b)) >>> 0 || 1;
  const cx = width * (0.3 + 0.02 * t);
  const cy = height * (0.5 + 0.1 * Math.sin(t / 5));
  const r2 = (Math.min(height, width) / 6) ** 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      const noise = noiseAmplitude > 0 ? (s % (2 * noiseAmplitude + 1)) - noiseAmplitude : 0;
      const d2 = (x - cx) ** 2 + (y - cy) ** 2;
      const blob = 140 * Math.exp(-d2 / (2 * r2));
      const tile = (((x + 2 * t) >> 4) + (y >> 4)) & 1 ? 24 : 0; // a floor-like checkerboard
      const i = (y * width + x) * 3;
      out[i] = clamp(30 + (170 * x) / width + blob + noise);
      out[i + 1] = clamp(40 + (150 * y) / height + tile + noise);
      out[i + 2] = clamp(90 + blob * 0.5 - tile + noise);
    }
  }
  return out;
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
