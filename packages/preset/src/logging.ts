import type { GatewayConfig } from './gateway.js'

// The access log never carries a token. Fastify's default `req` serializer logs
// `req.url` whole, and a policy may read the token from the query string
// (`"token": "query:access_token"`); this serializer masks those parameters, the
// usual token parameter names, and any value shaped like a compact JWS.

export const DEFAULT_LOG_LEVEL = 'info'
export const REDACTED = '[redacted]'
/** Query parameters masked even when no policy names them. */
export const TOKEN_QUERY_NAMES: readonly string[] = ['access_token', 'id_token', 'token', 'jwt']

// Three base64url segments, the first starting like `{"` encoded: a JWT.
const JWS_LIKE = /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/

/** Every `query:<name>` token source named anywhere in the config. */
export function queryTokenNames (config: GatewayConfig): Set<string> {
  const names = new Set(TOKEN_QUERY_NAMES)
  const collect = (policy: unknown): void => {
    if (policy === null || typeof policy !== 'object') return
    const token = (policy as { token?: unknown }).token
    for (const t of ([] as unknown[]).concat(token ?? [])) {
      if (typeof t === 'string' && t.startsWith('query:')) names.add(t.slice(6))
    }
  }
  collect(config.jwt)
  for (const r of config.routes) collect(r.jwt)
  return names
}

function decode (s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

function redactPair (pair: string, names: ReadonlySet<string>): string | null {
  const eq = pair.indexOf('=')
  if (eq === -1) return JWS_LIKE.test(decode(pair).replace(/^bearer\s+/i, '')) ? REDACTED : null
  const name = decode(pair.slice(0, eq))
  const value = decode(pair.slice(eq + 1))
  if (!names.has(name) && !JWS_LIKE.test(value.replace(/^bearer\s+/i, ''))) return null
  return `${pair.slice(0, eq)}=${REDACTED}`
}

/**
 * `url` with token-bearing values replaced by `[redacted]`, from the first `?`
 * or `#` on (issue 10.8): `GET /q#access_token=<jwt>` is refused by the
 * gateway, but Fastify logs the target before any hook runs, and a fragment
 * is parameters to whoever wrote it.
 */
export function redactUrl (url: string, names: ReadonlySet<string>): string {
  const q = url.indexOf('?')
  const h = url.indexOf('#')
  const start = q === -1 ? h : h === -1 ? q : Math.min(q, h)
  if (start === -1) return url
  let changed = false
  // Delimiters kept: `&`, and a later `?` or `#` (a fragment after the query, a `?` in a fragment).
  const parts = url.slice(start + 1).split(/([&?#])/).map((piece, i) => {
    if (i % 2 === 1 || piece.length === 0) return piece
    const r = redactPair(piece, names)
    if (r === null) return piece
    changed = true
    return r
  })
  return changed ? `${url.slice(0, start + 1)}${parts.join('')}` : url
}

interface RawRequestLike {
  method?: string
  url?: string
  headers?: Record<string, unknown>
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

/** Fastify's `req` serializer, with the URL redacted. */
export function requestSerializer (names: ReadonlySet<string>): (req: RawRequestLike) => Record<string, unknown> {
  return function serializeRequest (req) {
    return {
      method: req.method,
      url: typeof req.url === 'string' ? redactUrl(req.url, names) : req.url,
      host: req.host,
      remoteAddress: req.ip,
      remotePort: req.socket?.remotePort
    }
  }
}

/** Pino options for the gateway: level from the config, the redacting serializer. */
export function loggerOptions (config: GatewayConfig, level?: string): Record<string, unknown> {
  return {
    level: level ?? config.server?.logLevel ?? DEFAULT_LOG_LEVEL,
    serializers: { req: requestSerializer(queryTokenNames(config)) }
  }
}
