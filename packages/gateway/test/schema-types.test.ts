// The config's types come from gatewayConfigSchema (types.ts). This file must
// typecheck (pnpm typecheck): it fails when an expectTypeOf stops holding or
// a line marked as an expected error stops being one. At run time the same
// values go to gatewayConfigProblems: what the type refuses, the schema
// refuses (with the message a user reads), and what the type accepts, it accepts.
import t from 'tap'
import { expectTypeOf } from 'expect-type'
import type { FromSchema } from 'json-schema-to-ts'
import type { JwtPolicy } from '@fastify-jwt-gateway/jwt-auth'
import type { GatewayConfig, HttpMethod, RouteConfig, ServerConfig, ServerTlsConfig } from '../src/index.js'
import type { ClaimRouting, UpstreamConfig, UpstreamServerConfig } from '../src/upstream-group.js'
import type { RateLimitConfig } from '../src/types.js'
import { DEFAULT_METHODS, gatewayConfigProblems, gatewayConfigSchema } from '../src/schema.js'

/** The keys an object schema declares. */
type SchemaKeys<S extends { properties: object }> = keyof S['properties']
type Schema = typeof gatewayConfigSchema
type Route = Schema['$defs']['route']

// Schema and types cannot drift apart: a key added to (or dropped from) the
// schema is one of the type's keys (or no longer is), so these fail until both
// say the same (e.g. the rate limit's type once listed clientCert, which the
// schema refuses).
expectTypeOf<keyof GatewayConfig>().toEqualTypeOf<SchemaKeys<Schema>>()
expectTypeOf<keyof ServerConfig>().toEqualTypeOf<SchemaKeys<Schema['properties']['server']>>()
expectTypeOf<keyof ServerTlsConfig>().toEqualTypeOf<SchemaKeys<Schema['properties']['server']['properties']['tls']>>()
expectTypeOf<keyof RouteConfig>().toEqualTypeOf<SchemaKeys<Route>>()
expectTypeOf<keyof RateLimitConfig>().toEqualTypeOf<SchemaKeys<Route['properties']['rateLimit']>>()
expectTypeOf<keyof UpstreamServerConfig>().toEqualTypeOf<SchemaKeys<Route['properties']['upstream']['anyOf'][1]['items']['anyOf'][1]>>()
expectTypeOf<keyof ClaimRouting>().toEqualTypeOf<SchemaKeys<Route['properties']['upstream']['anyOf'][2]>>()
expectTypeOf<HttpMethod>().toEqualTypeOf<typeof DEFAULT_METHODS[number]>()
// The upstream union is spelled out in types.ts (for readable hovers): it must be the schema's.
expectTypeOf<UpstreamConfig>().toEqualTypeOf<FromSchema<Route['properties']['upstream']>>()
expectTypeOf<RouteConfig['upstream']>().toEqualTypeOf<FromSchema<Route['properties']['upstream']>>()

// Optional keys stay optional, required ones required (the `?` is part of the
// type compared); each `jwt` is jwt-auth's policy type.
expectTypeOf<Pick<RouteConfig, 'prefix' | 'websocket' | 'jwt' | 'methods'>>().toEqualTypeOf<{
  prefix: string
  websocket?: boolean
  jwt?: JwtPolicy | false
  methods?: HttpMethod[]
}>()
expectTypeOf<Pick<GatewayConfig, 'routes' | 'jwt'>>().toEqualTypeOf<{ routes: RouteConfig[], jwt?: JwtPolicy | false }>()
expectTypeOf<Pick<ServerConfig, 'port' | 'workers' | 'metricsPath'>>().toEqualTypeOf<{ port?: number, workers?: number | 'auto', metricsPath?: string | false }>()
expectTypeOf<ServerTlsConfig>().toEqualTypeOf<{ cert: string, key: string, ca?: string, minVersion?: 'TLSv1.2' | 'TLSv1.3', clientAuth?: 'optional' | 'required' }>()
expectTypeOf<Pick<RateLimitConfig, 'max' | 'timeWindow' | 'key'>>().toEqualTypeOf<{ max: number, timeWindow: number | string, key?: 'sub' | 'ip' | `claim:${string}` }>()

const API = { prefix: '/api', upstream: 'http://127.0.0.1:9000' } as const

/** A value of the type, and the schema's problems with it. */
type Case = [string, GatewayConfig, string[]]

// Each line is refused by the type (the @ts-expect-error above it) and by the schema.
const refused: Case[] = [
  // @ts-expect-error: an unknown key (additionalProperties: false at the top)
  ['unknown key', { routes: [API], rotues: [] }, ['rotues: unknown key']],
  // @ts-expect-error: an unknown route key
  ['unknown route key', { routes: [{ ...API, prefx: '/x' }] }, ['routes[0].prefx: unknown key']],
  // @ts-expect-error: the rate limit has no clientCert (the hand-written type once said it had)
  ['unknown rate-limit key', { routes: [{ ...API, rateLimit: { max: 1, timeWindow: '1s', clientCert: 'required' } }] }, ['routes[0].rateLimit.clientCert: unknown key']],
  // @ts-expect-error: an unknown key in an upstream server
  ['unknown server key', { routes: [{ ...API, upstream: [{ url: 'http://127.0.0.1:9001', wieght: 2 }] }] }, ['routes[0].upstream[0].wieght: unknown key']],
  // @ts-expect-error: an unknown policy key in a route's jwt
  ['unknown policy key', { routes: [{ ...API, jwt: { leway: 1 } }] }, ['routes[0].jwt.leway: unknown key']],
  // @ts-expect-error: a wrong value type (port is an integer)
  ['wrong type', { server: { port: '8080' }, routes: [API] }, ['server.port: must be an integer, got "8080"']],
  // @ts-expect-error: a value outside the enum
  ['outside the enum', { server: { logLevel: 'verbose' }, routes: [API] }, ['server.logLevel: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "verbose"']],
  // @ts-expect-error: a method outside the list
  ['unknown method', { routes: [{ ...API, methods: ['GET', 'FETCH'] }] }, ['routes[0].methods[1]: must be one of "DELETE", "GET", "HEAD", "PATCH", "POST", "PUT", "OPTIONS", got "FETCH"']],
  // @ts-expect-error: a rate-limit key outside its pattern (typed as a template literal)
  ['rate-limit key', { routes: [{ ...API, rateLimit: { max: 1, timeWindow: '1s', key: 'user' } }] }, ['routes[0].rateLimit.key: must be a string matching ^(sub|ip|claim:.+)$, got "user"']],
  // @ts-expect-error: a required key missing (server.tls.key)
  ['missing required key', { server: { tls: { cert: 'c.pem' } }, routes: [API] }, ['server.tls.key: is required']],
  // @ts-expect-error: a route needs its prefix
  ['route without prefix', { routes: [{ upstream: 'http://127.0.0.1:9000' }] }, ['routes[0].prefix: is required']],
  // @ts-expect-error: byClaim routing needs its map
  ['byClaim without map', { routes: [{ ...API, upstream: { byClaim: 'tenant' } }] }, ['routes[0].upstream.map: is required']],
  // @ts-expect-error: routes is required
  ['no routes', {}, ['routes: is required']]
]

// Accepted by the type and by the schema: a route and a server with every key
// of the schema (Required<>: a key added to the schema must be added here too).
const route: Required<RouteConfig> = {
  prefix: '/api',
  upstream: { byClaim: 'tenant', map: { a: 'http://127.0.0.1:9001', b: ['http://127.0.0.1:9002', { url: 'http://127.0.0.1:9003', weight: 2, backup: true, maxFails: 3, failTimeout: 5 }] }, default: 'http://127.0.0.1:9000' },
  tls: { ca: 'ca.pem', servername: 'upstream.internal', rejectUnauthorized: true },
  hideHeaders: ['x-powered-by'],
  preserveHost: true,
  rewritePrefix: '/v1',
  methods: ['GET', 'POST'],
  websocket: true,
  timeout: 30_000,
  jwt: { audience: 'api' },
  rateLimit: { max: 10, timeWindow: '1 minute', key: 'claim:org.id', redis: 'redis://127.0.0.1:6379', prefix: 'rl:', onStoreError: 'closed', headers: 'draft' },
  clientCert: 'optional',
  clientCertHeaders: { 'x-client-dn': 'subject' }
}
const server: Required<ServerConfig> = {
  host: '127.0.0.1',
  port: 8443,
  logLevel: 'warn',
  healthPath: '/health',
  workers: 'auto',
  readyPath: '/ready',
  metricsPath: false,
  trustProxy: '10.0.0.0/8',
  normalizePath: true,
  caseSensitive: true,
  underscoresInHeaders: true,
  bodyTimeout: 10_000,
  requestTimeout: 60_000,
  tls: { cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem', minVersion: 'TLSv1.3', clientAuth: 'optional' },
  http2: true,
  redirectHttp: { port: 8080 },
  authPath: '/__gateway/auth',
  authTrustedProxies: ['127.0.0.1']
}
const every: Required<GatewayConfig> = { $schema: './schema.json', server, jwt: { secret: 'a-gateway-secret-of-32-bytes-ok!!' }, routes: [route] }

t.test('what the derived type refuses, the schema refuses', async (t) => {
  t.plan(refused.length)
  for (const [what, value, problems] of refused) t.same(gatewayConfigProblems(value), problems, what)
})

t.test('a config with every schema key type-checks and passes the schema', async (t) => {
  t.same(Object.keys(every).sort(), Object.keys(gatewayConfigSchema.properties).sort(), 'every top-level key')
  t.same(Object.keys(server).sort(), Object.keys(gatewayConfigSchema.properties.server.properties).sort(), 'every server key')
  t.same(Object.keys(route).sort(), Object.keys(gatewayConfigSchema.$defs.route.properties).sort(), 'every route key')
  t.same(gatewayConfigProblems(every), [])
})
