// Child processes (ffmpeg) started by a small helper process instead of by the server itself.
//
// Why: spawn() forks, and fork copies the parent's page tables while the calling thread waits. In a
// server holding a model, its states and the embedded ledger (1-1.5 GB resident) one spawn blocked the
// event loop 25-35 ms (measured: 0.8 ms at 0 MB, 9.6 ms at 500 MB, 24.7 ms at 1.5 GB); a job writing
// one MP4 per row spawned ten a second, a fifth of the serving thread. The spawner is a plain `node -e`
// process of a few tens of MB: forking it is cheap. Each child is one Unix-socket connection
// (spawner-child.ts has the wire format); the server writes stdin into it and reads framed stdout,
// stderr and the exit status back, with the same backpressure as a pipe.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { SPAWNER_CHILD_SOURCE } from "./spawner-child";

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: Error;
}

/** A child process as its users see it, started directly or through the spawner. */
export interface ChildHandle {
  stdin: NodeJS.WritableStream & { write(chunk: Uint8Array): boolean; end(): void; once(event: "drain", fn: () => void): unknown; on(event: "error", fn: (e: Error) => void): unknown };
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
  /** The child's pid once started; undefined if it never started. */
  pid: Promise<number | undefined>;
  /** Resolves when the child has exited and its output is all read. Never rejects. */
  exited: Promise<ExitStatus>;
  /** SIGKILL if still running. */
  kill(): void;
  running(): boolean;
}

let shared: Promise<string> | undefined;
let sharedProcess: ChildProcess | undefined;

/** The spawner's socket path, starting the spawner on first use (and again after it died). */
function spawnerSocket(): Promise<string> {
  shared ??= new Promise<string>((resolve, reject) => {
    const socketPath = join(tmpdir(), `dream-spawner-${process.pid}-${randomUUID().slice(0, 8)}.sock`);
    const child = spawn(process.execPath, ["-e", SPAWNER_CHILD_SOURCE], { stdio: ["ignore", "ignore", "inherit", "ipc"], env: { PATH: process.env.PATH ?? "", DREAM_SPAWNER_SOCKET: socketPath } });
    sharedProcess = child;
    child.once("message", () => resolve(socketPath));
    child.once("error", reject);
    child.once("exit", (code) => {
      shared = undefined; // the next spawn starts a new one
      sharedProcess = undefined;
      reject(new Error(`the spawner process exited (code ${code})`));
    });
    // It must not keep this process alive; it exits when this one disconnects.
    child.unref();
    child.channel?.unref();
  });
  return shared;
}

/** Stops the spawner (tests; at exit it leaves by itself when its IPC channel closes). */
export function stopSpawner(): void {
  sharedProcess?.kill();
}

/** Starts `cmd args` through the spawner; its niceness, when given, is set by the spawner. */
export function spawnThroughSpawner(cmd: string, args: string[], niceness?: number): ChildHandle {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let setPid!: (pid: number | undefined) => void;
  const pid = new Promise<number | undefined>((r) => (setPid = r));
  let done!: (s: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((r) => (done = r));
  let status: ExitStatus | undefined;
  let sock: net.Socket | undefined;
  let killed = false;
  const id = randomUUID();
  const finish = (s: ExitStatus) => {
    if (status !== undefined) return;
    status = s;
    setPid(undefined);
    stdout.end();
    stderr.end();
    done(s);
  };
  spawnerSocket().then(
    (path) => {
      if (killed) return finish({ code: null, signal: "SIGKILL" });
      sock = net.connect({ path, allowHalfOpen: true });
      sock.write(`${JSON.stringify({ id, cmd, args, niceness: niceness ?? 0 })}\n`);
      stdin.pipe(sock);
      readFrames(sock, {
        pid: (n) => setPid(n),
        stdout: (b) => stdout.write(b),
        stderr: (b) => stderr.write(b),
        exit: (s) => finish(s),
      });
      sock.on("error", () => undefined); // 'close' carries the outcome
      sock.on("close", () => finish(killed ? { code: null, signal: "SIGKILL" } : { code: null, signal: null, spawnError: new Error("lost the spawner connection") }));
    },
    (err: unknown) => finish({ code: null, signal: null, spawnError: err instanceof Error ? err : new Error(String(err)) }),
  );
  return {
    stdin,
    stdout,
    stderr,
    pid,
    exited,
    kill() {
      if (status !== undefined) return;
      killed = true;
      // Over the spawner's IPC channel: on the connection a FIN only means the child's stdin ended.
      sharedProcess?.send({ kill: id });
      sock?.destroy();
    },
    running: () => status === undefined,
  };
}

interface FrameSink {
  pid(n: number): void;
  stdout(b: Buffer): void;
  stderr(b: Buffer): void;
  exit(s: ExitStatus): void;
}

/** Parses the spawner's frames ([type u8][length u32 BE][body]) off the socket. */
function readFrames(sock: net.Socket, sink: FrameSink): void {
  let buf: Buffer = Buffer.alloc(0);
  sock.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      const type = buf[0];
      const body = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      if (type === 1) sink.stdout(body);
      else if (type === 2) sink.stderr(body);
      else if (type === 0) sink.pid((JSON.parse(body.toString("utf8")) as { pid: number }).pid);
      else if (type === 3) {
        const s = JSON.parse(body.toString("utf8")) as { code?: number | null; signal?: NodeJS.Signals | null; spawnError?: string };
        sink.exit(s.spawnError !== undefined ? { code: null, signal: null, spawnError: new Error(s.spawnError) } : { code: s.code ?? null, signal: s.signal ?? null });
      }
    }
  });
}
