// Deterministic sample inputs. The start frame: a tabletop with coloured blocks and a gripper, rendered from
// SVG by sharp; actions from a fixed LCG. Used to eyeball reference-model rollouts, in tests and in
// benches; no image or data files needed.
import sharp from "sharp";

export function sceneSvg(height: number, width: number): string {
  const u = (x: number) => (x * width) / 640;
  const v = (y: number) => (y * height) / 480;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
  <defs><linearGradient id="wall" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#c9d6e3"/><stop offset="1" stop-color="#8fa3b8"/></linearGradient>
  <linearGradient id="table" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#a0744a"/><stop offset="1" stop-color="#5e3d22"/></linearGradient></defs>
  <rect width="${width}" height="${height}" fill="url(#wall)"/>
  <rect x="0" y="${v(260)}" width="${width}" height="${v(220)}" fill="url(#table)"/>
  <rect x="${u(90)}" y="${v(300)}" width="${u(90)}" height="${v(80)}" fill="#d23b2f"/>
  <rect x="${u(260)}" y="${v(320)}" width="${u(70)}" height="${v(70)}" fill="#2f7ad2"/>
  <circle cx="${u(470)}" cy="${v(350)}" r="${u(45)}" fill="#3fae4a"/>
  <rect x="${u(420)}" y="${v(60)}" width="${u(30)}" height="${v(170)}" fill="#444"/>
  <rect x="${u(395)}" y="${v(220)}" width="${u(80)}" height="${v(25)}" fill="#333"/>
  <rect x="${u(395)}" y="${v(245)}" width="${u(14)}" height="${v(40)}" fill="#222"/>
  <rect x="${u(461)}" y="${v(245)}" width="${u(14)}" height="${v(40)}" fill="#222"/>
  <rect x="${u(40)}" y="${v(40)}" width="${u(140)}" height="${v(100)}" fill="#f2e8c9" stroke="#6b5b3e" stroke-width="${u(6)}"/>
</svg>`;
}

/** Raw RGB8 [height, width, 3]. */
export async function sampleScene(height: number, width: number): Promise<Uint8Array> {
  const { data, info } = await sharp(Buffer.from(sceneSvg(height, width))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 3) throw new Error(`scene rendered as ${info.width}x${info.height}x${info.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Candidate actions: 0 = a steady "pan" command, 1 = the opposite, 2 = random, 3 = zeros (no motion). */
export function sampleActions(k: number, t: number, dim: number): Float32Array {
  const a = new Float32Array(k * t * dim);
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const steady = Float32Array.from({ length: dim }, () => rnd());
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < t; i++) {
      for (let d = 0; d < dim; d++) {
        const v = c % 4 === 0 ? steady[d]! : c % 4 === 1 ? -steady[d]! : c % 4 === 2 ? rnd() : 0;
        a[(c * t + i) * dim + d] = v;
      }
    }
  }
  return a;
}

