import { BlockList, isIP } from 'node:net'
import { parse as parseQuery } from 'node:querystring'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import {
  FJG_ERR_AUTH_NO_ROUTE, FJG_ERR_AUTH_UNTRUSTED, FJG_ERR_METHOD_NOT_ALLOWED, FJG_ERR_PATH_NOT_CANONICAL, sendAnswer as send
} from './errors.js'

// Verification as a service (issue 17): nginx `auth_request`, Traefik
// `forwardAuth` and Envoy `ext_authz` ask another server whether a request may
// pass, and copy headers from its answer. The gateway answers as it would
// answer the original request — same canonical-path rule, same route choice,
// same policy — and forwards nothing anywhere.
//
// The original request comes, in this order, from:
//   X-Original-URI + X-Original-Method   nginx auth_request (proxy_set_header)
//   X-Forwarded-Uri + X-Forwarded-Method Traefik forwardAuth
//   the path after authPath              Envoy ext_authz (path_prefix)
// Those headers choose the policy, so only trusted callers may send them: the
// socket's peer address (never X-Forwarded-For) must be in authTrustedProxies.

/** Loopback only: a proxy on the same host, the usual sidecar or `auth_request` set-up. */
export const DEFAULT_AUTH_TRUSTED_PROXIES = Object.freeze(['127.0.0.0/8', '::1/128'])

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/** What the endpoint needs of one gateway route. */
export interface AuthRoute {
  /** The configured prefix, for the log line. */
  readonly prefix: string
  /** Methods the route proxies (GET brings HEAD). */
  readonly methods: ReadonlySet<string>
  /** The route's policy hook (writing no request headers); null: `jwt: false`. */
  readonly hook: Hook | null
  /** Writes the headers the route forwards (claimsToHeaders, joseHeadersToHeaders, payloadHeader) into `out`. */
  readonly writeHeaders: (request: FastifyRequest, out: Record<string, string | string[] | number | undefined>) => void
}

export interface AuthEndpointOptions {
  /** `server.authPath`, e.g. `/__gateway/auth`. */
  path: string
  /** `server.authTrustedProxies`, addresses and CIDRs (validated by `trustedProxyProblems`). */
  trustedProxies: readonly string[]
  /** The canonical form of a target (as the gateway routes it), or why there is none. */
  canonical: (target: string) => { target: string } | { problem: string }
  /** The routes of the prefix that owns a canonical target (one per method set), or null. */
  routes: (target: string) => readonly AuthRoute[] | null
}

const AUTH_METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS']

/** `10.0.0.0/8`, `127.0.0.1`, `::1`, `fd00::/8` → [address, prefix length, family]; null when malformed. */
function parseCidr (entry: string): [string, number, 'ipv4' | 'ipv6'] | null {
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const v = isIP(address)
  if (v === 0) return null
  const max = v === 4 ? 32 : 128
  let bits = max
  if (slash !== -1) {
    const text = entry.slice(slash + 1)
    if (!/^\d{1,3}$/.test(text)) return null
    bits = Number(text)
    if (bits > max) return null
  }
  return [address, bits, v === 4 ? 'ipv4' : 'ipv6']
}

/** `server.authTrustedProxies` problems, one `path: message` each. */
export function trustedProxyProblems (list: readonly unknown[], where = 'server.authTrustedProxies'): string[] {
  const out: string[] = []
  if (list.length === 0) out.push(`${where}: must list at least one address or CIDR (no caller could use server.authPath)`)
  list.forEach((entry, i) => {
    if (typeof entry !== 'string' || parseCidr(entry) === null) {
      out.push(`${where}[${i}]: must be an IP address or CIDR such as "10.0.0.0/8" or "::1", got ${JSON.stringify(entry)}`)
    }
  })
  return out
}

function blockListOf (list: readonly string[]): BlockList {
  const block = new BlockList()
  for (const entry of list) {
    const [address, bits, family] = parseCidr(entry) as [string, number, 'ipv4' | 'ipv6']
    block.addSubnet(address, bits, family)
  }
  return block
}

/** Whether the socket peer is in the list; `::ffff:10.1.2.3` is checked as the IPv4 address it is. */
function trusted (block: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return block.check(address.slice(7), 'ipv4')
  const v = isIP(address)
  return v !== 0 && block.check(address, v === 4 ? 'ipv4' : 'ipv6')
}

function firstHeader (request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name]
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

/** The original method and target, from the headers or the path after authPath. */
function originalRequest (request: FastifyRequest, path: string): { method: string, target: string, from: string } {
  const nginx = firstHeader(request, 'x-original-uri')
  if (nginx !== undefined) {
    return { method: (firstHeader(request, 'x-original-method') ?? request.method).toUpperCase(), target: nginx, from: 'x-original-uri' }
  }
  const traefik = firstHeader(request, 'x-forwarded-uri')
  if (traefik !== undefined) {
    return { method: (firstHeader(request, 'x-forwarded-method') ?? request.method).toUpperCase(), target: traefik, from: 'x-forwarded-uri' }
  }
  // Envoy ext_authz: `path_prefix` + the original path; the auth request's method is the original's.
  const raw = request.raw.url ?? ''
  const rest = raw.slice(path.length)
  return { method: request.method, target: rest.length === 0 || rest[0] === '?' ? '/' + rest : rest, from: 'path' }
}

/** A body is never read: nginx sends none (proxy_pass_request_body off), and the answer does not depend on it. */
function ignoreBody (_request: FastifyRequest, _payload: unknown, done: (err: Error | null, body?: unknown) => void): void {
  done(null)
}

/**
 * Registers `path` and `path/*` for every method. Allowed: 200, empty body,
 * the route's forwarded headers as response headers. Denied: the policy's own
 * 401/403 with WWW-Authenticate. Not canonical: 400; no route: 404; method not
 * proxied by the route: 405; caller not trusted: 403.
 */
export function registerAuthEndpoint (fastify: FastifyInstance, opts: AuthEndpointOptions): void {
  const block = blockListOf(opts.trustedProxies)
  const path = opts.path.length > 1 && opts.path.endsWith('/') ? opts.path.slice(0, -1) : opts.path

  function authEndpoint (request: FastifyRequest, reply: FastifyReply): void {
    // The socket's peer, never request.ip: with trustProxy that comes from X-Forwarded-For, which anyone can send.
    const peer = request.raw.socket?.remoteAddress
    if (!trusted(block, peer)) {
      request.log.warn({ auth: { peer } }, 'auth endpoint: caller is not in server.authTrustedProxies')
      return send(reply, FJG_ERR_AUTH_UNTRUSTED)
    }
    const original = originalRequest(request, path)
    const canonical = opts.canonical(original.target)
    if ('problem' in canonical) {
      // The reason, never the target: its query may carry a token.
      request.log.info({ auth: { from: original.from, problem: canonical.problem } }, 'auth endpoint: original path not canonical')
      return send(reply, FJG_ERR_PATH_NOT_CANONICAL)
    }
    const routes = opts.routes(canonical.target)
    if (routes === null) return send(reply, FJG_ERR_AUTH_NO_ROUTE)
    const route = routes.find((r) => r.methods.has(original.method))
    if (route === undefined) return send(reply, FJG_ERR_METHOD_NOT_ALLOWED)
    if (route.hook === null) {
      reply.code(200).send()
      return
    }
    // A `query:` token source reads the original request's query.
    const q = canonical.target.indexOf('?')
    ;(request as { query: unknown }).query = q === -1 ? {} : parseQuery(canonical.target.slice(q + 1))
    route.hook(request, reply, (err?: Error) => {
      if (err !== undefined && err !== null) {
        reply.send(err)
        return
      }
      const out: Record<string, string | string[] | number | undefined> = {}
      route.writeHeaders(request, out)
      for (const name of Object.keys(out)) {
        const v = out[name]
        if (v !== undefined) reply.header(name, v)
      }
      reply.code(200).send()
    })
  }

  fastify.register(async function authContext (instance) {
    instance.removeAllContentTypeParsers()
    instance.addContentTypeParser('*', ignoreBody)
    for (const url of [path, path + '/*']) instance.route({ method: AUTH_METHODS, url, handler: authEndpoint })
  })
}
