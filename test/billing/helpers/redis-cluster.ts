// A private Redis Cluster for tests: 3 masters + 3 replicas as redis-server child processes on spare
// loopback ports, in a temp dir (nodes-P.conf). Readiness is asked of the servers themselves (the
// "Ready to accept connections" line, then cluster_state:ok and linked replicas on every node), never
// slept on. Only the processes started here are ever stopped, by their own pid.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createRedis, type RedisClient } from "../../../src/billing/redis/connection";

const MASTERS = 3;
const WAIT_MS_MAX = 20_000;

/** Nodes started by this process and not yet stopped: killed (by pid) if the process exits first. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** A free port whose cluster bus port (port + 10000) is free too and still a valid port. */
async function sparePort(taken: Set<number>): Promise<number> {
  const tryListen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    try {
      await tryListen(port);
      await tryListen(port + 10_000);
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    } catch {
      // in use: try another
    }
  }
  throw new Error("no spare port pair (P, P+10000) found on 127.0.0.1");
}

export function requireRedisServer(): void {
  for (const bin of ["redis-server", "redis-cli"]) {
    const found = spawnSync(bin, ["--version"], { encoding: "utf8" });
    if (found.status !== 0) throw new Error(`${bin} is not on PATH: the Redis Cluster tests need redis-server and redis-cli (Redis >= 7)`);
  }
}

export interface ClusterNode {
  port: number;
  child: ChildProcess;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS_MAX;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Redis Cluster: timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

export class RedisClusterProcess {
  readonly nodes: ClusterNode[] = [];
  private readonly admins = new Map<number, RedisClient>();

  private constructor(
    readonly dir: string,
    readonly nodeTimeoutMs: number,
  ) {}

  /** redis+cluster:// over every node (seeds). */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`;
  }

  static async start(options: { nodeTimeoutMs?: number } = {}): Promise<RedisClusterProcess> {
    requireRedisServer();
    const cluster = new RedisClusterProcess(mkdtempSync(path.join(os.tmpdir(), "dream-redis-cluster-")), options.nodeTimeoutMs ?? 1_000);
    try {
      const taken = new Set<number>();
      for (let i = 0; i < 2 * MASTERS; i++) cluster.nodes.push(await cluster.launch(await sparePort(taken)));
      const create = spawnSync("redis-cli", ["--cluster", "create", ...cluster.nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"], { encoding: "utf8", timeout: WAIT_MS_MAX });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status}):\n${create.stdout}\n${create.stderr}`);
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private launch(port: number): Promise<ClusterNode> {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", path.join(this.dir, `nodes-${port}.conf`)];
    args.push("--cluster-node-timeout", String(this.nodeTimeoutMs), "--cluster-replica-validity-factor", "0", "--cluster-require-full-coverage", "no");
    args.push("--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", this.dir);
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    child.once("exit", () => live.delete(child));
    return new Promise((resolve, reject) => {
      let log = "";
      const onData = (chunk: Buffer): void => {
        log += chunk.toString();
        if (log.includes("Ready to accept connections")) {
          child.stdout!.off("data", onData);
          child.stdout!.resume();
          resolve({ port, child });
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.resume();
      child.once("error", (err) => reject(new Error(`redis-server could not start: ${err.message}`)));
      child.once("exit", (code) => reject(new Error(`redis-server on port ${port} exited (${code}) before it was ready:\n${log}`)));
    });
  }

  private alive(): ClusterNode[] {
    return this.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  }

  /** A plain (non-cluster) connection to one node, for CLUSTER / INFO questions. */
  async admin(port: number): Promise<RedisClient> {
    let c = this.admins.get(port);
    if (!c) {
      c = createRedis(`redis://127.0.0.1:${port}`, { connectionName: "test:cluster-admin", failFast: true });
      this.admins.set(port, c);
    }
    if (c.status === "wait") await c.connect();
    return c;
  }

  private async info(port: number, section: string): Promise<string> {
    return (await this.admin(port)).info(section);
  }

  /** Masters by port, with the slot ranges each serves (from CLUSTER SLOTS of a live node). */
  async masters(): Promise<{ port: number; slots: [number, number][] }[]> {
    const slots = (await (await this.admin(this.alive()[0]!.port)).call("CLUSTER", "SLOTS")) as [number, number, [string, number, string]][];
    const byPort = new Map<number, [number, number][]>();
    for (const [from, to, master] of slots) byPort.set(master[1], [...(byPort.get(master[1]) ?? []), [from, to]]);
    return [...byPort].map(([port, ranges]) => ({ port, slots: ranges }));
  }

  /** Every live node says cluster_state:ok, every master has a linked replica, and every slot is served. */
  async waitHealthy(): Promise<void> {
    await until("cluster_state:ok, linked replicas and full slot coverage on every node", async () => {
      for (const n of this.alive()) {
        if (!(await this.info(n.port, "cluster").catch(() => "")).includes("cluster_enabled:1")) return undefined;
        const state = (await (await this.admin(n.port)).call("CLUSTER", "INFO")) as string;
        if (!state.includes("cluster_state:ok") || !state.includes("cluster_slots_assigned:16384")) return undefined;
        const repl = await this.info(n.port, "replication");
        if (repl.includes("role:slave") && !repl.includes("master_link_status:up")) return undefined;
      }
      const masters = await this.masters();
      const total = masters.reduce((sum, m) => sum + m.slots.reduce((s, [a, b]) => s + b - a + 1, 0), 0);
      return masters.length === MASTERS && total === 16_384 ? true : undefined;
    });
  }

  /** SIGKILL one node (a crash: no goodbye to clients or to the cluster). */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => node.child.once("exit", () => r()));
    node.child.kill("SIGKILL");
    await exited;
    this.admins.get(port)?.disconnect();
    this.admins.delete(port);
  }

  /** The port of a master's (first) linked replica. */
  async replicaOf(masterPort: number): Promise<number> {
    const m = /slave0:ip=[^,]+,port=(\d+),state=online/.exec(await this.info(masterPort, "replication"));
    if (!m) throw new Error(`master 127.0.0.1:${masterPort} has no online replica`);
    return Number(m[1]);
  }

  /** SIGSTOP / SIGCONT one node: a stopped replica stops taking its master's replication stream. */
  pause(port: number): void {
    this.nodes.find((n) => n.port === port)!.child.kill("SIGSTOP");
  }
  resume(port: number): void {
    this.nodes.find((n) => n.port === port)!.child.kill("SIGCONT");
  }

  /** After a master is killed: until one of the survivors took over every slot it served. */
  async waitPromoted(deadPort: number, slot: number): Promise<number> {
    return until(`a replica of 127.0.0.1:${deadPort} to be promoted`, async () => {
      const masters = await this.masters();
      const owner = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!owner || owner.port === deadPort || masters.length !== MASTERS) return undefined;
      for (const n of this.alive()) {
        if (!((await (await this.admin(n.port)).call("CLUSTER", "INFO")) as string).includes("cluster_state:ok")) return undefined;
      }
      return owner.port;
    });
  }

  /** Stops the processes started here (by pid) and removes the temp dir. */
  async stop(): Promise<void> {
    for (const c of this.admins.values()) c.disconnect();
    this.admins.clear();
    for (const n of this.nodes) await this.kill(n.port);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
