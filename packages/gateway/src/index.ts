// The public API (the README's "Public API" lists it): what a host app or a gateway
// built in code calls. Helpers only our own code uses stay in their modules.
import { gatewayPlugin } from './plugin.js'

export { gatewayPlugin }
export default gatewayPlugin

export { buildGateway, listenerOptions, DEFAULT_TLS_MIN_VERSION, type ListenerOptions } from './build.js'
export { checkGatewayConfig } from './validated.js'
export {
  gatewayConfigSchema, gatewayConfigProblems, CLIENT_CERT_FIELDS, DEFAULT_HEALTH_PATH, DEFAULT_READY_PATH, DEFAULT_METRICS_PATH, DEFAULT_METHODS,
  DEFAULT_UPSTREAM_TIMEOUT, DEFAULT_BODY_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_BODY_BUFFER
} from './schema.js'
/** For a host app's `rewriteUrl` when the gateway is embedded with `server.normalizePath`. */
export { normalizeTarget } from './paths.js'
export { DEFAULT_UPSTREAM_CONNECTIONS, DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_CONNECT_TIMEOUT } from './upstream.js'
export {
  GatewayConfigError, FJG_ERR_GATEWAY_CONFIG, FJG_ERR_UPSTREAM_UNAVAILABLE, FJG_ERR_UPSTREAM_TIMEOUT, FJG_ERR_METHOD_NOT_ALLOWED,
  FJG_ERR_PATH_NOT_CANONICAL, FJG_ERR_BODY_TIMEOUT, FJG_ERR_CLIENT_CERT_REQUIRED,
  FJG_ERR_RATE_LIMITED, FJG_ERR_RATE_LIMIT_UNAVAILABLE, FJG_ERR_UPSTREAM_NO_MATCH, FJG_ERR_AUTH_UNTRUSTED, FJG_ERR_AUTH_NO_ROUTE,
  FJG_ERR_WEBSOCKET_DISABLED, type GatewayAnswer, type GatewayAnswerConstructor
} from './errors.js'
export { DURATION_BUCKETS, type GatewayMetrics } from './metrics.js'
export { READY_RETRY_AFTER } from './ready.js'
export type {
  GatewayConfig, RouteConfig, ServerConfig, GatewayPluginOptions, BuildGatewayOptions, HttpMethod, ServerTlsConfig, TlsVersion, ClientCertField
} from './types.js'
