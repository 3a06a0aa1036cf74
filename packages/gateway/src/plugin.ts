import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import httpProxy from '@fastify/http-proxy'
import type { Pool } from 'undici'
import {
  compilePolicy, createHook, mergePolicy, parsePath, readPath, SharedResources, type CompiledPolicy, type JwtPolicy
} from '@fastify-jwt-gateway/jwt-auth/internal'
import { clientCertHeaderNames, requireClientCert, withClientCertHeaders } from './client-cert.js'
import {
  FJG_ERR_BODY_TIMEOUT, FJG_ERR_METHOD_NOT_ALLOWED, FJG_ERR_PATH_NOT_CANONICAL, FJG_ERR_UPSTREAM_NO_MATCH, FJG_ERR_WEBSOCKET_DISABLED, GatewayConfigError, sendAnswer as send
} from './errors.js'
import { compileForwarder, type HttpRewrite } from './forward.js'
import { wasValidated } from './validated.js'
import { compilePrefixSelector, normalizeTarget, targetProblem, type PrefixSelector } from './paths.js'
import { DEFAULT_AUTH_TRUSTED_PROXIES, registerAuthEndpoint, type AuthRoute } from './auth-endpoint.js'
import {
  DEFAULT_BODY_BUFFER, DEFAULT_BODY_TIMEOUT, DEFAULT_HEALTH_PATH, DEFAULT_METHODS, DEFAULT_UPSTREAM_TIMEOUT, gatewayConfigProblems, methodsOf, normalizePrefix
} from './schema.js'
import type { GatewayConfig, GatewayPluginOptions, RouteConfig, ServerConfig } from './types.js'
import { createUpstreamPool, upstreamErrorHandler } from './upstream.js'
import { forwarder, rewritePrefixOf } from './proxy.js'
import {
  ClaimDispatcher, GroupDispatcher, kBufferedBody, UpstreamGroup, UpstreamServer, upstreamServers, upstreamTargets,
  type RequestPool, type UpstreamServerConfig
} from './upstream-group.js'
import { loadUpstreamTls, type ConnectTls } from './upstream-tls.js'
import { registerOperations } from './operations.js'
import { addRateLimit, compileRateLimit, RateLimitStores, type CompiledRateLimit } from './rate-limit.js'

interface CompiledRoute {
  readonly index: number
  readonly route: RouteConfig
  readonly prefix: string
  readonly methods: readonly string[]
  /** Null: an open route, no hook at all. */
  readonly policy: CompiledPolicy | null
  readonly rateLimit: CompiledRateLimit | null
}

interface CompileOptions {
  baseDir?: string
  shared: SharedResources
  log: FastifyInstance['log']
}

/** The `path: message` lines of a jwt-auth option error compiled at `where`. */
function problemsOf (err: unknown): string[] {
  const code = (err as { code?: string }).code
  if (code !== 'FJG_ERR_OPTION_INVALID' && code !== 'FJG_ERR_OPTION_KEY') throw err
  // jwt-auth's option errors list their problems, each starting with the path it was compiled at.
  const listed = (err as { problems?: unknown }).problems
  return Array.isArray(listed) ? listed.map(String) : [(err as Error).message]
}

/**
 * Compiles every route's policy once, sharing one SharedResources (one fetcher
 * per JWKS URL, one watcher per revocation file). Collects the problems of all
 * routes and throws them together.
 */
export function compileRoutes (config: GatewayConfig, opts: CompileOptions): { routes: CompiledRoute[], forwarded: string[] } {
  // The config was validated as a whole just before, its policies included: compilePolicy does not run the schema again.
  const ctx = { baseDir: opts.baseDir, shared: opts.shared, log: opts.log, validated: true }
  const problems: string[] = []
  const top = config.jwt === undefined || config.jwt === false ? null : config.jwt
  let topPolicy: CompiledPolicy | null = null
  let topFailed = false
  // A top-level `jwt` with only shared settings (realm, audience, headers) and
  // keys per route (issue 13): checked against the schema, compiled only
  // within each route. A route that inherits it as it is still needs its keys.
  const sharedOnly = top !== null && top.secret === undefined && top.keys === undefined && top.validateSig !== false &&
    config.routes.every((r) => r.jwt !== undefined)
  if (top !== null && sharedOnly) {
    // Nothing to compile on its own: the config's validation checked it against the schema.
  } else if (top !== null) {
    try {
      topPolicy = compilePolicy(top, { ...ctx, where: 'jwt' })
    } catch (err) {
      topFailed = true
      problems.push(...problemsOf(err))
    }
  }
  const routes: CompiledRoute[] = []
  config.routes.forEach((route, index) => {
    let policy: CompiledPolicy | null = null
    if (route.jwt === undefined) {
      policy = topPolicy
    } else if (route.jwt !== false) {
      const where = `routes[${index}].jwt`
      try {
        policy = compilePolicy(mergePolicy(top, route.jwt) as JwtPolicy, { ...ctx, where })
      } catch (err) {
        const own = new Set(Object.keys(route.jwt))
        for (const p of problemsOf(err)) {
          // A problem of an inherited key was already reported under `jwt`.
          const key = p.startsWith(where + '.') ? /^[A-Za-z_$][\w$]*/.exec(p.slice(where.length + 1))?.[0] : undefined
          if (topFailed && key !== undefined && !own.has(key)) continue
          problems.push(p)
        }
      }
    }
    routes.push({
      index,
      route,
      prefix: normalizePrefix(route.prefix),
      methods: route.methods ?? DEFAULT_METHODS,
      policy,
      rateLimit: route.rateLimit === undefined ? null : compileRateLimit(route.rateLimit, `routes[${index}].rateLimit`, normalizePrefix(route.prefix), problems)
    })
  })
  if (problems.length > 0) throw new GatewayConfigError(problems)
  const forwarded = new Set<string>(topPolicy?.forwardedHeaders ?? [])
  for (const r of routes) for (const h of r.policy?.forwardedHeaders ?? []) forwarded.add(h)
  return { routes, forwarded: [...forwarded] }
}

/**
 * The first hook of every route (issue 10.1, 10.2): a target that is not
 * canonical is refused before anything else runs, and the route the router
 * chose must be the one the gateway's own longest-prefix selection (on the
 * decoded, case-folded path) gives. They differ when a host app's router is
 * case-sensitive and `/API/x` fell through to `/`: refused rather than served
 * under the weaker policy.
 */
function pathGuard (selector: PrefixSelector, own: string) {
  return function canonicalPath (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const target = request.raw.url ?? ''
    const problem = targetProblem(target)
    const owner = problem === null ? selector.pick(target) : null
    if (problem === null && owner === own) return done()
    // The reason, never the target: it may carry a token in its query.
    request.log.info({ path: { problem: problem ?? 'a spelling that selects another route', route: own } }, 'request path not canonical')
    send(reply, FJG_ERR_PATH_NOT_CANONICAL)
  }
}

/**
 * No upstream request before the body starts (issue 10.4): a client that
 * announces a body and sends nothing would otherwise hold one of the pool's
 * connections. Waits for the first byte for at most `bodyTimeout` (408, as
 * nginx client_body_timeout), then keeps watching the socket: a body that
 * stalls longer than that between two reads closes the connection (and
 * cancels the upstream request with it). Runs after the route's policy, so
 * an anonymous client on a protected route never gets this far.
 */
function bodyGuard (bodyTimeout: number) {
  return function awaitBody (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const raw = request.raw
    const length = raw.headers['content-length']
    if ((length === undefined || length === '0') && raw.headers['transfer-encoding'] === undefined) return done()
    if (raw.readableEnded) return done()
    const size = length === undefined ? Number.NaN : Number(length)
    if (size > 0 && size <= DEFAULT_BODY_BUFFER) return bufferBody(request, reply, done, bodyTimeout)
    const socket = (raw as { stream?: unknown }).stream === undefined ? raw.socket : null
    const watch = (): void => {
      // bytesRead moves with every body byte; a stalled body does not move it.
      if (socket === null) return
      let last = socket.bytesRead
      const tick = (): void => {
        if (raw.readableEnded || raw.destroyed || socket.destroyed) return
        if (socket.bytesRead === last) {
          request.log.info({ body: { timeout: bodyTimeout } }, 'client body timeout: closing the connection')
          socket.destroy()
          return
        }
        last = socket.bytesRead
        setTimeout(tick, bodyTimeout).unref()
      }
      setTimeout(tick, bodyTimeout).unref()
    }
    if (raw.readableLength > 0) {
      watch()
      return done()
    }
    const stop = (): void => {
      clearTimeout(timer)
      raw.removeListener('readable', onReadable)
      raw.removeListener('close', stop)
    }
    const onReadable = (): void => {
      stop()
      watch()
      done()
    }
    const timer = setTimeout(() => {
      stop()
      request.log.info({ body: { timeout: bodyTimeout } }, 'client body timeout: no body byte')
      reply.header('connection', 'close')
      send(reply, FJG_ERR_BODY_TIMEOUT)
    }, bodyTimeout)
    raw.on('readable', onReadable)
    // The client left while we waited: nothing to answer, nothing to keep.
    raw.once('close', stop)
  }
}

/**
 * A small body is read whole before the upstream request is opened (nginx
 * proxy_request_buffering on): a client trickling it holds no upstream
 * connection at all. `bodyTimeout` bounds the gap between two chunks (408).
 */
function bufferBody (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, bodyTimeout: number): void {
  const raw = request.raw
  const chunks: Buffer[] = []
  const cleanup = (): void => {
    clearTimeout(timer)
    raw.removeListener('data', onData)
    raw.removeListener('end', onEnd)
    raw.removeListener('close', cleanup)
  }
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk)
    timer.refresh()
  }
  const onEnd = (): void => {
    cleanup()
    // The forwarder sends these bytes (an upstream group sends them again to the next server after a refused connection).
    ;(request as unknown as Record<symbol, Buffer>)[kBufferedBody] = Buffer.concat(chunks)
    done()
  }
  const timer = setTimeout(() => {
    cleanup()
    request.log.info({ body: { timeout: bodyTimeout } }, 'client body timeout: the body stalled')
    reply.header('connection', 'close')
    send(reply, FJG_ERR_BODY_TIMEOUT)
  }, bodyTimeout)
  raw.on('data', onData)
  raw.on('end', onEnd)
  // The client left: nothing to answer.
  raw.once('close', cleanup)
}

// The body is the upstream's to read: no parser in a route context reads it
// (an anonymous POST to a protected route is answered 401, not 400, 413 or
// 415 by a parser that ran before the policy).
function keepBody (_request: FastifyRequest, _payload: unknown, done: (err: Error | null, body?: unknown) => void): void {
  done(null)
}

function methodNotAllowed (allow: string) {
  return function (_request: FastifyRequest, reply: FastifyReply): void {
    send(reply.header('allow', allow), FJG_ERR_METHOD_NOT_ALLOWED)
  }
}

/** `Connection: upgrade` + `Upgrade: websocket`, as RFC 6455 §4.2.1 requires. */
function isWebSocketUpgrade (request: FastifyRequest): boolean {
  const upgrade = request.headers.upgrade
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket'
}

// On a route without `websocket`, @fastify/http-proxy would take an upgrade it
// was handed for another route and leave the socket hanging: answer it.
function refuseUpgrade (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (!isWebSocketUpgrade(request)) return done()
  send(reply, FJG_ERR_WEBSOCKET_DISABLED)
}

async function gateway (fastify: FastifyInstance, opts: GatewayPluginOptions): Promise<void> {
  const { baseDir, aggregateMetrics, ...config } = opts
  // Checked once: here, unless buildGateway checked these options already (validated.ts).
  const problems = wasValidated(opts) ? [] : gatewayConfigProblems(config)
  if (problems.length > 0) throw new GatewayConfigError(problems)

  const shared = new SharedResources()
  let compiled: ReturnType<typeof compileRoutes>
  try {
    compiled = compileRoutes(config, { baseDir, shared, log: fastify.log })
  } catch (err) {
    shared.close()
    throw err
  }
  const { routes, forwarded } = compiled

  if (!fastify.hasRequestDecorator('jwt')) fastify.decorateRequest('jwt', null)
  if (!fastify.hasDecorator('jwtAuth')) {
    fastify.decorate('jwtAuth', { keyStatus: () => shared.status(), revocationStatus: () => shared.revocationStatus() })
  } else {
    // Embedded next to jwtAuth: one status lists the key sources of both.
    const host = fastify.jwtAuth
    const hostStatus = host.keyStatus.bind(host)
    host.keyStatus = () => [...hostStatus(), ...shared.status()]
    const hostRevocation = host.revocationStatus.bind(host)
    host.revocationStatus = () => [...hostRevocation(), ...shared.revocationStatus()]
  }

  // Longest prefix wins whatever the method: the router looks routes up per
  // method, so without a 405 for the methods no route of a prefix takes, a
  // POST to a GET-only `/api/admin` would fall through to `/api` and its
  // policy. Registered once per prefix, in its first route's context (after
  // that route's policy).
  const taken = new Map<string, { first: number, methods: Set<string> }>()
  for (const r of routes) {
    const entry = taken.get(r.prefix)
    if (entry === undefined) taken.set(r.prefix, { first: r.index, methods: methodsOf(r.route) })
    else for (const m of methodsOf(r.route)) entry.methods.add(m)
  }

  const server: ServerConfig = config.server ?? {}
  const selector = compilePrefixSelector(routes.map((r) => r.prefix), server.caseSensitive === true)
  const limits = new RateLimitStores()
  const certHeaders = clientCertHeaderNames(config.routes)
  // TLS toward upstreams, read and checked before anything is built (upstream-tls.ts).
  const tlsOf = routes.map((r) => loadUpstreamTls(r.route.tls, baseDir, `routes[${r.index}].tls`))
  const tlsProblems = tlsOf.flatMap((t) => t.problems)
  if (tlsProblems.length > 0) {
    shared.close()
    throw new GatewayConfigError(tlsProblems)
  }
  // One undici pool per upstream origin (and TLS settings), shared by every route to it.
  const pools = new Map<string, Pool>()
  const groups: Array<{ route: string, group: UpstreamGroup<RequestPool> }> = []
  for (const r of routes) {
    const connect = (tlsOf[r.index] as { connect: ConnectTls }).connect
    const dispatcherFor = (configs: UpstreamServerConfig[]): RequestPool => {
      const servers = configs.map((cfg) => {
        const origin = new URL(cfg.url).origin
        const key = `${origin} ${JSON.stringify(connect)}`
        let p = pools.get(key)
        if (p === undefined) pools.set(key, (p = createUpstreamPool(origin, connect)))
        return new UpstreamServer<RequestPool>(cfg, p)
      })
      if (servers.length === 1) return (servers[0] as UpstreamServer<RequestPool>).pool
      // An upstream group: failover and passive health over the servers' pools (upstream-group.ts).
      const group = new UpstreamGroup(servers)
      groups.push({ route: r.prefix, group })
      return new GroupDispatcher(group, {
        preserveHost: r.route.preserveHost === true,
        onState (s, up) {
          fastify.log.warn({ upstream: { route: r.prefix, url: s.url, up } }, `upstream: ${s.url} is ${up ? 'up again' : `marked down for ${s.failTimeout / 1000} s`}`)
          fastify.gatewayMetrics?.upstreamUp(r.prefix, new URL(s.url).origin, up)
        }
      })
    }
    const targets = upstreamTargets(r.route.upstream)
    let pool: RequestPool
    let claimRouter: ClaimRouter | null = null
    if (targets.byClaim === null) {
      pool = dispatcherFor(targets.fallback as UpstreamServerConfig[])
    } else {
      // nginx `map $jwt_claim_x $upstream`: the verified claim picks the target (claimRoute below).
      const byValue = new Map<string, RequestPool>()
      for (const [value, configs] of targets.targets) byValue.set(value, dispatcherFor(configs))
      const fallback = targets.fallback === null ? null : dispatcherFor(targets.fallback)
      claimRouter = { path: parsePath(targets.byClaim), name: targets.byClaim, byValue, fallback }
      pool = new ClaimDispatcher([...byValue.values(), ...(fallback === null ? [] : [fallback])]) as unknown as RequestPool
    }
    const entry = taken.get(r.prefix) as { first: number, methods: Set<string> }
    const refused = entry.first === r.index ? DEFAULT_METHODS.filter((m) => !entry.methods.has(m)) : []
    const allow = DEFAULT_METHODS.filter((m) => entry.methods.has(m)).join(', ')
    fastify.register(routeContext(r, { forwarded, pool, refused, allow, selector, server, limits, certHeaders, claimRouter }), r.prefix === '/' ? {} : { prefix: r.prefix })
  }

  const healthPath = config.server?.healthPath ?? DEFAULT_HEALTH_PATH
  fastify.get(healthPath, function health (this: FastifyInstance) {
    // `revocation` only where there is any: the body of a gateway without revocation lists is unchanged.
    const revocation = this.jwtAuth?.revocationStatus()
    // `upstreams` only for routes with an upstream group: each server's passive health.
    const upstreams = groups.length === 0 ? {} : { upstreams: groups.map((g) => ({ route: g.route, servers: g.group.state() })) }
    return revocation === undefined || revocation.length === 0
      ? { status: 'ok', keys: this.jwtAuth?.keyStatus(), ...upstreams }
      : { status: 'ok', keys: this.jwtAuth?.keyStatus(), revocation, ...upstreams }
  })
  // Readiness and metrics (operations.ts): the server's readyPath and metricsPath.
  registerOperations(fastify, opts, () => shared.status())
  if (server.authPath !== undefined) {
    // The auth endpoint judges an original request as its route would (auth-endpoint.ts).
    const byPrefix = new Map<string, AuthRoute[]>()
    for (const r of routes) {
      const key = selector.key(r.prefix)
      const list = byPrefix.get(key) ?? []
      list.push({
        prefix: r.prefix,
        methods: methodsOf(r.route),
        hook: r.policy === null ? null : createHook(r.policy, { requestHeaders: false }),
        writeHeaders: compileForwarder(r.policy, forwarded, { underscoresInHeaders: server.underscoresInHeaders === true }).claims
      })
      byPrefix.set(key, list)
    }
    registerAuthEndpoint(fastify, {
      path: server.authPath,
      trustedProxies: server.authTrustedProxies ?? DEFAULT_AUTH_TRUSTED_PROXIES,
      canonical (target) {
        if (server.normalizePath === true) {
          const normalized = normalizeTarget(target)
          return normalized === null ? { problem: targetProblem(target) ?? 'a path that cannot be normalized' } : { target: normalized }
        }
        const problem = targetProblem(target)
        return problem === null ? { target } : { problem }
      },
      routes (target) {
        const key = selector.pick(target)
        return key === null ? null : byPrefix.get(key) ?? null
      }
    })
  }

  // The first load of remote key sets; bounded by each source's timeout, never rejects.
  fastify.addHook('onReady', () => Promise.all([shared.ready(), limits.connect(fastify.log)]).then(() => {
    // Every server of every group is reported from the start (1: up), not only once it changed state.
    const now = Date.now()
    for (const g of groups) for (const s of g.group.servers) fastify.gatewayMetrics?.upstreamUp(g.route, new URL(s.url).origin, s.isUp(now))
  }))
  fastify.addHook('onClose', async () => {
    shared.close()
    limits.close()
    await Promise.all([...pools.values()].map((p) => p.close()))
  })
}

/** A `byClaim` route's targets, by claim value. */
interface ClaimRouter {
  readonly path: ReturnType<typeof parsePath>
  readonly name: string
  readonly byValue: ReadonlyMap<string, RequestPool>
  readonly fallback: RequestPool | null
}

const kRequestTarget = Symbol('fjg.requestTarget')

/**
 * Picks a `byClaim` route's target from the verified token (request.jwt,
 * never a header): a string or number claim equal to a key of `map`, else
 * `default`; neither → 403 FJG_ERR_UPSTREAM_NO_MATCH. Runs after the policy.
 */
function claimRoute (router: ClaimRouter) {
  return function pickUpstream (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const payload = request.jwt?.payload
    const v = payload === undefined ? undefined : readPath(payload, router.path)
    const target = (typeof v === 'string' || typeof v === 'number' ? router.byValue.get(String(v)) : undefined) ?? router.fallback
    if (target === null) {
      request.log.info({ upstream: { byClaim: router.name, value: typeof v === 'string' ? v.slice(0, 128) : v === undefined ? 'absent' : typeof v } }, 'upstream: no target for the claim value')
      return send(reply, FJG_ERR_UPSTREAM_NO_MATCH)
    }
    ;(request as unknown as Record<symbol, unknown>)[kRequestTarget] = target
    done()
  }
}

/** nginx `proxy_set_header Host $host`: the client's Host instead of the upstream's. */
function preserveHost (rewrite: HttpRewrite): HttpRewrite {
  return function withClientHost (request, headers) {
    const out = rewrite(request, headers)
    const host = request.headers.host
    if (typeof host === 'string' && host.length > 0) out.host = host
    return out
  }
}

/**
 * The upstream's answer headers, as nginx treats them: `hideHeaders` removed
 * (proxy_hide_header), and a `Location` / `Content-Location` that points at
 * the upstream's own URL rewritten to the gateway's (proxy_redirect default:
 * the proxy_pass URL becomes the location's prefix).
 */
function upstreamAnswerHeaders (route: RouteConfig, prefix: string): ((headers: Record<string, unknown>, request: FastifyRequest) => Record<string, unknown>) {
  const hidden = (route.hideHeaders ?? []).map((h) => h.toLowerCase())
  const bases = upstreamServers(route.upstream).map((s) => {
    const url = new URL(s.url)
    const path = route.rewritePrefix ?? url.pathname
    return url.origin + (path === '/' ? '' : path.replace(/\/+$/, ''))
  })
  const own = prefix === '/' ? '' : prefix
  const relocate = (value: unknown, request: FastifyRequest): unknown => {
    if (typeof value !== 'string') return value
    for (const base of bases) {
      if (value === base || value.startsWith(base + '/') || value.startsWith(base + '?')) {
        return `${request.protocol}://${request.host}${own}${value.slice(base.length)}`
      }
    }
    return value
  }
  return function rewriteHeaders (headers, request) {
    for (const name of hidden) delete headers[name]
    if (headers.location !== undefined) headers.location = relocate(headers.location, request)
    if (headers['content-location'] !== undefined) headers['content-location'] = relocate(headers['content-location'], request)
    return headers
  }
}

/** One route: its own encapsulated context, hook and proxy (hooks never leak to another route). */
interface RouteContextOptions {
  forwarded: readonly string[]
  pool: RequestPool
  refused: readonly string[]
  allow: string
  selector: PrefixSelector
  server: ServerConfig
  limits: RateLimitStores
  certHeaders: readonly string[]
  claimRouter: ClaimRouter | null
}

function routeContext (r: CompiledRoute, { forwarded, pool, refused, allow, selector, server, limits, certHeaders, claimRouter }: RouteContextOptions) {
  return async function route (instance: FastifyInstance): Promise<void> {
    const { route, policy } = r
    // Before the policy and before routing has any effect: see pathGuard.
    instance.addHook('onRequest', pathGuard(selector, selector.key(r.prefix)))
    // Before the token: a request without the certificate the route needs is refused first (client-cert.ts).
    if (route.clientCert === 'required') instance.addHook('onRequest', requireClientCert)
    instance.removeAllContentTypeParsers()
    instance.addContentTypeParser('*', keepBody)
    // The forwarder writes the claim headers where the proxy builds the upstream
    // request (and strips inbound copies there): the hook need not do it too.
    if (policy !== null) instance.addHook(policy.phase === 'preaccess' ? 'onRequest' : 'preHandler', createHook(policy, { requestHeaders: false }))
    // After the jwt hook, whatever its phase: the limiter's key is a verified claim.
    if (r.rateLimit !== null) await addRateLimit(instance, r.rateLimit, limits)
    if (claimRouter !== null) instance.addHook('preHandler', claimRoute(claimRouter))

    const fwd = withClientCertHeaders(compileForwarder(policy, forwarded, { underscoresInHeaders: server.underscoresInHeaders === true }), route, certHeaders)
    // The first server's URL gives the path base and the Host; a group gives each server its own Host.
    const first = (upstreamServers(route.upstream)[0] as { url: string }).url
    const rewritePrefix = rewritePrefixOf(instance.prefix, route.rewritePrefix, first)
    const relocate = upstreamAnswerHeaders(route, r.prefix)
    const forward = forwarder({
      prefix: instance.prefix,
      rewritePrefix,
      host: new URL(first).host,
      caseSensitive: server.caseSensitive === true,
      dispatcher: claimRouter === null
        ? () => pool
        : (request) => ((request as unknown as Record<symbol, RequestPool | undefined>)[kRequestTarget] ?? pool),
      requestHeaders: route.preserveHost === true ? preserveHost(fwd.http) : fwd.http,
      answerHeaders (headers, request) {
        // A relative Location under the upstream's path base gets the route's prefix (as @fastify/http-proxy did).
        const location = headers.location
        if (typeof location === 'string' && !/^https?:\/\//.test(location)) headers.location = location.replace(rewritePrefix, instance.prefix)
        return relocate(headers, request) as typeof headers
      },
      query: fwd.query,
      timeout: route.timeout ?? DEFAULT_UPSTREAM_TIMEOUT,
      onError: upstreamErrorHandler(upstreamServers(route.upstream).map((u) => u.url).join(','), r.prefix)
    })
    // On the proxied routes only (a 405 reads no body), after the context's hooks
    // (the policy, the rate limit, the claim router). One hook where the route
    // takes no WebSocket: the upgrade is refused, then the body awaited.
    const awaitBody = bodyGuard(server.bodyTimeout ?? DEFAULT_BODY_TIMEOUT)
    const preHandler = route.websocket === true
      ? awaitBody
      : function refuseUpgradeThenAwaitBody (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
        if (isWebSocketUpgrade(request)) refuseUpgrade(request, reply, done)
        else awaitBody(request, reply, done)
      }
    if (route.websocket === true) {
      // WebSocket upgrades stay with @fastify/http-proxy (its ws server and
      // client); its HTTP requests come to the same forwarder as every route's.
      const wsClientOptions: Record<string, unknown> = { rewriteRequestHeaders: fwd.ws, rejectUnauthorized: true }
      if (fwd.query !== null) wsClientOptions.queryString = fwd.query
      await instance.register(httpProxy, {
        upstream: first,
        ...(route.rewritePrefix === undefined ? {} : { rewritePrefix: route.rewritePrefix }),
        httpMethods: [...r.methods],
        preHandler,
        websocket: true,
        handler: (request: FastifyRequest, reply: FastifyReply) => forward(request, reply),
        disableRequestLogging: true,
        wsClientOptions: wsClientOptions as any
      } as any)
    } else {
      // The body is the upstream's: no parser reads it (keepBody above).
      for (const url of ['/', '/*']) instance.route({ method: [...r.methods], url, preHandler, handler: forward })
    }

    if (refused.length > 0) {
      for (const url of ['/', '/*']) instance.route({ method: [...refused], url, handler: methodNotAllowed(allow) })
    }
  }
}

/**
 * The gateway as a plugin, for an existing Fastify app:
 * `app.register(gatewayPlugin, { jwt, routes })`. Route prefixes are absolute
 * (under the prefix of the context it is registered in).
 */
export const gatewayPlugin = fp(gateway, { fastify: '5.x', name: '@fastify-jwt-gateway/gateway' })
