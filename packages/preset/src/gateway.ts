// The one place the preset meets the gateway package: its config shape, its
// schema, its checker and its builder (issue 4's contract).
export { buildGateway, listenerOptions, gatewayConfigProblems, gatewayConfigSchema, DEFAULT_HEALTH_PATH } from '@fastify-jwt-gateway/gateway'
export type { GatewayConfig, RouteConfig, ServerConfig, BuildGatewayOptions, ListenerOptions } from '@fastify-jwt-gateway/gateway'
