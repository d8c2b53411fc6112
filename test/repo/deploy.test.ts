// deploy/ validated offline (no image is built, no cluster or Docker daemon is reached): the Kubernetes
// manifests against the Kubernetes and Prometheus Operator schemas that kubernetes-models bundles and,
// for unknown fields, against its TypeScript interfaces; the compose file against the compose-spec schema
// that dclint bundles and dclint's own rules; the Dockerfiles through dockerfile-utils' linter plus the
// rules below; and the cross-checks that tie them to the server: every environment variable is one
// src/config/config.ts reads, ports and probe paths are the server's, the grace periods cover
// DREAM_SHUTDOWN_GRACE_MS, and the container probe script behaves.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import Ajv from "ajv";
import { DockerfileParser, type Dockerfile, type Instruction } from "dockerfile-ast";
import { validate as lintDockerfile } from "dockerfile-utils";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config/config";
import { missingServerNodeFlags, SERVER_NODE_ARGS, SERVER_NODE_FLAGS } from "../../src/core/node-flags";
import { METRICS_PATH } from "../../src/transport/rest/exact-routes";

const ROOT = path.resolve(__dirname, "..", "..");
const DEPLOY = path.join(ROOT, "deploy");
const K8S = path.join(DEPLOY, "k8s");
const read = (...p: string[]) => fs.readFileSync(path.join(ROOT, ...p), "utf8");

// ---- YAML ---------------------------------------------------------------------------------------

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function yamlDocs(file: string): Obj[] {
  const docs = parseAllDocuments(fs.readFileSync(file, "utf8"), { prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: not YAML documents`);
  return docs.map((d, i) => {
    assert.deepEqual(d.errors.map(String), [], `${path.relative(ROOT, file)} document ${i}: YAML errors`);
    assert.deepEqual(d.warnings.map(String), [], `${path.relative(ROOT, file)} document ${i}: YAML warnings`);
    return d.toJS({ maxAliasCount: 0 }) as Obj;
  });
}

const k8sFiles = fs
  .readdirSync(K8S)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
/** Kubernetes objects by file (kustomization.yaml and the adapter's rules file are not API objects). */
const NOT_OBJECTS = new Set(["kustomization.yaml", "prometheus-adapter-rules.yaml"]);
const objects: { file: string; obj: Obj }[] = k8sFiles.filter((f) => !NOT_OBJECTS.has(f)).flatMap((f) => yamlDocs(path.join(K8S, f)).map((obj) => ({ file: f, obj })));
const one = (kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.obj.kind === kind && (name === undefined || o.obj.metadata?.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name ? ` ${name}` : ""} in deploy/k8s`);
  return found[0]!.obj;
};

// ---- Kubernetes schemas -------------------------------------------------------------------------

type Model = { validate(): void };
type ModelClass = new (data: Obj) => Model;
// kubernetes-models is ESM-only: loaded with import() (tsx keeps it a native dynamic import).
const MODEL_MODULES: Record<string, () => Promise<Record<string, unknown>>> = {
  v1: () => import("kubernetes-models/v1"),
  "apps/v1": () => import("kubernetes-models/apps/v1"),
  "autoscaling/v2": () => import("kubernetes-models/autoscaling/v2"),
  "policy/v1": () => import("kubernetes-models/policy/v1"),
  "monitoring.coreos.com/v1": () => import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"),
};

async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  const load = MODEL_MODULES[apiVersion];
  assert.ok(load, `no bundled schema for apiVersion ${apiVersion}`);
  const cls = (await load())[kind];
  assert.equal(typeof cls, "function", `no bundled schema for ${apiVersion} ${kind}`);
  return cls as ModelClass;
}

/** The validator's error for an object, or undefined when it is valid. */
async function schemaError(obj: Obj): Promise<string | undefined> {
  const Cls = await modelFor(obj.apiVersion, obj.kind);
  try {
    new Cls(obj).validate();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Unknown fields: the JSON schemas above accept extra keys (as Kubernetes' own OpenAPI schemas do), so a
 * misspelt field would pass them. kubernetes-models also ships each object's TypeScript interface; each
 * manifest is type-checked as a literal of that interface, and TypeScript's excess-property check names
 * any key the API does not have, at any depth. Returns the diagnostics, one line each.
 */
function unknownFieldErrors(items: { label: string; obj: Obj }[]): string[] {
  const file = path.join(ROOT, "test", "repo", "__deploy_manifests__.ts"); // virtual: never written
  const lines: string[] = [];
  items.forEach(({ obj }, i) => {
    const mod = obj.apiVersion === "monitoring.coreos.com/v1" ? "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1" : `kubernetes-models/${obj.apiVersion}`;
    lines.push(`import type { I${obj.kind} as T${i} } from ${JSON.stringify(mod)};`, `export const o${i}: T${i} = ${JSON.stringify(obj)};`);
  });
  const source = lines.join("\n");
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, sf).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const at = line >= 0 ? Math.floor(line / 2) : -1;
    return `${at >= 0 ? items[at]!.label : "?"}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}

// ---- the server's side of the contract ----------------------------------------------------------

/** Every environment variable src/config/config.ts reads (code only, not comments). */
function configEnvNames(): Set<string> {
  const code = read("src", "config", "config.ts")
    .split("\n")
    .filter((l) => !/^\s*(\/\/|\*|\/\*\*)/.test(l))
    .join("\n");
  const names = new Set<string>();
  for (const m of code.matchAll(/\benv\.([A-Z][A-Z0-9_]*)|\benv\[\s*"([A-Z][A-Z0-9_]*)"\s*\]|From\(\s*env\s*,\s*"([A-Z][A-Z0-9_]*)"/g)) names.add((m[1] ?? m[2] ?? m[3])!);
  return names;
}
const CONFIG_ENV = configEnvNames();
const serverReads = (name: string) => CONFIG_ENV.has(name) || name === "DATABASE_URL" || name === "REDIS_URL" || name.startsWith("STRIPE_");
const portOf = (addr: string) => Number(addr.slice(addr.lastIndexOf(":") + 1));
const hostOf = (addr: string) => addr.slice(0, addr.lastIndexOf(":"));

// ---- Dockerfiles --------------------------------------------------------------------------------

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

function stagesOf(df: Dockerfile): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of df.getInstructions()) {
    const kw = ins.getKeyword();
    if (kw === "ARG" && stages.length === 0) {
      const prop = (ins as unknown as { getProperty(): { getName(): string; getValue(): string | null } | null }).getProperty();
      if (prop) args.set(prop.getName(), prop.getValue() ?? "");
    } else if (kw === "FROM") {
      const [image, as, name] = ins.getArgumentsContent()!.split(/\s+/);
      stages.push({ image: image!.replace(/^\$\{?(\w+)\}?$/, (_m, v: string) => args.get(v) ?? `<unset ${v}>`), name: as?.toUpperCase() === "AS" ? name! : null, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `${kw} before the first FROM`);
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { args, stages };
}

const argsOf = (ins: Instruction) => ins.getArguments().map((a) => a.getValue());
const jsonArgs = (ins: Instruction) => JSON.parse(ins.getArgumentsContent()!) as string[];
/** ENV key=value pairs of a stage. */
function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const ins of stage.instructions.filter((i) => i.getKeyword() === "ENV")) {
    for (const p of (ins as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }).getProperties()) env.set(p.getName(), p.getValue() ?? "");
  }
  return env;
}
const lastOf = (stage: Stage, kw: string) => stage.instructions.filter((i) => i.getKeyword() === kw).at(-1);
/** A COPY's --from stage (dockerfile-ast keeps flags out of the arguments). */
const copyFrom = (ins: Instruction) => (ins as unknown as { getFromFlag(): { getValue(): string | null } | null }).getFromFlag()?.getValue() ?? undefined;
/** COPY --from=<stage> <src> …: whether the stage copies src from that stage. */
const copiesFrom = (stage: Stage, from: string, src: string) => stage.instructions.some((i) => i.getKeyword() === "COPY" && copyFrom(i) === from && argsOf(i)[0] === src);

/** .dockerignore as the docker CLI reads it, for the simple patterns used there (no negations). */
function dockerIgnored(): (rel: string) => boolean {
  const patterns = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  assert.ok(!patterns.some((p) => p.startsWith("!")), "negated .dockerignore patterns are not checked here");
  const toRe = (p: string) =>
    new RegExp(
      `^${p
        .replace(/[.+^$()|[\]\\]/g, "\\$&")
        .replace(/\*\*\//g, "\u0000")
        .replace(/\*/g, "[^/]*")
        .replace(/\?/g, "[^/]")
        .replace(/\u0000/g, "(?:.*/)?")}(?:/.*)?$`,
    );
  const res = patterns.map(toRe);
  return (rel) => res.some((re) => re.test(rel));
}

function dockerfile(name: string): { text: string; df: Dockerfile; stages: Stage[]; args: Map<string, string>; final: Stage } {
  const text = read("deploy", name);
  const df = DockerfileParser.parse(text);
  const { stages, args } = stagesOf(df);
  return { text, df, stages, args, final: stages.at(-1)! };
}

// -------------------------------------------------------------------------------------------------

describe("deploy/ (validated offline: nothing here is built, pulled or applied)", () => {
  describe("Kubernetes manifests", () => {
    it("every manifest parses and validates against the bundled Kubernetes / Prometheus Operator schemas", async () => {
      assert.ok(objects.length >= 8, `expected the k8s objects, found ${objects.length}`);
      const failures: string[] = [];
      for (const { file, obj } of objects) {
        assert.ok(obj.apiVersion && obj.kind && obj.metadata?.name, `${file}: apiVersion, kind and metadata.name`);
        const err = await schemaError(obj);
        if (err) failures.push(`${file} ${obj.kind}/${obj.metadata.name}: ${err}`);
      }
      assert.deepEqual(failures, []);
      const kinds = objects.map((o) => o.obj.kind).sort();
      for (const k of ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret", "Service", "ServiceMonitor"]) assert.ok(kinds.includes(k), `a ${k}`);
    });

    it("no manifest has a field its API type lacks (TypeScript's excess-property check on kubernetes-models' interfaces)", () => {
      assert.deepEqual(unknownFieldErrors(objects.map(({ file, obj }) => ({ label: `${file} ${obj.kind}/${obj.metadata.name}`, obj }))), []);
      // …and a misspelt field, deep in a pod spec, is caught.
      const typo = structuredClone(one("Deployment"));
      typo.spec.template.spec.containers[0].readinessProbe.httpGet.paht = "/healthz";
      const errors = unknownFieldErrors([{ label: "typo", obj: typo }]);
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0]!, /paht/);
    });

    it("the validators do reject a wrong manifest (they are not vacuous)", async () => {
      const bad = structuredClone(one("Deployment"));
      bad.spec.template.spec.containers[0].ports[0].containerPort = "fifty";
      assert.match((await schemaError(bad)) ?? "", /containerPort/);
      const badMonitor = structuredClone(one("ServiceMonitor"));
      badMonitor.spec.endpoints = "http";
      assert.ok(await schemaError(badMonitor), "a ServiceMonitor whose endpoints is a string");
      const badHpa = structuredClone(one("HorizontalPodAutoscaler"));
      delete badHpa.spec.maxReplicas;
      assert.match((await schemaError(badHpa)) ?? "", /maxReplicas/);
    });

    it("kustomization.yaml lists every object file but the Secret template, and only files that exist", () => {
      const [kust] = yamlDocs(path.join(K8S, "kustomization.yaml"));
      assert.equal(kust!.kind, "Kustomization");
      const listed = [...(kust!.resources as string[])].sort();
      const expected = k8sFiles.filter((f) => !NOT_OBJECTS.has(f) && f !== "secret.example.yaml").sort();
      assert.deepEqual(listed, expected);
    });

    it("every environment variable the Deployment sets is one the server reads; the ConfigMap loads as a valid Config", () => {
      const cm = one("ConfigMap", "dream-engine-config");
      const container = one("Deployment").spec.template.spec.containers[0];
      const names = [...Object.keys(cm.data), ...(container.env as Obj[]).map((e) => e.name as string)];
      assert.deepEqual(
        names.filter((n) => !serverReads(n)),
        [],
        "not read by src/config/config.ts",
      );
      assert.deepEqual(
        (container.envFrom as Obj[]).map((e) => e.configMapRef?.name),
        ["dream-engine-config"],
      );
      const config = loadConfig({ ...cm.data, DATABASE_URL: "postgres://u:p@db:5432/d", REDIS_URL: "redis://r:6379/0" });
      assert.equal(config.executionProvider, "cuda:0");
      assert.equal(hostOf(config.grpcAddr), "0.0.0.0");
      assert.equal(hostOf(config.httpAddr), "0.0.0.0");
    });

    it("ports, probes and Services agree with the server's addresses and routes", () => {
      const cm = one("ConfigMap", "dream-engine-config").data as Record<string, string>;
      const dep = one("Deployment");
      const pod = dep.spec.template.spec;
      const c = pod.containers[0];
      const ports = new Map<string, number>((c.ports as Obj[]).map((p) => [p.name, p.containerPort]));
      assert.equal(ports.get("grpc"), portOf(cm.DREAM_GRPC_ADDR!));
      assert.equal(ports.get("http"), portOf(cm.DREAM_HTTP_ADDR!));

      // Readiness: GET /healthz (a route of the proto's Status.Health) on the HTTP port.
      assert.match(read("proto", "dream", "v1", "dream.proto"), /get:\s*"\/healthz"/);
      assert.equal(c.readinessProbe.httpGet.path, "/healthz");
      assert.deepEqual(c.command, ["node", ...SERVER_NODE_ARGS], "the container runs what `npm start` runs, heap flags included");
      assert.ok(ports.has(c.readinessProbe.httpGet.port), "readiness probe names a container port");
      // Liveness and startup: the probe script in "live" mode (a busy, draining or dependency-less pod answers 503 but is alive).
      for (const probe of [c.livenessProbe, c.startupProbe]) {
        assert.deepEqual(probe.exec.command.slice(0, 3), ["node", "deploy/healthcheck.mjs", "live"]);
        assert.ok(probe.timeoutSeconds * 1000 >= Number(probe.exec.command[3]), "the probe's own timeout fits inside timeoutSeconds");
      }
      assert.ok(c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold >= 60, "liveness tolerates at least a minute without an answer");
      assert.equal(c.readinessProbe.httpGet.port, "http");

      const labels = pod && dep.spec.template.metadata.labels;
      const selects = (sel: Obj) => Object.entries(sel).every(([k, v]) => labels[k] === v);
      assert.ok(selects(dep.spec.selector.matchLabels), "the Deployment selects its own pods");
      const grpcSvc = one("Service", "dream-engine-grpc");
      const httpSvc = one("Service", "dream-engine-http");
      assert.equal(grpcSvc.spec.clusterIP, "None", "gRPC Service is headless (per-call balancing in the client)");
      assert.notEqual(grpcSvc.spec.publishNotReadyAddresses, true, "only ready pods in DNS");
      for (const [svc, name] of [
        [grpcSvc, "grpc"],
        [httpSvc, "http"],
      ] as const) {
        assert.ok(selects(svc.spec.selector), `${svc.metadata.name} selects the pods`);
        const p = (svc.spec.ports as Obj[]).find((x) => x.name === name)!;
        assert.ok(p, `${svc.metadata.name} has port ${name}`);
        assert.ok(ports.has(p.targetPort) || [...ports.values()].includes(p.targetPort), `${svc.metadata.name} targets a container port`);
      }

      // ServiceMonitor: /metrics (the server's route) on the HTTP Service's named port.
      const sm = one("ServiceMonitor");
      const smSelects = (svc: Obj) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v);
      assert.ok(smSelects(httpSvc), "ServiceMonitor selects the HTTP Service");
      assert.ok(!smSelects(grpcSvc), "…and not the headless gRPC one");
      assert.deepEqual(
        (sm.spec.endpoints as Obj[]).map((e) => [e.port, e.path]),
        [["http", METRICS_PATH]],
      );
      // The PDB and the HPA point at these pods.
      assert.ok(selects(one("PodDisruptionBudget").spec.selector.matchLabels), "the PDB selects the pods");
      assert.equal(one("HorizontalPodAutoscaler").spec.scaleTargetRef.name, dep.metadata.name);
    });

    it("one GPU per pod; shutdown grace covers DREAM_SHUTDOWN_GRACE_MS plus the preStop sleep", () => {
      const cm = one("ConfigMap", "dream-engine-config").data as Record<string, string>;
      const pod = one("Deployment").spec.template.spec;
      const c = pod.containers[0];
      assert.equal(c.resources.requests["nvidia.com/gpu"], 1);
      assert.equal(c.resources.limits["nvidia.com/gpu"], 1);
      const graceS = loadConfig(cm).shutdownGraceMs / 1000;
      const preStop = c.lifecycle.preStop.exec.command as string[];
      assert.equal(preStop[0], "sleep");
      const preStopS = Number(preStop[1]);
      assert.ok(preStopS > 0 && preStopS < graceS, `preStop sleep ${preStopS}s`);
      // Kubernetes counts the preStop hook inside terminationGracePeriodSeconds; leave ≥ 10 s to close.
      assert.ok(pod.terminationGracePeriodSeconds >= preStopS + graceS + 10, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < ${preStopS} + ${graceS} + 10`);
    });

    it("the HPA scales on dream_queue_requests, a metric the server exports, through the adapter rule shipped beside it", () => {
      const hpa = one("HorizontalPodAutoscaler");
      const [metric] = hpa.spec.metrics as Obj[];
      assert.equal(metric!.type, "Pods");
      assert.equal(metric!.pods.metric.name, "dream_queue_requests");
      assert.match(read("src", "observability", "metrics.ts"), /name:\s*"dream_queue_requests"/);
      assert.ok(hpa.spec.maxReplicas >= hpa.spec.minReplicas, "maxReplicas ≥ minReplicas");
      const [rules] = yamlDocs(path.join(K8S, "prometheus-adapter-rules.yaml"));
      const rule = (rules!.rules.custom as Obj[]).find((r) => r.name?.as === "dream_queue_requests");
      assert.ok(rule, "an adapter rule exposing dream_queue_requests");
      assert.match(rule!.seriesQuery, /^dream_queue_requests\{/);
      assert.deepEqual(Object.keys(rule!.resources.overrides).sort(), ["namespace", "pod"]);
    });

    it("the Secret is a template: the keys the Deployment reads, placeholder values only", () => {
      const secret = one("Secret", "dream-engine-secrets");
      const refs = (one("Deployment").spec.template.spec.containers[0].env as Obj[]).map((e) => e.valueFrom?.secretKeyRef).filter(Boolean) as Obj[];
      assert.ok(refs.every((r) => r.name === secret.metadata.name), "every secretKeyRef names the Secret");
      assert.deepEqual(refs.map((r) => r.key).sort(), Object.keys(secret.stringData).sort());
      for (const r of refs) assert.equal(r.optional === true, r.key.startsWith("STRIPE_"), `${r.key}: only Stripe is optional`);
      for (const [k, v] of Object.entries(secret.stringData as Record<string, string>)) {
        assert.ok(!/sk_(live|test)_|whsec_|rk_live_/.test(v), `${k} looks like a real secret`);
        assert.ok(v === "" || /USER|PASSWORD|HOST/.test(v), `${k} is a placeholder`);
      }
    });
  });

  describe("compose", () => {
    const [compose] = yamlDocs(path.join(DEPLOY, "compose.yaml"));

    it("deploy/compose.yaml validates against the compose-spec JSON schema (as bundled by dclint)", () => {
      const schema = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve("dclint/package.json")), "schemas", "compose.schema.json"), "utf8")) as Obj;
      assert.ok(schema.properties.services && schema.properties.name, "the compose-spec schema, with top-level name");
      // draft-07 under an https $schema, which ajv registers as http://…#: validated as draft-07 all the same.
      assert.match(schema.$schema, /draft-07/);
      const ajv = new Ajv({ strict: false, allErrors: true, allowUnionTypes: true });
      const validate = ajv.compile({ ...schema, $schema: undefined });
      assert.ok(validate(compose), ajv.errorsText(validate.errors, { separator: "\n" }));
      // …and the schema is not vacuous.
      assert.equal(validate({ services: { engine: { imag: "x" } } }), false, "an unknown service key");
      assert.equal(validate({ services: { engine: { image: "x", depends_on: { redis: { condition: "when_ready" } } } } }), false, "an unknown depends_on condition");
    });

    it("deploy/compose.yaml: dclint reports no problem (its three layout-only rules off)", async () => {
      const { DCLinter } = await import("dclint");
      const linter = new DCLinter({
        // Key order, port order and the quote style of ports are layout, not correctness.
        rules: { "service-keys-order": 0, "service-ports-alphabetical-order": 0, "require-quotes-in-ports": 0 },
        quiet: false,
        debug: false,
        exclude: [],
      });
      const [result] = linter.lintFiles([path.join(DEPLOY, "compose.yaml")], false);
      assert.deepEqual(
        result!.messages.map((m) => `line ${m.line} ${m.rule}: ${m.message}`),
        [],
      );
    });

    it("engine + Postgres + Redis with healthchecks, a named data volume, the tests service in a profile", () => {
      const s = compose!.services as Record<string, Obj>;
      assert.deepEqual(Object.keys(s).sort(), ["engine", "postgres", "redis", "tests"]);
      for (const name of ["engine", "postgres", "redis"]) assert.ok(s[name]!.healthcheck?.test, `${name} has a healthcheck`);
      for (const name of ["engine", "tests"]) {
        for (const dep of ["postgres", "redis"]) assert.equal(s[name]!.depends_on[dep].condition, "service_healthy");
        assert.ok(fs.existsSync(path.resolve(DEPLOY, s[name]!.build.context, s[name]!.build.dockerfile)), `${name}'s Dockerfile`);
      }
      assert.deepEqual(s.tests!.profiles, ["test"]);
      assert.deepEqual(s.tests!.command, ["npm", "test"]);
      const testStage = dockerfile("Dockerfile").stages.find((st) => st.name === s.tests!.build.target);
      assert.ok(testStage, `deploy/Dockerfile has the stage ${s.tests!.build.target}`);
      const volumes = Object.keys(compose!.volumes);
      const engineEnv = s.engine!.environment as Record<string, string>;
      assert.ok(volumes.includes("dream-data"), "the dream-data volume is declared");
      assert.ok((s.engine!.volumes as string[]).includes(`dream-data:${engineEnv.DREAM_DATA_DIR}`), "the data dir is the named volume");
      assert.deepEqual(s.engine!.healthcheck.test.slice(0, 4), ["CMD", "node", "deploy/healthcheck.mjs", "ready"]);
      // Its init script creates the tests' database.
      const testsDb = new URL(s.tests!.environment.DATABASE_URL).pathname.slice(1);
      const initDir = path.resolve(DEPLOY, (s.postgres!.volumes as string[]).find((v) => v.includes("docker-entrypoint-initdb.d"))!.split(":")[0]!);
      const initSql = fs.readdirSync(initDir).map((f) => fs.readFileSync(path.join(initDir, f), "utf8")).join("\n");
      assert.match(initSql, new RegExp(`CREATE DATABASE ${testsDb}\\b`));
    });

    it("the engine's and the tests' environment: names the server reads, hosts that are compose services, the server's ports published", () => {
      const s = compose!.services as Record<string, Obj>;
      for (const name of ["engine", "tests"]) {
        const env = s[name]!.environment as Record<string, string>;
        assert.deepEqual(
          Object.keys(env).filter((n) => !serverReads(n)),
          [],
          `${name}: not read by src/config/config.ts`,
        );
        assert.ok(s[new URL(env.DATABASE_URL!).hostname], `${name}: DATABASE_URL names a compose service`);
        assert.ok(s[new URL(env.REDIS_URL!).hostname], `${name}: REDIS_URL names a compose service`);
      }
      const env = s.engine!.environment as Record<string, string>;
      const config = loadConfig(env);
      assert.equal(hostOf(config.grpcAddr), "0.0.0.0");
      const published = (s.engine!.ports as string[]).map((p) => Number(p.split(":").at(-1)));
      assert.ok((s.engine!.ports as string[]).every((p) => p.startsWith("127.0.0.1:")), "published on loopback only");
      assert.deepEqual(published.sort(), [portOf(config.grpcAddr), portOf(config.httpAddr)].sort());
      const stopS = Number(/^(\d+)s$/.exec(s.engine!.stop_grace_period)![1]);
      assert.ok(stopS >= config.shutdownGraceMs / 1000 + 10, `stop_grace_period ${stopS}s covers the drain and the close`);
    });
  });

  describe("Dockerfiles", () => {
    for (const name of ["Dockerfile", "Dockerfile.cuda"]) {
      it(`deploy/${name}: dockerfile-utils reports no problem`, () => {
        const diagnostics = lintDockerfile(read("deploy", name));
        assert.deepEqual(
          diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`),
          [],
        );
      });

      it(`deploy/${name}: pinned bases, non-root USER, HEALTHCHECK on /healthz, both ports, 0.0.0.0 addresses, node as PID 1`, () => {
        const { stages, final } = dockerfile(name);
        const stageNames = new Set(stages.map((s) => s.name).filter(Boolean));
        for (const st of stages) {
          if (stageNames.has(st.image)) continue; // FROM an earlier stage
          assert.match(st.image, /^[a-z0-9./-]+:[0-9][\w.-]*$/, `${name}: base image ${st.image} is pinned to a version tag`);
          assert.doesNotMatch(st.image, /:latest$/);
        }
        const user = lastOf(final, "USER");
        assert.ok(user, `${name}: the final stage sets USER`);
        const [uid] = argsOf(user!)[0]!.split(":");
        assert.ok(uid !== "root" && uid !== "0", `${name}: USER ${uid} is not root`);
        const hc = lastOf(final, "HEALTHCHECK");
        assert.ok(hc, `${name}: HEALTHCHECK`);
        assert.match(hc!.getArgumentsContent()!, /CMD \["node", "deploy\/healthcheck\.mjs", "ready"/);
        const exposed = final.instructions.filter((i) => i.getKeyword() === "EXPOSE").flatMap(argsOf).map(Number);
        const env = envOf(final);
        assert.equal(env.get("DREAM_GRPC_ADDR"), "0.0.0.0:50051");
        assert.equal(env.get("DREAM_HTTP_ADDR"), "0.0.0.0:8080");
        assert.deepEqual(exposed.sort(), [portOf(env.get("DREAM_GRPC_ADDR")!), portOf(env.get("DREAM_HTTP_ADDR")!)].sort());
        for (const stage of stages) for (const k of envOf(stage).keys()) if (k.startsWith("DREAM_")) assert.ok(CONFIG_ENV.has(k), `${name}: ENV ${k} is read by config.ts`);
        const config = loadConfig(Object.fromEntries(env));
        assert.equal(portOf(config.httpAddr), 8080);
        // Exec form, node itself: SIGTERM reaches the server's drain (npm would stand between them).
        assert.deepEqual(jsonArgs(lastOf(final, "CMD")!), ["node", ...SERVER_NODE_ARGS]);
        assert.deepEqual(JSON.parse(read("package.json")).scripts.start, ["node", ...SERVER_NODE_ARGS].join(" "), "CMD is what `npm start` runs");
        assert.equal(lastOf(final, "ENTRYPOINT"), undefined);
        // The reference models are built in the image (gpu/build-reference-models.ts) and copied into the final stage.
        assert.ok(
          stages.some((s) => s.name === "models" && s.instructions.some((i) => i.getKeyword() === "RUN" && /gpu\/build-reference-models\.ts --out \/app\/gpu\/models/.test(i.getArgumentsContent()!))),
          `${name}: a models stage builds the reference models`,
        );
        assert.ok(copiesFrom(final, "models", "/app/gpu/models"), `${name}: the final stage copies the built models`);
      });

      it(`deploy/${name}: every COPY source exists and survives .dockerignore`, () => {
        const { stages } = dockerfile(name);
        const ignored = dockerIgnored();
        const problems: string[] = [];
        for (const st of stages) {
          for (const ins of st.instructions.filter((i) => i.getKeyword() === "COPY")) {
            if (copyFrom(ins) !== undefined) continue; // from a stage or an image, not the context
            const args = argsOf(ins);
            for (const src of args.slice(0, -1)) {
              const rel = src === "." ? "" : src.replace(/^\.\//, "").replace(/\/$/, "");
              if (rel === "") continue;
              if (!fs.existsSync(path.join(ROOT, rel))) problems.push(`${src}: missing`);
              else if (ignored(rel)) problems.push(`${src}: excluded by .dockerignore`);
            }
          }
        }
        assert.deepEqual(problems, []);
      });
    }

    it("deploy/Dockerfile: npm ci skips onnxruntime-node's CUDA download; the test stage brings git, python3 and redis-server", () => {
      const { stages } = dockerfile("Dockerfile");
      const base = stages.find((s) => s.name === "base")!;
      assert.equal(envOf(base).get("ONNXRUNTIME_NODE_INSTALL"), "skip");
      const ci = stages.filter((s) => s.instructions.some((i) => i.getKeyword() === "RUN" && /npm ci/.test(i.getArgumentsContent()!)));
      assert.ok(ci.length >= 2 && ci.every((s) => s.image === "base"), "npm ci runs only in stages built on base");
      const test = stages.find((s) => s.name === "test")!;
      const apt = test.instructions.find((i) => i.getKeyword() === "RUN" && /apt-get install/.test(i.getArgumentsContent()!))!;
      for (const pkg of ["git", "python3", "redis-server"]) assert.match(apt.getArgumentsContent()!, new RegExp(`\\b${pkg}\\b`));
      assert.match(lastOf(test, "USER")!.getArgumentsContent()!, /^10001/);
    });

    it("deploy/Dockerfile.cuda: CUDA runtime base, onnxruntime-node's CUDA provider installed and checked at build, cuda:0", () => {
      const { stages, final, args } = dockerfile("Dockerfile.cuda");
      assert.match(args.get("CUDA_IMAGE")!, /^nvidia\/cuda:\d+\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/);
      assert.equal(final.image, args.get("CUDA_IMAGE"));
      assert.equal(envOf(final).get("DREAM_EXECUTION_PROVIDER"), "cuda:0");
      assert.equal(loadConfig(Object.fromEntries(envOf(final))).executionProvider, "cuda:0");
      const install = stages.flatMap((s) => s.instructions).find((i) => i.getKeyword() === "RUN" && /onnxruntime-node\/script\/install/.test(i.getArgumentsContent()!));
      assert.ok(install, "runs onnxruntime-node's install script");
      const flag = /ONNXRUNTIME_NODE_INSTALL=(\w+) node node_modules\/onnxruntime-node\/script\/install/.exec(install!.getArgumentsContent()!)?.[1];
      // The locked onnxruntime-node knows that manifest for linux/x64 (its install-metadata.js), and the
      // files it installs are the ones the build then insists on.
      const metadata = require(path.join(ROOT, "node_modules", "onnxruntime-node", "script", "install-metadata.js")) as { requirements: Record<string, string[]>; manifests: Record<string, Record<string, unknown>> };
      assert.ok(metadata.requirements["linux/x64"]!.includes(flag!), `ONNXRUNTIME_NODE_INSTALL=${flag} is a linux/x64 manifest of the locked onnxruntime-node`);
      for (const file of Object.keys(metadata.manifests[`linux/x64:${flag}`]!).filter((f) => !/tensorrt/.test(f))) {
        assert.match(install!.getArgumentsContent()!, new RegExp(`test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/${path.basename(file).replace(/\./g, "\\.")}`));
      }
      assert.ok(final.instructions.some((i) => i.getKeyword() === "RUN" && /ldd node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/.test(i.getArgumentsContent()!)), "the CUDA provider's libraries are checked against the base");
      assert.ok(copiesFrom(final, "node", "/usr/local/bin/node"), "Node comes from the pinned node image");
    });
  });

  describe("the server's node flags (src/core/node-flags.ts)", () => {
    // What the flag does to GC under load is measured by bench:priority, not asserted here.
    it("this node starts with them, without a bad-option error or warning", () => {
      const run = spawnSync(process.execPath, [...SERVER_NODE_FLAGS, "-e", "process.stdout.write(JSON.stringify(process.execArgv))"], { encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr, "");
      assert.deepEqual(JSON.parse(run.stdout).slice(0, SERVER_NODE_FLAGS.length), [...SERVER_NODE_FLAGS]);
    });
    it("main.ts names the flags missing from its command line", () => {
      assert.deepEqual(missingServerNodeFlags(["--import", "tsx"]), [...SERVER_NODE_FLAGS]);
      assert.deepEqual(missingServerNodeFlags([...SERVER_NODE_FLAGS, "--import", "tsx"]), []);
    });
  });

  describe("deploy/healthcheck.mjs", () => {
    let answer: { status: number; body: string } = { status: 200, body: "{}" };
    let server: http.Server;
    let port = 0;
    before(async () => {
      server = http.createServer((req, res) => {
        if (req.url !== "/healthz") {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    const probe = async (mode: string, addr = `0.0.0.0:${port}`): Promise<number> => {
      const { spawn } = await import("node:child_process");
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [path.join(DEPLOY, "healthcheck.mjs"), mode, "2000"], { env: { ...process.env, DREAM_HTTP_ADDR: addr }, stdio: "ignore" });
        child.on("exit", (code) => resolve(code ?? -1));
      });
    };

    it("ready: 0 only for a 200 ready answer; live: 0 for any answer with live true (503 while busy, draining or a dependency is down)", async () => {
      answer = { status: 200, body: JSON.stringify({ status: "ok", live: true, ready: true, checks: {} }) };
      assert.equal(await probe("ready"), 0);
      assert.equal(await probe("live"), 0);
      for (const status of ["starting", "degraded", "draining"]) {
        answer = { status: 503, body: JSON.stringify({ status, live: true, ready: false, checks: { balance_store: "unreachable" } }) };
        assert.equal(await probe("ready"), 1, status);
        assert.equal(await probe("live"), 0, status);
      }
      answer = { status: 500, body: "not json" };
      assert.equal(await probe("ready"), 1);
      assert.equal(await probe("live"), 1);
    });

    it("no server on the port: both fail; a bad mode is a usage error", async () => {
      const closed = http.createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
      const dead = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      assert.equal(await probe("ready", `127.0.0.1:${dead}`), 1);
      assert.equal(await probe("live", `127.0.0.1:${dead}`), 1);
      assert.equal(spawnSync(process.execPath, [path.join(DEPLOY, "healthcheck.mjs"), "sideways"]).status, 2);
    });
  });
});
