import { jsonPath, policyProblems, policySchema } from '@fastify-jwt-gateway/jwt-auth'

// The JSON Schema of the whole gateway config: the one description the preset
// publishes (schema.json) and that gatewayConfigProblems() checks against.
// The policy part is jwt-auth's policySchema, kept once under $defs (its $id
// dropped: two copies of one $id make a schema invalid) and checked by
// jwt-auth's own compiled validator, so policy messages read the same
// everywhere. The gateway part is small and is walked here by a minimal
// interpreter of the keywords it uses (SUPPORTED_KEYWORDS), because the gateway
// does not depend on a JSON Schema library.

export const DEFAULT_HEALTH_PATH = '/__gateway/health'
/** Milliseconds an upstream may take for its headers, and between body chunks (nginx proxy_read_timeout). */
export const DEFAULT_UPSTREAM_TIMEOUT = 60_000
/** @fastify/http-proxy's default set. */
export const DEFAULT_METHODS = Object.freeze(['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'] as const)

const policyDef = Object.fromEntries(Object.entries(policySchema).filter(([k]) => k !== '$id'))

const jwtOrFalse = {
  description: 'a jwt policy object, or false to switch authentication off',
  anyOf: [{ const: false }, { $ref: '#/$defs/policy' }]
}

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
      type: 'string',
      pattern: '^https?://[^/?#]+(/[^?#]*)?$',
      description: 'http(s) origin, optionally with a base path: "http://127.0.0.1:9000"'
    },
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
    jwt: { ...jwtOrFalse, description: 'Partial policy merged key by key over the top-level jwt, or false to switch it off' }
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

/** Every keyword the interpreter below understands; a test walks the schema against this list. */
export const SUPPORTED_KEYWORDS = new Set([
  '$schema', '$id', '$ref', '$defs', 'title', 'description', 'type', 'properties', 'additionalProperties',
  'required', 'items', 'enum', 'const', 'pattern', 'minLength', 'minimum', 'maximum', 'exclusiveMinimum',
  'minItems', 'uniqueItems', 'anyOf'
])

type Schema = Record<string, any>

// What a failed `pattern` or `anyOf` means, in words: kept beside the schema
// (not in it) so the published schema stays plain JSON Schema.
const PHRASES = new WeakMap<object, string>([
  [routeSchema.properties.prefix, 'a path starting with "/", without "*", ":", "?" or "#"'],
  [routeSchema.properties.upstream, 'an http(s) URL, "http://host:port" with an optional base path'],
  [routeSchema.properties.rewritePrefix, 'empty or a path starting with "/"'],
  [routeSchema.properties.jwt, 'a policy object or false'],
  [gatewayConfigSchema.properties.jwt, 'a policy object or false'],
  [gatewayConfigSchema.properties.server.properties.healthPath, 'a path starting with "/"'],
  [gatewayConfigSchema.properties.server.properties.workers, 'a number of workers (at least 1) or "auto"']
])

function child (path: string, key: string | number): string {
  return jsonPath(path, '/' + String(key).replace(/~/g, '~0').replace(/\//g, '~1'))
}

function got (value: unknown): string {
  const json = JSON.stringify(value)
  if (json === undefined) return ''
  return `, got ${json.length > 60 ? json.slice(0, 57) + '...' : json}`
}

function typeOf (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function typeMatches (want: string, v: unknown): boolean {
  const t = typeOf(v)
  return want === t || (want === 'number' && t === 'integer')
}

function resolveRef (ref: string): Schema {
  const name = ref.slice('#/$defs/'.length)
  return (gatewayConfigSchema.$defs as Record<string, Schema>)[name] as Schema
}

function walk (value: unknown, schema: Schema, path: string, out: string[]): void {
  const label = path === '' ? '(config)' : path
  if (schema.$ref !== undefined) {
    // The policy is checked by jwt-auth, with its own messages and secret masking.
    if (schema.$ref === '#/$defs/policy') out.push(...policyProblems(value, path))
    else walk(value, resolveRef(schema.$ref), path, out)
    return
  }
  if (schema.anyOf !== undefined) {
    const branches = schema.anyOf as Schema[]
    const results = branches.map((b) => { const o: string[] = []; walk(value, b, path, o); return o })
    if (results.some((r) => r.length === 0)) return
    // An object under "policy or false" is meant as a policy: say what is wrong inside it.
    const byType = branches.findIndex((b) => (b.$ref === '#/$defs/policy' && typeOf(value) === 'object') ||
      (b.type !== undefined && typeMatches(b.type, value)))
    if (byType !== -1) out.push(...(results[byType] as string[]))
    else out.push(`${label}: must be ${PHRASES.get(schema) ?? 'one of the allowed forms'}${got(value)}`)
    return
  }
  if (schema.const !== undefined && value !== schema.const) {
    out.push(`${label}: must be ${JSON.stringify(schema.const)}${got(value)}`)
    return
  }
  if (schema.enum !== undefined && !(schema.enum as unknown[]).includes(value)) {
    out.push(`${label}: must be one of ${(schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got(value)}`)
    return
  }
  if (schema.type !== undefined && !typeMatches(schema.type, value)) {
    out.push(`${label}: must be ${schema.type === 'integer' ? 'an integer' : schema.type === 'object' ? 'an object' : schema.type === 'array' ? 'an array' : `a ${schema.type}`}${got(value)}`)
    return
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) out.push(`${label}: must not be empty`)
    else if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      out.push(`${label}: must be ${PHRASES.get(schema) ?? `a string matching ${schema.pattern}`}${got(value)}`)
    }
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${label}: must be >= ${schema.minimum}${got(value)}`)
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${label}: must be <= ${schema.maximum}${got(value)}`)
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) out.push(`${label}: must be > ${schema.exclusiveMinimum}${got(value)}`)
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${label}: must have at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`)
    if (schema.uniqueItems === true) {
      const seen = new Set<string>()
      for (const v of value) {
        const k = JSON.stringify(v)
        if (seen.has(k)) out.push(`${label}: must not repeat ${k}`)
        seen.add(k)
      }
    }
    if (schema.items !== undefined) value.forEach((v, i) => walk(v, schema.items, child(path, i), out))
  }
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>
    const props = (schema.properties ?? {}) as Record<string, Schema>
    for (const key of (schema.required ?? []) as string[]) {
      if (obj[key] === undefined) out.push(`${child(path, key)}: is required`)
    }
    for (const [key, v] of Object.entries(obj)) {
      const sub = props[key]
      if (sub !== undefined) walk(v, sub, child(path, key), out)
      else if (schema.additionalProperties === false) out.push(`${child(path, key)}: unknown key`)
    }
  }
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
  const out: string[] = []
  walk(config, gatewayConfigSchema, '', out)
  const routes = typeOf(config) === 'object' ? (config as { routes?: unknown }).routes : undefined
  if (!Array.isArray(routes)) return out
  // What the schema cannot say, on the routes whose fields have the right types.
  const owners = new Map<string, number>()
  routes.forEach((route: Record<string, unknown>, i) => {
    if (typeOf(route) !== 'object') return
    if (typeof route.prefix === 'string') {
      const prefix = normalizePrefix(route.prefix)
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
    if (typeof route.upstream === 'string' && /^https?:\/\//.test(route.upstream)) {
      try {
        // The pattern admits what URL parsing may still refuse (a bad port, a bad host).
        const url = new URL(route.upstream)
        if (url.username !== '' || url.password !== '') out.push(`routes[${i}].upstream: must not contain credentials`)
      } catch {
        out.push(`routes[${i}].upstream: is not a valid URL${got(route.upstream)}`)
      }
    }
  })
  return out
}
