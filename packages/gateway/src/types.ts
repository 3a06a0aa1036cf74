import type { SecureServerOptions } from 'node:http2'
import type { FastifyServerOptions } from 'fastify'
import type { FromSchema } from 'json-schema-to-ts'
import type { JwtPolicy } from '@fastify-jwt-gateway/jwt-auth'
import type { CLIENT_CERT_FIELDS, DEFAULT_METHODS, gatewayConfigSchema } from './schema.js'

// The config's JSON keys are typed from gatewayConfigSchema (schema.ts), the
// one source the gateway validates with and the preset publishes as
// schema.json (json-schema-to-ts's FromSchema, type-only): a key, an enum value
// or a `required` added there is in these types. Each `jwt` is jwt-auth's
// JwtPolicy (itself typed from jwt-auth's schema): the schema holds the policy
// as a $ref to a copy under $defs. Written by hand, and said so at each: the
// programmatic options no JSON holds (functions, loaded TLS, a logger).

type GatewaySchema = typeof gatewayConfigSchema
type RouteSchema = GatewaySchema['$defs']['route']
/** A route's JSON keys as the schema types them, `jwt` aside (a $ref to the policy). */
type RouteJson = FromSchema<{ type: 'object', additionalProperties: false, required: RouteSchema['required'], properties: Omit<RouteSchema['properties'], 'jwt'> }>
/** The top level's JSON keys as the schema types them, `jwt` and `routes` aside ($refs). */
type TopJson = FromSchema<{ type: 'object', additionalProperties: false, properties: Omit<GatewaySchema['properties'], 'jwt' | 'routes'> }>
type RateLimitJson = NonNullable<RouteJson['rateLimit']>
type ServerJson = NonNullable<TopJson['server']>
type UpstreamJson = RouteJson['upstream']
type ClaimRoutingJson = Extract<UpstreamJson, { byClaim: string }>
type UpstreamServerJson = Exclude<Extract<UpstreamJson, unknown[]>[number], string>

// Interfaces over the derived object types (`interface X extends Derived {}`)
// add no member: they give editor hovers and messages a name (`ServerTlsConfig`)
// instead of the expanded object. The upstream union is spelled out for the
// same reason; test/schema-types.test.ts checks it equals the schema's.

export type HttpMethod = typeof DEFAULT_METHODS[number]

/**
 * `server`: where the preset listens (`buildGateway` does not listen), the
 * built-in routes, request timeouts, TLS. Each key's description (and the
 * nginx directive it replaces) is in the schema and the README's "Server".
 */
export interface ServerConfig extends Omit<ServerJson, 'tls'> {
  /** HTTPS listener (nginx `listen ... ssl`, `ssl_certificate`, ...): files, read by the preset; `buildGateway` takes them loaded, as `opts.https`. */
  tls?: ServerTlsConfig
}

/** `server.tls`: `cert`, `key`, `ca` (PEM files), `minVersion`, `clientAuth`. */
export interface ServerTlsConfig extends NonNullable<ServerJson['tls']> {}

export type TlsVersion = NonNullable<ServerTlsConfig['minVersion']>

/** What `clientCertHeaders` can forward from the verified client certificate. */
export type ClientCertField = typeof CLIENT_CERT_FIELDS[number]

/**
 * `rateLimit`: per-caller rate limit (nginx `limit_req` keyed on `$jwt_claim_sub`),
 * checked after the token. `key` by hand: the schema's `pattern` is no type.
 */
export interface RateLimitConfig extends Omit<RateLimitJson, 'key'> {
  /** Who is counted: `"sub"` (default), `"claim:<path>"` (a verified claim) or `"ip"`. No verified token: the IP. */
  key?: 'sub' | 'ip' | `claim:${string}`
}

/** A server of an upstream group: `url`, `weight` (default 1), `backup`, `maxFails` (nginx `max_fails`), `failTimeout` (seconds, nginx `fail_timeout`). */
export interface UpstreamServerConfig extends UpstreamServerJson {}

/** One URL, a list of URLs, or a list of server entries (an upstream group, nginx `upstream {}`). */
export type UpstreamTarget = string | Array<string | UpstreamServerConfig>

/**
 * Routing on a verified claim (nginx `map $jwt_claim_tenant $upstream`):
 * the claim's value picks the target; `default` when it matches none.
 */
export interface ClaimRouting extends Omit<ClaimRoutingJson, 'map' | 'default'> {
  map: Record<string, UpstreamTarget>
  default?: UpstreamTarget
}

/** A route's `upstream`: one URL, an upstream group, or routing on a claim. */
export type UpstreamConfig = UpstreamTarget | ClaimRouting

/** A route: a path prefix, its upstream (one URL, a group, or `byClaim` routing) and its policy. */
export interface RouteConfig extends Omit<RouteJson, 'rateLimit' | 'upstream'> {
  /** Origin (and optional base path) requests go to, an upstream group, or `{ byClaim, map, default }`. */
  upstream: UpstreamConfig
  /** Partial policy merged key by key over the top-level `jwt`; `false` switches it off. */
  jwt?: JwtPolicy | false
  rateLimit?: RateLimitConfig
}

/** A gateway config (`gateway.json`). */
export interface GatewayConfig extends Omit<TopJson, 'server'> {
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
