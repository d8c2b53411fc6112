// Buffers of raw responses whose bytes have left, for reuse by the next response of the same size (an
// MPC loop repeats one shape, and a reused buffer is already faulted in). Shared by gRPC's raw arena
// (grpc/raw/raw-arena.ts) and REST's multipart/mixed one (rest/mixed-arena.ts), each with a pool of its
// own. Bounded by total bytes; the oldest go first.
import { limits } from "../core/limits";

export class ArenaPool {
  private readonly free: Buffer[] = [];

  constructor(private readonly bytesMax: number = limits.rawArenaPoolBytesMax) {}

  take(bytes: number): Buffer | undefined {
    const i = this.free.findIndex((b) => b.byteLength === bytes);
    return i < 0 ? undefined : this.free.splice(i, 1)[0];
  }

  give(buffer: Buffer): void {
    if (buffer.byteLength > this.bytesMax || this.free.includes(buffer)) return;
    this.free.push(buffer);
    while (this.pooledBytes() > this.bytesMax) this.free.shift();
  }

  pooledBytes(): number {
    return this.free.reduce((sum, b) => sum + b.byteLength, 0);
  }
}
