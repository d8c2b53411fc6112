// REST/JSON transport: public surface for the composition root and tests.
export { createRestServer, METRICS_PATH, OPENAPI_PATH, STRIPE_WEBHOOK_PATH } from "./server";
export type { ListenAddress, RawRoute, RequestEvent, RestExtras, RestLogger, RestServer, RestServerOptions, WebhookResult } from "./server";
export { loadApi, repoProtoDir } from "./descriptors";
export type { Api, ApiMethod, GrpcMethodDefinition, HttpBinding, LoadApiOptions } from "./descriptors";
export { buildOpenApi } from "./openapi";
