import type { FastifyServerOptions } from 'fastify'
import type { JwtPolicy } from '@fastify-jwt-gateway/jwt-auth'

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
   * The auth endpoint for proxies that stay in front (nginx `auth_request`,
   * Traefik `forwardAuth`, Envoy `ext_authz`), e.g. `/__gateway/auth`. Off by default.
   */
  authPath?: string
  /** Addresses and CIDRs that may call `authPath` (the socket's peer). Default loopback: 127.0.0.0/8, ::1. */
  authTrustedProxies?: string[]
}

export interface RouteConfig {
  /** Path prefix the route owns (`/api`); the longest matching prefix wins. */
  prefix: string
  /** Origin (and optional base path) requests go to: `http://127.0.0.1:9000`. */
  upstream: string
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
}

export interface BuildGatewayOptions {
  baseDir?: string
  /** Fastify's `logger` option (a pino instance is passed as `loggerInstance`). Default false. */
  logger?: boolean | object
  /** Extra Fastify server options (the gateway's own settings win where they overlap). */
  fastify?: FastifyServerOptions
}
