// The one place the preset meets the gateway package: its config shape, its
// checker and its builder.
export { buildGateway, checkGatewayConfig, listenerOptions, gatewayConfigProblems } from '@fastify-jwt-gateway/gateway'
export type { GatewayConfig, RouteConfig, ServerConfig, BuildGatewayOptions, ListenerOptions } from '@fastify-jwt-gateway/gateway'
