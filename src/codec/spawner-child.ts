// The spawner process's program (run as `node -e`, plain CommonJS, no TypeScript loader): it listens on
// a Unix socket; each connection is one child process. The connection sends one JSON line
// ({cmd, args, niceness}) and then the child's stdin; the spawner answers with frames
// [type u8][length u32 BE][body]: 0 pid (JSON), 1 stdout bytes, 2 stderr bytes, 3 exit (JSON
// {code, signal} or {spawnError}). The server kills a child with an IPC message {kill: id}; a
// connection that errors or closes kills its child too. Exits with its parent.
export const SPAWNER_CHILD_SOURCE = String.raw`
const net = require("net");
const os = require("os");
const { spawn } = require("child_process");
const HEADER_BYTES_MAX = 1 << 20;
const children = new Map();
process.on("message", (m) => { const c = m && children.get(m.kill); if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGKILL"); });
function serve(sock) {
  let child = null;
  let head = Buffer.alloc(0);
  const frame = (type, body) => {
    const h = Buffer.alloc(5);
    h.writeUInt8(type, 0);
    h.writeUInt32BE(body.length, 1);
    sock.write(h);
    return sock.write(body);
  };
  const kill = () => { if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); };
  sock.on("error", kill);
  sock.on("close", kill);
  const onHead = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0) { if (head.length > HEADER_BYTES_MAX) sock.destroy(); return; }
    sock.off("data", onHead);
    sock.pause();
    let spec;
    try { spec = JSON.parse(head.subarray(0, nl).toString("utf8")); } catch (err) { sock.destroy(); return; }
    start(spec, head.subarray(nl + 1));
  };
  sock.on("data", onHead);
  function start(spec, rest) {
    child = spawn(spec.cmd, spec.args, { stdio: ["pipe", "pipe", "pipe"] });
    children.set(spec.id, child);
    child.on("close", () => children.delete(spec.id));
    let reported = false;
    const exit = (status) => { if (reported) return; reported = true; frame(3, Buffer.from(JSON.stringify(status))); sock.end(); };
    child.on("error", (err) => { if (child.pid === undefined) exit({ spawnError: err.message }); });
    if (child.pid === undefined) return;
    if (spec.niceness) { try { os.setPriority(child.pid, spec.niceness); } catch (e) {} }
    frame(0, Buffer.from(JSON.stringify({ pid: child.pid })));
    child.stdin.on("error", () => {});
    child.stdout.on("data", (c) => { if (!frame(1, c)) { child.stdout.pause(); sock.once("drain", () => child.stdout.resume()); } });
    child.stderr.on("data", (c) => frame(2, c));
    child.on("close", (code, signal) => exit({ code, signal }));
    if (rest.length > 0) child.stdin.write(rest);
    sock.pipe(child.stdin);
    sock.resume();
  }
}
const server = net.createServer({ allowHalfOpen: true }, serve);
server.listen(process.env.DREAM_SPAWNER_SOCKET, () => process.send({ ready: true }));
const leave = () => { try { require("fs").unlinkSync(process.env.DREAM_SPAWNER_SOCKET); } catch (e) {} process.exit(0); };
process.on("disconnect", leave);
process.on("SIGTERM", leave);
`;
