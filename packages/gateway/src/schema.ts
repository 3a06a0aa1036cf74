import Ajv, { type ErrorObject } from 'ajv'
import { formatSchemaErrors, jsonPath, policyProblems, policySchema } from '@fastify-jwt-gateway/jwt-auth/internal'
import { selectionPath, targetProblem } from './paths.js'
import { DEFAULT_AUTH_TRUSTED_PROXIES, trustedProxyProblems } from './auth-endpoint.js'
import { DEFAULT_FAIL_TIMEOUT, DEFAULT_MAX_FAILS } from './upstream-group.js'

// The JSON Schema of the whole gateway config: the one description the preset
// publishes (schema.json) and that gatewayConfigProblems() checks against.
// The policy part is jwt-auth's policySchema, kept once under $defs (its $id
// dropped: two copies of one $id make a schema invalid) and checked by
// jwt-auth's own compiled validator, so policy messages read the same
// everywhere. The gateway part is checked with ajv too, the library jwt-auth
// uses: one JSON Schema implementation across the packages.

export const DEFAULT_HEALTH_PATH = '/__gateway/health'
export const DEFAULT_READY_PATH = '/__gateway/ready'
export const DEFAULT_METRICS_PATH = '/__gateway/metrics'
/** Milliseconds an upstream may take for its headers, and between body chunks (nginx proxy_read_timeout). */
export const DEFAULT_UPSTREAM_TIMEOUT = 60_000
/** Milliseconds before a request's first body byte and between two (nginx client_body_timeout 60s). */
export const DEFAULT_BODY_TIMEOUT = 60_000
/** Bodies up to this many bytes (by Content-Length) are read whole before the upstream request opens (nginx proxy_request_buffering). */
export const DEFAULT_BODY_BUFFER = 64 * 1024
/** Milliseconds for a whole request to arrive (Node's server.requestTimeout default). */
export const DEFAULT_REQUEST_TIMEOUT = 300_000
/** @fastify/http-proxy's default set. */
export const DEFAULT_METHODS = Object.freeze(['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'] as const)

/** What `clientCertHeaders` can forward of the verified client certificate. */
export const CLIENT_CERT_FIELDS = Object.freeze(['subject', 'issuer', 'serial', 'x5t#S256'] as const)

const policyDef = Object.fromEntries(Object.entries(policySchema).filter(([k]) => k !== '$id'))

const jwtOrFalse = {
  description: 'a jwt policy object, or false to switch authentication off',
  anyOf: [{ const: false }, { $ref: '#/$defs/policy' }]
}

const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['max', 'timeWindow'],
  description: 'Per-caller rate limit, after the token check (nginx limit_req keyed on $jwt_claim_sub)',
  properties: {
    max: { type: 'integer', minimum: 1, description: 'Requests allowed per window and key' },
    timeWindow: { type: ['number', 'string'], exclusiveMinimum: 0, minLength: 1, description: 'Milliseconds, or a duration: "1 minute", "10s"' },
    key: { type: 'string', pattern: '^(sub|ip|claim:.+)$', description: '"sub" (default), "claim:<path>" or "ip"; a request without a verified token is keyed by IP' },
    redis: { type: 'string', pattern: '^rediss?://', description: 'Redis URL: one count shared by every instance (default: in memory, per instance)' },
    prefix: { type: 'string', description: 'Prefix of the counters\' Redis keys (default "fjg:rl:")' },
    onStoreError: { enum: ['open', 'closed'], description: 'Redis down: "open" lets requests through (default, logged), "closed" answers 503' },
    headers: { enum: ['x', 'draft'], description: '"x": X-RateLimit-* (default); "draft": RateLimit-*' }
  }
} as const

const upstreamUrl = {
  type: 'string',
  pattern: '^https?://[^/?#]+(/[^?#]*)?$',
  description: 'http(s) origin, optionally with a base path: "http://127.0.0.1:9000"'
} as const

const upstreamGroup = {
  type: 'array',
  minItems: 1,
  items: {
    anyOf: [
      upstreamUrl,
      {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: upstreamUrl,
          weight: { type: 'integer', minimum: 1, description: 'Share of requests among the primaries (or among the backups); default 1 (nginx weight=)' },
          backup: { type: 'boolean', description: 'Used only while no primary server is up (nginx backup)' },
          maxFails: { type: 'integer', minimum: 0, description: `Connect failures within failTimeout that mark the server down; 0 = never; default ${DEFAULT_MAX_FAILS} (nginx max_fails=)` },
          failTimeout: { type: 'number', exclusiveMinimum: 0, description: `Seconds: the window for maxFails and how long the server stays down; default ${DEFAULT_FAIL_TIMEOUT} (nginx fail_timeout=)` }
        }
      }
    ]
  }
} as const

const routeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['prefix', 'upstream'],
  properties: {
    prefix: {
      type: 'string',
      // No wildcards or parameters: a route owns a literal path prefix, and the longest one wins.
      pattern: '^/[^*?#:]*$',
      description: 'Path prefix the route owns, e.g. "/api" (the longest matching prefix wins; no "*", ":", "?" or "#")'
    },
    upstream: {
      description: 'An http(s) URL ("http://127.0.0.1:9000", optionally with a base path), an upstream group (nginx upstream {}): a list of URLs or of { url, weight, backup, maxFails, failTimeout } servers, or { byClaim, map, default } (nginx map $jwt_claim_x $upstream)',
      anyOf: [
        upstreamUrl,
        upstreamGroup,
        {
          type: 'object',
          additionalProperties: false,
          required: ['byClaim', 'map'],
          description: 'Routing on a verified claim: the claim\'s value picks the target; default when none matches (else 403 FJG_ERR_UPSTREAM_NO_MATCH)',
          properties: {
            byClaim: { type: 'string', minLength: 1, description: 'Claim path, e.g. "tenant" or "org.id"' },
            map: { type: 'object', minProperties: 1, additionalProperties: { anyOf: [upstreamUrl, upstreamGroup] }, description: 'Claim value → URL or upstream group' },
            default: { anyOf: [upstreamUrl, upstreamGroup], description: 'When the claim matches no key of map' }
          }
        }
      ]
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      description: 'TLS toward the upstream servers (nginx proxy_ssl_*): PEM files relative to the config folder',
      properties: {
        ca: { type: 'string', minLength: 1, description: 'CA file the upstream certificates must chain to (proxy_ssl_trusted_certificate); default Node\'s roots' },
        cert: { type: 'string', minLength: 1, description: 'Client certificate for mutual TLS (proxy_ssl_certificate)' },
        key: { type: 'string', minLength: 1, description: 'Its private key (proxy_ssl_certificate_key)' },
        servername: { type: 'string', minLength: 1, description: 'Name verified and sent as SNI (proxy_ssl_name); default the URL\'s host' },
        rejectUnauthorized: { type: 'boolean', description: 'false turns certificate verification off (proxy_ssl_verify off); default true' }
      }
    },
    hideHeaders: {
      type: 'array',
      items: { type: 'string', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' },
      description: 'Upstream answer headers not passed to the client (nginx proxy_hide_header), e.g. ["x-powered-by"]'
    },
    preserveHost: { type: 'boolean', description: 'Send the client\'s Host to the upstream (nginx proxy_set_header Host $host); default false: the upstream\'s host' },
    rewritePrefix: {
      type: 'string',
      pattern: '^(/[^?#]*)?$',
      description: 'What replaces the prefix in the upstream path; default: the upstream URL\'s path ("/": the prefix is stripped)'
    },
    methods: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: DEFAULT_METHODS },
      description: 'Methods proxied (default all of DELETE GET HEAD PATCH POST PUT OPTIONS); other methods answer 405'
    },
    websocket: { type: 'boolean', description: 'Proxy WebSocket upgrades, checked by the same policy' },
    timeout: {
      type: 'number',
      exclusiveMinimum: 0,
      description: `Milliseconds the upstream may take to answer (headers, and between body chunks); default ${DEFAULT_UPSTREAM_TIMEOUT}`
    },
    jwt: { ...jwtOrFalse, description: 'Partial policy merged key by key over the top-level jwt, or false to switch it off' },
    rateLimit: rateLimitSchema,
    clientCert: {
      enum: ['required', 'optional'],
      description: 'With server.tls.clientAuth "optional": "required" answers 403 FJG_ERR_CLIENT_CERT_REQUIRED without a verified client certificate (ssl_verify_client on)'
    },
    clientCertHeaders: {
      type: 'object',
      description: 'Header name → field of the verified client certificate forwarded to the upstream: "subject" ($ssl_client_s_dn), "issuer" ($ssl_client_i_dn), "serial" ($ssl_client_serial), "x5t#S256" (SHA-256 thumbprint, base64url)',
      propertyNames: { pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' },
      additionalProperties: { enum: CLIENT_CERT_FIELDS }
    }
  }
} as const

const tlsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['cert', 'key'],
  description: 'HTTPS listener: PEM files relative to the config folder (ssl_certificate, ssl_certificate_key, ssl_client_certificate)',
  properties: {
    cert: { type: 'string', minLength: 1, description: 'PEM certificate (chain) file (ssl_certificate)' },
    key: { type: 'string', minLength: 1, description: 'PEM private key file (ssl_certificate_key)' },
    ca: { type: 'string', minLength: 1, description: 'PEM file of the CAs client certificates must chain to (ssl_client_certificate)' },
    minVersion: { enum: ['TLSv1.2', 'TLSv1.3'], description: 'Lowest TLS version accepted (ssl_protocols); default TLSv1.2' },
    clientAuth: {
      enum: ['optional', 'required'],
      description: 'Client certificates (ssl_verify_client): "required" fails the handshake without a valid one; "optional" asks, and routes decide (clientCert)'
    }
  }
} as const

export const gatewayConfigSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://fastify-jwt-gateway.dev/schemas/gateway.json',
  title: 'fastify-jwt-gateway config',
  type: 'object',
  additionalProperties: false,
  required: ['routes'],
  properties: {
    $schema: { type: 'string', description: 'Path or URL of this schema, for editors' },
    server: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1, description: 'Address to listen on (default 127.0.0.1)' },
        port: { type: 'integer', minimum: 0, maximum: 65535, description: 'Port to listen on' },
        logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], description: 'Log level (default info)' },
        healthPath: { type: 'string', pattern: '^/', description: `Health route, never behind a token (default ${DEFAULT_HEALTH_PATH})` },
        workers: {
          description: 'a number of worker processes (at least 1), or "auto" for one per CPU',
          anyOf: [{ type: 'integer', minimum: 1 }, { const: 'auto' }]
        },
        readyPath: { type: 'string', pattern: '^/', description: `Readiness route: 200 when every key source of every route is usable, 503 naming those that are not (default ${DEFAULT_READY_PATH})` },
        metricsPath: {
          description: `Prometheus metrics route (default ${DEFAULT_METRICS_PATH}), or false to turn metrics off`,
          anyOf: [{ type: 'string', pattern: '^/' }, { const: false }]
        },
        trustProxy: {
          description: 'Behind a load balancer (nginx set_real_ip_from / real_ip_header): true, the addresses or CIDRs of the proxies to trust ("10.0.0.0/8,127.0.0.1"), or the number of hops; request.ip, the scheme and the host then come from X-Forwarded-*',
          anyOf: [{ type: 'boolean' }, { type: 'string', minLength: 1 }, { type: 'integer', minimum: 1 }]
        },
        normalizePath: {
          type: 'boolean',
          description: 'Normalize non-canonical paths (dot segments, %2e, //, encoded unreserved characters) and route and forward the result (Envoy normalize_path + merge_slashes); default false: answer 400 FJG_ERR_PATH_NOT_CANONICAL'
        },
        caseSensitive: {
          type: 'boolean',
          description: 'Choose routes on the path as spelled (nginx prefix locations); default false: on the case-folded path, so /API/x gets the policy of /api'
        },
        underscoresInHeaders: {
          type: 'boolean',
          description: 'Pass incoming header names containing "_" (nginx underscores_in_headers on); default false: dropped. The underscore spellings of forwarded headers are dropped always'
        },
        bodyTimeout: {
          type: 'integer',
          minimum: 1,
          description: `Milliseconds a client may take before the first body byte and between two (nginx client_body_timeout); default ${DEFAULT_BODY_TIMEOUT}`
        },
        requestTimeout: {
          type: 'integer',
          minimum: 1,
          description: `Milliseconds a client may take to send its whole request (Node requestTimeout); default ${DEFAULT_REQUEST_TIMEOUT}`
        },
        tls: tlsSchema,
        http2: { type: 'boolean', description: 'HTTP/2 over TLS with HTTP/1.1 fallback by ALPN (listen ... ssl http2); needs tls' },
        redirectHttp: {
          type: 'object',
          additionalProperties: false,
          required: ['port'],
          description: 'A plain-HTTP listener answering 308 to https:// on the TLS port, same host and path (return 308 https://$host$request_uri)',
          properties: { port: { type: 'integer', minimum: 0, maximum: 65535, description: 'Port of the plain-HTTP listener' } }
        },
        authPath: {
          type: 'string',
          pattern: '^/[^*?#:]*$',
          description: 'Auth endpoint for proxies that stay (nginx auth_request, Traefik forwardAuth, Envoy ext_authz), e.g. "/__gateway/auth": judges the original request (X-Original-URI/-Method, X-Forwarded-Uri/-Method, or the path after it) by its route\'s policy and answers 200 with the claim headers, 401 or 403; off by default'
        },
        authTrustedProxies: {
          type: 'array',
          items: { type: 'string' },
          description: `Addresses and CIDRs that may call server.authPath (the socket's peer address); default ${DEFAULT_AUTH_TRUSTED_PROXIES.join(', ')}`
        }
      }
    },
    jwt: { ...jwtOrFalse, description: 'The policy every route inherits, or false' },
    routes: { type: 'array', minItems: 1, items: { $ref: '#/$defs/route' }, description: 'Routes to upstreams' }
  },
  $defs: {
    route: routeSchema,
    policy: policyDef
  }
} as const

// The gateway part, checked with ajv (the library jwt-auth uses for the policy):
// the published schema with anything accepted where a policy goes. Policies are
// checked after, by jwt-auth's policyProblems(), with its messages and secret
// masking. Compiled once.
const gatewayPartSchema = {
  ...gatewayConfigSchema,
  properties: { ...gatewayConfigSchema.properties, jwt: {} },
  $defs: { route: { ...routeSchema, properties: { ...routeSchema.properties, jwt: {} } } }
}
// strictNumbers: NaN and Infinity are not numbers (a programmatic `workers: Infinity` is not "at least 1").
const validateGatewayPart = new Ajv({ allErrors: true, strict: false, strictNumbers: true, verbose: true }).compile(gatewayPartSchema)

// What a failed `pattern` or `anyOf` means, in words, by the schema path of the
// property: kept beside the schema (not in it) so the published schema stays
// plain JSON Schema.
const PHRASES: Record<string, string> = {
  '#/$defs/route/properties/prefix': 'a path starting with "/", without "*", ":", "?" or "#"',
  '#/$defs/route/properties/upstream': 'an http(s) URL ("http://host:port" with an optional base path), or a list of URLs or { "url": ... } servers',
  '#/$defs/route/properties/upstream/anyOf/0': 'an http(s) URL, "http://host:port" with an optional base path',
  '#/$defs/route/properties/upstream/anyOf/1/items/anyOf/0': 'an http(s) URL, "http://host:port" with an optional base path',
  '#/$defs/route/properties/upstream/anyOf/1/items/anyOf/1/properties/url': 'an http(s) URL, "http://host:port" with an optional base path',
  '#/$defs/route/properties/rewritePrefix': 'empty or a path starting with "/"',
  '#/properties/server/properties/healthPath': 'a path starting with "/"',
  '#/properties/server/properties/authPath': 'a path starting with "/", without "*", ":", "?" or "#"',
  '#/properties/server/properties/workers': 'a number of workers (at least 1) or "auto"',
  '#/properties/server/properties/trustProxy': 'true, a list of proxy addresses or CIDRs, or a number of hops',
  '#/properties/server/properties/readyPath': 'a path starting with "/"',
  '#/properties/server/properties/metricsPath': 'a path starting with "/", or false'
}

function got (value: unknown): string {
  const json = JSON.stringify(value)
  if (json === undefined) return ''
  return `, got ${json.length > 60 ? json.slice(0, 57) + '...' : json}`
}

function isObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** JSON pointer segment. */
function segment (key: string | number): string {
  return '/' + String(key).replace(/~/g, '~0').replace(/\//g, '~1')
}

/** Where an error is: an unknown key where the key is written, anything else at its value. */
function placeOf (e: ErrorObject): string {
  return e.keyword === 'additionalProperties' ? e.instancePath + segment((e.params as { additionalProperty: string }).additionalProperty) : e.instancePath
}

/** `path: message` lines of one ajv error, in the gateway's words where they differ from jwt-auth's. */
function describeError (e: ErrorObject, config: unknown): string[] {
  const label = e.instancePath === '' ? '(config)' : jsonPath('', e.instancePath)
  const phrase = PHRASES[e.schemaPath.slice(0, e.schemaPath.lastIndexOf('/'))]
  switch (e.keyword) {
    case 'type': {
      const type = (e.params as { type: string }).type
      return [`${label}: must be ${type === 'integer' || type === 'object' || type === 'array' ? 'an' : 'a'} ${type}${got(e.data)}`]
    }
    case 'additionalProperties':
      return [`${jsonPath('', placeOf(e))}: unknown key`]
    case 'required':
      return [`${jsonPath('', e.instancePath + segment((e.params as { missingProperty: string }).missingProperty))}: is required`]
    case 'pattern':
      return [`${label}: must be ${phrase ?? `a string matching ${e.schema as string}`}${got(e.data)}`]
    case 'anyOf':
      return [`${label}: must be ${phrase ?? 'one of the allowed forms'}${got(e.data)}`]
    case 'minLength':
      return [`${label}: must not be empty`]
    case 'minItems':
      return [`${label}: must have at least ${e.schema as number} item${e.schema === 1 ? '' : 's'}`]
    case 'uniqueItems': {
      const seen = new Set<string>()
      const out: string[] = []
      for (const v of e.data as unknown[]) {
        const k = JSON.stringify(v)
        if (seen.has(k)) out.push(`${label}: must not repeat ${k}`)
        seen.add(k)
      }
      return out
    }
    default: // enum, minimum, maximum, exclusiveMinimum: worded as for the policy
      return formatSchemaErrors([e], '', config)
  }
}

/**
 * What to report for one error. A value of one `anyOf` branch's type
 * (`workers: 0`, an upstream server object) is meant as that branch: say what
 * is wrong in it, and so on down nested `anyOf`s (an upstream group's entries).
 */
function branchErrors (errors: ErrorObject[], e: ErrorObject): ErrorObject[] {
  if (e.keyword !== 'anyOf') return [e]
  const byType = (e.schema as Array<{ type?: string }>).findIndex((b, i) => b.type !== undefined && !errors.some((x) => x.schemaPath === `${e.schemaPath}/${i}/type`))
  if (byType === -1) return [e]
  const inner = errors.filter((x) => x.schemaPath.startsWith(`${e.schemaPath}/${byType}/`))
  const innerAnyOfs = inner.filter((x) => x.keyword === 'anyOf')
  return inner
    .filter((x) => !innerAnyOfs.some((a) => x !== a && x.schemaPath.startsWith(a.schemaPath + '/')))
    .flatMap((x) => branchErrors(errors, x))
}

/**
 * The schema's problems, in the order of the config's text: ajv reports by
 * schema, the config is read top to bottom.
 */
function schemaProblems (config: unknown): string[] {
  const found: Array<{ at: string, lines: string[] }> = []
  if (!validateGatewayPart(config)) {
    const errors = validateGatewayPart.errors ?? []
    const anyOfs = errors.filter((e) => e.keyword === 'anyOf')
    for (const e of errors) {
      if (anyOfs.some((a) => e !== a && e.schemaPath.startsWith(a.schemaPath + '/'))) continue
      for (const r of branchErrors(errors, e)) found.push({ at: placeOf(r), lines: describeError(r, config) })
    }
  }
  // The policies: an object is meant as a policy, and checked by jwt-auth.
  const policy = (value: unknown, at: string): void => {
    if (value === undefined || value === false) return
    const path = jsonPath('', at)
    found.push({ at, lines: isObject(value) ? policyProblems(value, path) : [`${path}: must be a policy object or false${got(value)}`] })
  }
  if (isObject(config)) {
    policy(config.jwt, '/jwt')
    if (Array.isArray(config.routes)) config.routes.forEach((r: unknown, i) => { if (isObject(r)) policy(r.jwt, `/routes/${i}/jwt`) })
  }
  if (found.length === 0) return []
  const order = new Map<string, number>()
  const visit = (value: unknown, at: string): void => {
    order.set(at, order.size)
    if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) visit(v, at + segment(k))
  }
  visit(config, '')
  // Stable: the problems of one place keep ajv's order (required keys in the schema's order).
  return found.sort((a, b) => (order.get(a.at) ?? order.size) - (order.get(b.at) ?? order.size)).flatMap((f) => f.lines)
}

/**
 * What needs a TLS listener, or client certificates, without one: each would
 * refuse every request (or serve plain HTTP where HTTPS was meant). Fail closed, at start.
 */
function tlsProblems (config: unknown): string[] {
  if (!isObject(config)) return []
  const server = isObject(config.server) ? config.server : {}
  const tls = isObject(server.tls) ? server.tls : null
  const out: string[] = []
  if (server.http2 === true && tls === null) out.push('server.http2: needs server.tls (HTTP/2 is served over TLS)')
  if (server.redirectHttp !== undefined && tls === null) out.push('server.redirectHttp: needs server.tls (it redirects to the HTTPS listener)')
  if (tls !== null && tls.clientAuth !== undefined && tls.ca === undefined) out.push('server.tls.clientAuth: needs server.tls.ca (the CA client certificates are checked against)')
  if (isObject(server.redirectHttp) && server.redirectHttp.port !== 0 && server.redirectHttp.port === server.port) {
    out.push(`server.redirectHttp.port: must differ from server.port, got ${String(server.port)}`)
  }
  const clientAuth = tls?.clientAuth !== undefined
  const needsCert = (at: string): void => { out.push(`${at}: needs server.tls.clientAuth (no client certificate is ever asked for)`) }
  // A provider's certificateBound binds the tokens of its issuer: the same need.
  const policyNeedsCert = (policy: unknown, at: string): void => {
    if (!isObject(policy)) return
    if (policy.certificateBound === true) needsCert(`${at}.certificateBound`)
    if (Array.isArray(policy.providers)) {
      policy.providers.forEach((p: unknown, j) => {
        if (isObject(p) && p.certificateBound === true) needsCert(`${at}.providers[${j}].certificateBound`)
      })
    }
  }
  if (!clientAuth) {
    policyNeedsCert(config.jwt, 'jwt')
    if (Array.isArray(config.routes)) {
      config.routes.forEach((r: unknown, i) => {
        if (!isObject(r)) return
        if (r.clientCert === 'required') needsCert(`routes[${i}].clientCert`)
        if (isObject(r.clientCertHeaders) && Object.keys(r.clientCertHeaders).length > 0) needsCert(`routes[${i}].clientCertHeaders`)
        policyNeedsCert(r.jwt, `routes[${i}].jwt`)
      })
    }
  }
  return out
}

/** The methods a route takes; GET brings HEAD (Fastify routes HEAD to GET routes). */
export function methodsOf (route: { methods?: unknown }): Set<string> {
  const set = new Set<string>(Array.isArray(route.methods) ? route.methods as string[] : DEFAULT_METHODS)
  if (set.has('GET')) set.add('HEAD')
  return set
}

function implicitHead (route: Record<string, unknown> | undefined): boolean {
  return Array.isArray(route?.methods) && !(route.methods as unknown[]).includes('HEAD')
}

/** `/api/` and `/api` are one prefix. */
export function normalizePrefix (prefix: string): string {
  return prefix.length > 1 && prefix.endsWith('/') ? prefix.replace(/\/+$/, '') || '/' : prefix
}

/**
 * Every problem of a gateway config, one `path: message` line each; empty when
 * valid. Checks the schema, the policies' schema, and what the schema cannot
 * say (two routes on one prefix and method, a WebSocket route without GET).
 * Keys and files are checked when the gateway is built.
 */
export function gatewayConfigProblems (config: unknown): string[] {
  const out = schemaProblems(config)
  out.push(...tlsProblems(config))
  const server = isObject(config) && isObject(config.server) ? config.server : undefined
  if (server !== undefined && Array.isArray(server.authTrustedProxies)) {
    out.push(...trustedProxyProblems(server.authTrustedProxies))
  }
  const routes = isObject(config) ? config.routes : undefined
  if (!Array.isArray(routes)) return out
  // What the schema cannot say, on the routes whose fields have the right types.
  const owners = new Map<string, number>()
  const caseSensitive = server?.caseSensitive === true
  const spellings = new Map<string, string>()
  routes.forEach((route: Record<string, unknown>, i) => {
    if (!isObject(route)) return
    if (typeof route.prefix === 'string' && route.prefix.startsWith('/')) {
      const prefix = normalizePrefix(route.prefix)
      // A prefix is matched against canonical paths only: it must be one itself.
      const problem = targetProblem(prefix)
      if (problem !== null) {
        out.push(`routes[${i}].prefix: must be a canonical path, found ${problem}${got(route.prefix)}`)
        return
      }
      // Routes are chosen case-folded: two spellings of one prefix would be one route with two policies.
      const folded = selectionPath(prefix, caseSensitive)
      const other = spellings.get(folded)
      if (other !== undefined && other !== prefix) out.push(`routes[${i}].prefix: ${JSON.stringify(prefix)} and ${JSON.stringify(other)} are one prefix when routes are chosen case-insensitively (server.caseSensitive is false)`)
      spellings.set(folded, prefix)
      for (const method of methodsOf(route)) {
        const key = `${method} ${prefix}`
        const first = owners.get(key)
        if (first !== undefined) {
          out.push(`routes[${i}].prefix: ${JSON.stringify(prefix)} is already routed for ${method} by routes[${first}]${method === 'HEAD' && implicitHead(routes[first]) ? ' (HEAD follows GET)' : ''}`)
          break
        }
        owners.set(key, i)
      }
    }
    if (route.websocket === true && !methodsOf(route).has('GET')) {
      out.push(`routes[${i}].methods: a WebSocket route needs GET (the upgrade is a GET request)`)
    }
    // Every URL the route names, with where it is written: one, a group, or byClaim's targets.
    const urlsOf = (target: unknown, at: string): Array<{ at: string, url: unknown }> => typeof target === 'string'
      ? [{ at, url: target }]
      : Array.isArray(target)
        ? target.map((u: unknown, j) => ({ at: `${at}[${j}]${typeof u === 'string' ? '' : '.url'}`, url: typeof u === 'string' ? u : isObject(u) ? u.url : undefined }))
        : []
    const up = route.upstream
    const entries = isObject(up)
      ? [
          ...(isObject(up.map) ? Object.entries(up.map).flatMap(([k, v]) => urlsOf(v, jsonPath(`routes[${i}].upstream.map`, segment(k)))) : []),
          ...urlsOf(up.default, `routes[${i}].upstream.default`)
        ]
      : urlsOf(up, `routes[${i}].upstream`)
    // The claim is read from the verified token only: a route without a policy has none.
    if (isObject(up) && typeof up.byClaim === 'string' && route.jwt === false) out.push(`routes[${i}].upstream.byClaim: needs the route's jwt policy (the claim is read from the verified token), but jwt is false`)
    let basePath: string | null = null
    for (const { at, url: text } of entries) {
      if (typeof text !== 'string' || !/^https?:\/\//.test(text)) continue
      try {
        // The pattern admits what URL parsing may still refuse (a bad port, a bad host).
        const url = new URL(text)
        if (url.username !== '' || url.password !== '') out.push(`${at}: must not contain credentials`)
        // One path for the whole group: the route's path rule is the same whichever server answers.
        if (basePath === null) basePath = url.pathname
        else if (url.pathname !== basePath) out.push(`${at}: the servers of one upstream group must share the base path (${JSON.stringify(basePath)}), got ${JSON.stringify(url.pathname)}`)
      } catch {
        out.push(`${at}: is not a valid URL${got(text)}`)
      }
    }
  })
  return out
}
