import type { SecureServerOptions } from 'node:http2'
import type { FastifyServerOptions } from 'fastify'
import type { JwtPolicy } from '@fastify-jwt-gateway/jwt-auth'
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
}

export interface BuildGatewayOptions {
  baseDir?: string
  /** Fastify's `logger` option (a pino instance is passed as `loggerInstance`). Default false. */
  logger?: boolean | object
  /** Extra Fastify server options (the gateway's own settings win where they overlap). */
  fastify?: FastifyServerOptions
  /**
   * The files of `server.tls`, loaded (`cert`, `key`, `ca` as PEM; other
   * secure-context options pass through): the gateway then listens with TLS,
   * HTTP/2 too with `server.http2`. `minVersion` and client certificates come
   * from `server.tls`. Required with `server.tls`, refused without it.
   */
  https?: SecureServerOptions
}
