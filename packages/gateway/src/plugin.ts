import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import httpProxy from '@fastify/http-proxy'
import type { Pool } from 'undici'
import {
  compilePolicy, createHook, mergePolicy, SharedResources, type CompiledPolicy, type JwtPolicy
} from '@fastify-jwt-gateway/jwt-auth'
import { FJG_ERR_METHOD_NOT_ALLOWED, GatewayConfigError } from './errors.js'
import { compileForwarder } from './forward.js'
import {
  DEFAULT_HEALTH_PATH, DEFAULT_METHODS, DEFAULT_UPSTREAM_TIMEOUT, gatewayConfigProblems, methodsOf, normalizePrefix
} from './schema.js'
import type { GatewayConfig, GatewayPluginOptions, RouteConfig } from './types.js'
import { cancelWithClient, createUpstreamPool, upstreamErrorHandler } from './upstream.js'
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
  const ctx = { baseDir: opts.baseDir, shared: opts.shared, log: opts.log }
  const problems: string[] = []
  const top = config.jwt === undefined || config.jwt === false ? null : config.jwt
  let topPolicy: CompiledPolicy | null = null
  let topFailed = false
  if (top !== null) {
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

function methodNotAllowed (allow: string) {
  return function (_request: FastifyRequest, reply: FastifyReply): void {
    const a = FJG_ERR_METHOD_NOT_ALLOWED
    reply.code(a.statusCode).header('allow', allow).send({ statusCode: a.statusCode, error: a.error, code: a.code, message: a.message })
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
  reply.code(400).send({ statusCode: 400, error: 'Bad Request', code: 'FJG_ERR_WEBSOCKET_DISABLED', message: 'WebSocket is not enabled on this route' })
}

async function gateway (fastify: FastifyInstance, opts: GatewayPluginOptions): Promise<void> {
  const { baseDir, ...config } = opts
  const problems = gatewayConfigProblems(config)
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

  const limits = new RateLimitStores()
  const pools = new Map<string, Pool>()
  for (const r of routes) {
    const origin = new URL(r.route.upstream).origin
    let pool = pools.get(origin)
    if (pool === undefined) pools.set(origin, (pool = createUpstreamPool(origin)))
    const entry = taken.get(r.prefix) as { first: number, methods: Set<string> }
    const refused = entry.first === r.index ? DEFAULT_METHODS.filter((m) => !entry.methods.has(m)) : []
    const allow = DEFAULT_METHODS.filter((m) => entry.methods.has(m)).join(', ')
    fastify.register(routeContext(r, forwarded, pool, refused, allow, limits), r.prefix === '/' ? {} : { prefix: r.prefix })
  }

  const healthPath = config.server?.healthPath ?? DEFAULT_HEALTH_PATH
  fastify.get(healthPath, function health (this: FastifyInstance) {
    // `revocation` only where there is any: the body of a gateway without revocation lists is unchanged.
    const revocation = this.jwtAuth?.revocationStatus()
    return revocation === undefined || revocation.length === 0
      ? { status: 'ok', keys: this.jwtAuth?.keyStatus() }
      : { status: 'ok', keys: this.jwtAuth?.keyStatus(), revocation }
  })

  // The first load of remote key sets; bounded by each source's timeout, never rejects.
  fastify.addHook('onReady', () => Promise.all([shared.ready(), limits.connect(fastify.log)]).then(() => undefined))
  fastify.addHook('onClose', async () => {
    shared.close()
    limits.close()
    await Promise.all([...pools.values()].map((p) => p.close()))
  })
}

/** One route: its own encapsulated context, hook and proxy (hooks never leak to another route). */
function routeContext (r: CompiledRoute, forwarded: readonly string[], pool: Pool, refused: readonly string[], allow: string, limits: RateLimitStores) {
  return async function route (instance: FastifyInstance): Promise<void> {
    const { route, policy } = r
    // The forwarder writes the claim headers where the proxy builds the upstream
    // request (and strips inbound copies there): the hook need not do it too.
    if (policy !== null) instance.addHook(policy.phase === 'preaccess' ? 'onRequest' : 'preHandler', createHook(policy, { requestHeaders: false }))
    // After the jwt hook, whatever its phase: the limiter's key is a verified claim.
    if (r.rateLimit !== null) await addRateLimit(instance, r.rateLimit, limits)
    if (route.websocket !== true) instance.addHook('preHandler', refuseUpgrade)

    const fwd = compileForwarder(policy, forwarded)
    const replyOptions: Record<string, unknown> = {
      rewriteRequestHeaders: cancelWithClient(fwd.http),
      onError: upstreamErrorHandler(route.upstream, r.prefix),
      timeout: route.timeout ?? DEFAULT_UPSTREAM_TIMEOUT,
      // reply-from retries a GET answered 503 up to ten times by default: a
      // gateway passes the upstream's answer on instead (as nginx does).
      retryDelay: () => null
    }
    const wsClientOptions: Record<string, unknown> = { rewriteRequestHeaders: fwd.ws, rejectUnauthorized: true }
    if (fwd.query !== null) {
      replyOptions.queryString = fwd.query
      wsClientOptions.queryString = fwd.query
    }
    await instance.register(httpProxy, {
      upstream: route.upstream,
      ...(route.rewritePrefix === undefined ? {} : { rewritePrefix: route.rewritePrefix }),
      httpMethods: [...r.methods],
      websocket: route.websocket === true,
      undici: pool as any,
      // reply-from's two info lines per request; Fastify's request log stays.
      disableRequestLogging: true,
      replyOptions: replyOptions as any,
      wsClientOptions: wsClientOptions as any
    } as any)

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
