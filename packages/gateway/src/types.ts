import type { SecureServerOptions } from 'node:http2'
import type { FastifyServerOptions } from 'fastify'
import type { JwtPolicy } from '@fastify-jwt-gateway/jwt-auth'
import type { UpstreamConfig } from './upstream-group.js'
import type { UpstreamTlsConfig } from './upstream-tls.js'
import type { CLIENT_CERT_FIELDS } from './schema.js'

export type HttpMethod = 'DELETE' | 'GET' | 'HEAD' | 'PATCH' | 'POST' | 'PUT' | 'OPTIONS'

export interface ServerConfig {
  /** Where the preset listens; `buildGateway` does not listen. */
  host?: string
  port?: number
  /** pino level for the gateway's logger. */
  logLevel?: string
  /** Answers 200 `{ status, keys }`, never behind a token. Default `/__gateway/health`. */
  healthPath?: string
  /** Accepted for the preset, which runs that many processes; the gateway itself ignores it. */
  workers?: number | 'auto'
  /**
   * Fastify's `trustProxy`: behind a load balancer, `request.ip`, the scheme and
   * the host come from the trusted proxies' X-Forwarded-* headers.
   */
  trustProxy?: boolean | string | number
  /**
   * Normalize non-canonical request targets (dot segments, `%2e`, `//`,
   * encoded unreserved characters) and route and forward the result, instead
   * of answering 400 FJG_ERR_PATH_NOT_CANONICAL. Default false.
   */
  normalizePath?: boolean
  /** Choose routes on the path as spelled (nginx prefix locations); default false: case-folded. */
  caseSensitive?: boolean
  /** Pass incoming header names with `_` on (nginx `underscores_in_headers on`); default false: dropped. */
  underscoresInHeaders?: boolean
  /** Milliseconds a client may take before its first body byte and between two (nginx client_body_timeout). Default 60000. */
  bodyTimeout?: number
  /** Milliseconds a client may take to send its whole request, headers and body (Node's requestTimeout). Default 300000. */
  requestTimeout?: number
  /** Readiness: 200 when every key source is usable, else 503 naming those that are not. Default `/__gateway/ready`. */
  readyPath?: string
  /** Prometheus metrics (prom-client); `false` turns them off. Default `/__gateway/metrics`. */
  metricsPath?: string | false
  /**
   * HTTPS listener (nginx `listen ... ssl`, `ssl_certificate`, `ssl_certificate_key`,
   * `ssl_client_certificate`, `ssl_protocols`, `ssl_verify_client`). Files, read
   * by the preset (relative to the config's folder); `buildGateway` takes them
   * loaded, as `opts.https`.
   */
  tls?: ServerTlsConfig
  /** HTTP/2 over TLS, with HTTP/1.1 for clients that do not offer h2 by ALPN (`listen ... ssl http2`). Needs `tls`. */
  http2?: boolean
  /** A plain-HTTP listener that only answers 308 to the same host and path on the TLS port (`return 308 https://$host$request_uri`). */
  redirectHttp?: { port: number }
  /**
   * The auth endpoint for proxies that stay in front (nginx `auth_request`,
   * Traefik `forwardAuth`, Envoy `ext_authz`), e.g. `/__gateway/auth`. Off by default.
   */
  authPath?: string
  /** Addresses and CIDRs that may call `authPath` (the socket's peer). Default loopback: 127.0.0.0/8, ::1. */
  authTrustedProxies?: string[]
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3'

export interface ServerTlsConfig {
  /** PEM certificate (chain) file. */
  cert: string
  /** PEM private key file. */
  key: string
  /** PEM CA file: the CAs client certificates must chain to. */
  ca?: string
  /** Lowest TLS version accepted; default TLSv1.2. */
  minVersion?: TlsVersion
  /** `required`: the handshake fails without a valid client certificate; `optional`: asked for, checked per route. Needs `ca`. */
  clientAuth?: 'optional' | 'required'
}

/** What `clientCertHeaders` can forward from the verified client certificate. */
export type ClientCertField = typeof CLIENT_CERT_FIELDS[number]

export interface RouteConfig {
  /** Path prefix the route owns (`/api`); the longest matching prefix wins. */
  prefix: string
  /**
   * Origin (and optional base path) requests go to: `http://127.0.0.1:9000`; or
   * an upstream group (nginx `upstream {}`): a list of URLs or of
   * `{ url, weight, backup, maxFails, failTimeout }` servers.
   */
  upstream: UpstreamConfig
  /** TLS toward the upstream servers: `{ ca, cert, key, servername, rejectUnauthorized }` (files relative to the config folder). */
  tls?: UpstreamTlsConfig
  /** Send the client's Host to the upstream (nginx `proxy_set_header Host $host`). Default false: the upstream's own host. */
  preserveHost?: boolean
  /** Upstream answer headers not passed to the client (nginx `proxy_hide_header`), e.g. `["x-powered-by"]`. */
  hideHeaders?: string[]
  /** What replaces `prefix` in the upstream path; default: the upstream's path (`/`), i.e. the prefix is stripped. */
  rewritePrefix?: string
  /** Methods proxied; others answer 405 on this prefix. Default: DELETE GET HEAD PATCH POST PUT OPTIONS. */
  methods?: string[]
  /** Proxy WebSocket upgrades too (checked by the same policy). */
  websocket?: boolean
  /** Milliseconds the upstream may take to send its headers, and between body chunks. Default 60000. */
  timeout?: number
  /** Partial policy merged key by key over the top-level `jwt`; `false` switches it off. */
  jwt?: JwtPolicy | false
  /** Per-caller rate limit (nginx `limit_req` keyed on `$jwt_claim_sub`), checked after the token. */
  rateLimit?: RateLimitConfig
  /** `required`: 403 FJG_ERR_CLIENT_CERT_REQUIRED without a verified client certificate (an `optional` listener). */
  clientCert?: 'required' | 'optional'
  /** Header name → field of the verified client certificate (`{ "x-client-dn": "subject" }`); inbound copies are removed on every route. */
  clientCertHeaders?: Record<string, ClientCertField>
}

export interface RateLimitConfig {
  /** Requests allowed per window and key. */
  max: number
  /** Milliseconds, or a duration: `"1 minute"`, `"10s"`. */
  timeWindow: number | string
  /** Who is counted: `"sub"` (default), `"claim:<path>"` (a verified claim) or `"ip"`. No verified token: the IP. */
  key?: 'sub' | 'ip' | `claim:${string}`
  /** Shared count across instances: `redis://host:port`. Without it, each instance counts in memory. */
  redis?: string
  /** Prefix of the counters' Redis keys (default `fjg:rl:`, then the route prefix). */
  prefix?: string
  /** Redis down: `"open"` lets requests through (default, logged), `"closed"` answers 503. */
  onStoreError?: 'open' | 'closed'
  /** `"x"` (default): `X-RateLimit-*`; `"draft"`: the IETF draft's `RateLimit-*`. `Retry-After` on 429 either way. */
  headers?: 'x' | 'draft'
  /** `required`: 403 FJG_ERR_CLIENT_CERT_REQUIRED without a verified client certificate (an `optional` listener). */
  clientCert?: 'required' | 'optional'
  /** Header name → field of the verified client certificate (`{ "x-client-dn": "subject" }`); inbound copies are removed on every route. */
  clientCertHeaders?: Record<string, ClientCertField>
}

export interface GatewayConfig {
  $schema?: string
  server?: ServerConfig
  /** Inherited by every route. */
  jwt?: JwtPolicy | false
  routes: RouteConfig[]
}

export interface GatewayPluginOptions extends GatewayConfig {
  /** Folder relative key and revocation file paths resolve against. */
  baseDir?: string
  /** Scrapes answer with this text instead of the instance's own (a cluster worker asks its primary for every worker's). */
  aggregateMetrics?: (registry: import('prom-client').Registry) => Promise<string>
}

export interface BuildGatewayOptions {
  baseDir?: string
  /** Fastify's `logger` option (a pino instance is passed as `loggerInstance`). Default false. */
  logger?: boolean | object
  /** Extra Fastify server options (the gateway's own settings win where they overlap). */
  fastify?: FastifyServerOptions
  /** See GatewayPluginOptions.aggregateMetrics. */
  aggregateMetrics?: GatewayPluginOptions['aggregateMetrics']
  /**
   * The files of `server.tls`, loaded (`cert`, `key`, `ca` as PEM; other
   * secure-context options pass through): the gateway then listens with TLS,
   * HTTP/2 too with `server.http2`. `minVersion` and client certificates come
   * from `server.tls`. Required with `server.tls`, refused without it.
   */
  https?: SecureServerOptions
}
