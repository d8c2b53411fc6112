// Execution provider choice. Config says `cpu` (default), `cuda` or `cuda:N`. There is no silent
// fallback: asking for CUDA on a host without onnxruntime-node's CUDA provider libraries fails at load
// with an error that names the missing files and the command that installs them. (ORT itself only
// reports "Failed to load shared library" and logs the path to stderr.)
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { arch, platform } from "node:os";
import type { InferenceSession } from "onnxruntime-node";
import { ServiceError } from "../src/core/errors";

export type ExecutionProvider = { kind: "cpu" } | { kind: "cuda"; deviceId: number };

/** The command a GPU host runs once (CUDA 12 + cuDNN 9 installed) to fetch the provider libraries. */
export const CUDA_INSTALL_COMMAND = "ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install";

/** Files onnxruntime-node's install script (script/install-metadata.js, manifest linux/x64:cuda12) adds. */
export const CUDA_PROVIDER_FILES = ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"];

export function parseExecutionProvider(text: string | undefined): ExecutionProvider {
  const s = (text ?? "cpu").trim().toLowerCase();
  if (s === "" || s === "cpu") return { kind: "cpu" };
  const m = /^cuda(?::(\d{1,3}))?$/.exec(s);
  if (m) return { kind: "cuda", deviceId: m[1] === undefined ? 0 : Number(m[1]) };
  throw new Error(`execution provider: expected "cpu", "cuda" or "cuda:N", got ${JSON.stringify(text)}`);
}

export function formatExecutionProvider(ep: ExecutionProvider): string {
  return ep.kind === "cpu" ? "cpu" : `cuda:${ep.deviceId}`;
}

/** onnxruntime-node's native folder, where the CUDA provider libraries must be. */
export function ortNativeDir(): string {
  return join(dirname(require.resolve("onnxruntime-node")), "..", "bin", "napi-v6", platform(), arch());
}

function unavailable(ep: ExecutionProvider, problem: string, details: Record<string, string>): ServiceError {
  return new ServiceError(
    "MODEL_UNAVAILABLE",
    `execution provider ${formatExecutionProvider(ep)} requested but ${problem}. ` +
      `On a Linux x64 GPU host with CUDA 12 and cuDNN 9, install it once with \`${CUDA_INSTALL_COMMAND}\`, ` +
      `or configure the execution provider "cpu". There is no automatic fallback to CPU.`,
    { executionProvider: formatExecutionProvider(ep), installCommand: CUDA_INSTALL_COMMAND, ...details },
  );
}

/** Throws at once (before any session is created) if the provider cannot possibly load here. */
export function checkExecutionProvider(ep: ExecutionProvider): void {
  if (ep.kind === "cpu") return;
  if (platform() !== "linux" || arch() !== "x64") {
    throw unavailable(ep, `onnxruntime-node ships CUDA only for linux/x64, this host is ${platform()}/${arch()}`, {});
  }
  const dir = ortNativeDir();
  const missing = CUDA_PROVIDER_FILES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw unavailable(ep, `onnxruntime-node's CUDA provider libraries are not installed (missing ${missing.join(", ")} in ${dir}; ` +
        `the project's .npmrc skips onnxruntime-node's CUDA download)`, { missing: missing.join(",") });
  }
}

/** Session options for the provider. Only the requested provider is listed (ORT still places ops it lacks on CPU). */
export function sessionProviders(ep: ExecutionProvider): InferenceSession.ExecutionProviderConfig[] {
  return ep.kind === "cpu" ? ["cpu"] : [{ name: "cuda", deviceId: ep.deviceId }];
}

/** Wraps a session-creation failure; for CUDA the libraries exist but something they need (driver, cuDNN) does not. */
export function sessionCreateError(ep: ExecutionProvider, file: string, err: unknown): ServiceError {
  const reason = err instanceof Error ? err.message : String(err);
  if (ep.kind === "cuda") {
    return unavailable(ep, `creating the session for ${file} failed (${reason}); check the NVIDIA driver, CUDA 12 and cuDNN 9 libraries on the library path`, { file });
  }
  return new ServiceError("MODEL_UNAVAILABLE", `loading ${file} failed: ${reason}`, { file, executionProvider: formatExecutionProvider(ep) });
}
