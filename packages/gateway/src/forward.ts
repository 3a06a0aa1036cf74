import type { FastifyRequest } from 'fastify'
import { compileHeaderWriter, wireValue, type CompiledPolicy } from '@fastify-jwt-gateway/jwt-auth/internal'

// What the upstream receives, decided where the proxy builds its request
// (reply-from's rewriteRequestHeaders, http-proxy's wsClientOptions): after
// the Connection header and the names it lists were dropped, so a client's
// `Connection: x-user-id` can remove nothing we write. Built once per route.

type OutgoingHeaders = Record<string, string | string[] | number | undefined>

/** reply-from: `rewriteRequestHeaders(request, headers)`. */
export type HttpRewrite = (request: FastifyRequest, headers: OutgoingHeaders) => OutgoingHeaders
/** @fastify/http-proxy: `wsClientOptions.rewriteRequestHeaders(headers, request)`. */
export type WsRewrite = (headers: OutgoingHeaders, request: FastifyRequest) => OutgoingHeaders
/** reply-from and http-proxy: `queryString(search, reqUrl, request)` → the query without `?`. */
export type QueryRewrite = (search: string | undefined, reqUrl: string, request: FastifyRequest) => string

export interface Forwarder {
  http: HttpRewrite
  ws: WsRewrite
  /** Writes the route's forwarded headers (claims, JOSE header members, payload) into `out`; the auth endpoint answers with them. */
  claims: (request: FastifyRequest, out: OutgoingHeaders) => void
  /** Null when the query goes through untouched. */
  query: QueryRewrite | null
}

// wireValue (UTF-8 claims sent as their bytes) lives with the one claims →
// headers writer in jwt-auth (claims.ts); re-exported by the gateway as before.
export { wireValue }

// Hop-by-hop headers (RFC 9110 §7.6.1) reply-from passes on unless they are
// listed in Connection: undici refuses to send `keep-alive`, `upgrade` and
// `expect` (a client's `Keep-Alive` or curl's `Expect: 100-continue` on a large
// POST would be a 502), and none of them is meant for the next hop. Node has
// already answered `100 Continue` to the client.
const HOP_BY_HOP = ['keep-alive', 'proxy-connection', 'te', 'upgrade', 'expect'] as const

// The WebSocket client (ws) sends its own handshake headers; of the client's
// headers these are passed on, besides the cookie, the token and the claims.
const WS_PASSED = ['origin', 'user-agent', 'accept-language'] as const

/**
 * What nginx configs set by hand (`proxy_set_header X-Forwarded-For
 * $proxy_add_x_forwarded_for; X-Forwarded-Proto $scheme; X-Forwarded-Host $host`):
 * the client's address appended to any X-Forwarded-For it sent (only the last
 * entry is ours to vouch for), and the scheme and host it asked for, replaced.
 * With `server.trustProxy`, scheme and host are the ones the trusted proxy saw.
 */
export function forwardedFor (request: FastifyRequest, out: OutgoingHeaders): void {
  const prior = out['x-forwarded-for']
  // Each hop appends the address it got the connection from: the socket's
  // peer, not request.ip (which, with trustProxy, is the client already listed).
  const ip = request.raw.socket?.remoteAddress ?? request.ip
  out['x-forwarded-for'] = typeof prior === 'string' && prior.length > 0 ? `${prior}, ${ip}` : ip
  // With trustProxy these are what the client asked the first proxy for.
  out['x-forwarded-proto'] = request.protocol
  const host = request.host
  if (typeof host === 'string' && host.length > 0) out['x-forwarded-host'] = host
  else delete out['x-forwarded-host']
}

/** `a=1&access_token=x&b=2` without `access_token`, other parameters byte for byte. */
export function dropQueryParam (query: string, name: string): string {
  if (query.length === 0) return query
  const kept: string[] = []
  for (const part of query.split('&')) {
    if (part.length === 0) continue
    const eq = part.indexOf('=')
    const raw = eq === -1 ? part : part.slice(0, eq)
    let key = raw
    try {
      key = decodeURIComponent(raw.replace(/\+/g, ' '))
    } catch {}
    if (key !== name) kept.push(part)
  }
  return kept.join('&')
}

/** CR/LF would split the request (CWE-113): the header is left out. Never log the value. */
function unsafeHeader (request: unknown, name: string, claim: string): void {
  (request as FastifyRequest).log.warn({ jwt: { header: name, claim } }, 'jwt: claim not forwarded: its value has control characters or cannot be serialized')
}

/**
 * The header and query rewriters of one route. `policy` is the route's
 * compiled policy (null on an open route); `strip` is every header any policy
 * of the gateway forwards: inbound copies are removed on every route.
 */
export function compileForwarder (policy: CompiledPolicy | null, forwarded: readonly string[], opts: { underscoresInHeaders?: boolean } = {}): Forwarder {
  // CGI/WSGI upstreams read `x_user_id` and `x-user-id` as one HTTP_X_USER_ID
  // (issue 10.3): the underscore spellings of what we forward are removed
  // always, every name with `_` unless underscoresInHeaders (nginx drops them
  // by default: underscores_in_headers off).
  const keepUnderscores = opts.underscoresInHeaders === true
  const strip = keepUnderscores
    ? [...new Set([...forwarded, ...forwarded.map((h) => h.replace(/-/g, '_'))])]
    : forwarded
  // The writer jwt-auth's hook uses too, here with the bytes a header carries (wireValue).
  const writeClaims = policy === null ? null : compileHeaderWriter(policy, { wire: true, unsafe: unsafeHeader })

  function write (request: FastifyRequest, out: OutgoingHeaders): void {
    if (!keepUnderscores) {
      for (const name in out) if (name.indexOf('_') !== -1) delete out[name]
    }
    for (let i = 0; i < strip.length; i++) {
      const name = strip[i] as string
      if (out[name] !== undefined) delete out[name]
    }
    const jwt = request.jwt
    if (writeClaims === null || jwt === null || jwt === undefined) return
    writeClaims(request, jwt, out)
  }

  // With forwardToken: false, jwt-auth's hook has already removed the token's
  // header and cookie from the request; the query parameter lives in the URL
  // the proxy builds, so it is dropped here.
  const queryNames = policy !== null && !policy.forwardToken
    ? policy.tokenSources.filter((s) => s.kind === 'query').map((s) => s.name)
    : []
  const query: QueryRewrite | null = queryNames.length === 0
    ? null
    : (_search, reqUrl) => {
        const q = reqUrl.indexOf('?')
        if (q === -1) return ''
        let rest = reqUrl.slice(q + 1)
        for (const name of queryNames) rest = dropQueryParam(rest, name)
        return rest
      }

  // The handshake to the upstream starts from nothing (ws builds it): pass what
  // an HTTP request would carry that matters to a WebSocket server.
  const tokenHeaders = [...new Set(['authorization', ...(policy?.tokenSources ?? [])
    .filter((s) => s.kind === 'bearer' || s.kind === 'header').map((s) => s.name)])]
  const wsPassed = [...WS_PASSED, 'cookie', ...tokenHeaders]

  return {
    http (request, headers) {
      for (let i = 0; i < HOP_BY_HOP.length; i++) {
        const name = HOP_BY_HOP[i] as string
        if (headers[name] !== undefined) delete headers[name]
      }
      forwardedFor(request, headers)
      write(request, headers)
      return headers
    },
    ws (headers, request) {
      const out: OutgoingHeaders = { ...headers }
      const inbound = request.headers
      for (const name of wsPassed) {
        const v = inbound[name]
        if (typeof v === 'string') out[name] = v
      }
      forwardedFor(request, out)
      write(request, out)
      return out
    },
    claims: write,
    query
  }
}
