// REST/JSON transport: public surface for the composition root and tests.
export { createRestServer } from "./server";
export { METRICS_PATH, OPENAPI_PATH, STRIPE_WEBHOOK_PATH } from "./exact-routes";
export type { ListenAddress, RawRoute, RequestEvent, RestExtras, RestLogger, RestServer, RestServerOptions, WebhookResult } from "./options";
export { loadApi, repoProtoDir } from "./descriptors";
export type { Api, ApiMethod, GrpcMethodDefinition, HttpBinding, LoadApiOptions } from "./descriptors";
export { buildOpenApi } from "./openapi";
