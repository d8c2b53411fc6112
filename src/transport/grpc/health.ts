// grpc.health.v1: "" (the whole server) and each dream.v1 service report SERVING when the server is
// ready (models warmed, ledger and balance store reachable), NOT_SERVING otherwise or while draining.
import * as grpc from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus as Serving, HealthService as HealthDefinition, type HealthCheckRequest } from "../../gen/grpc/health/v1/health";

export const HEALTH_SERVICES = ["", "dream.v1.Models", "dream.v1.Billing", "dream.v1.Status"];
export const HealthService = HealthDefinition;

export function healthImplementation(isReady: () => Promise<boolean>, watchIntervalMs = 1000): grpc.UntypedServiceImplementation {
  const statusOf = async (service: string): Promise<Serving | undefined> => {
    if (!HEALTH_SERVICES.includes(service)) return undefined;
    return (await isReady()) ? Serving.SERVING : Serving.NOT_SERVING;
  };
  return {
    check: (call: grpc.ServerUnaryCall<HealthCheckRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      statusOf(call.request.service).then(
        (status) => (status === undefined ? cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` }) : cb(null, { status })),
        (err: unknown) => cb({ code: grpc.status.INTERNAL, details: String(err) }),
      );
    },
    list: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      isReady().then(
        (ready) => cb(null, { statuses: Object.fromEntries(HEALTH_SERVICES.map((s) => [s, { status: ready ? Serving.SERVING : Serving.NOT_SERVING }])) }),
        (err: unknown) => cb({ code: grpc.status.INTERNAL, details: String(err) }),
      );
    },
    watch: (call: grpc.ServerWritableStream<HealthCheckRequest, unknown>) => {
      let last: Serving | undefined | null = null;
      const tick = () => {
        statusOf(call.request.service).then((s) => {
          const status = s ?? Serving.SERVICE_UNKNOWN;
          if (status !== last) {
            last = status;
            call.write({ status });
          }
        }, () => undefined);
      };
      tick();
      const timer = setInterval(tick, watchIntervalMs);
      call.on("cancelled", () => clearInterval(timer));
      call.on("close", () => clearInterval(timer));
    },
  };
}
