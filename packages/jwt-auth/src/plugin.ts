import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { compileAnswer } from './answer.js'
import { compileBindingCheck } from './cert-bound.js'
import { compileHeaderWriter, type CompiledRequirement } from './claims.js'
import { deniedFacts } from './explain.js'
import {
  FJG_ERR_CLAIM_REQUIREMENT, FJG_ERR_HEADER_REQUIREMENT, FJG_ERR_REQUIRE_FAILED, FJG_ERR_TOKEN_MALFORMED, FJG_ERR_TOKEN_MISSING,
  type FjgError
} from './errors.js'
import type { KeySourceStatus } from './key-store.js'
import type { RevocationStatus } from './revocation-redis.js'
import { compilePolicy, mergePolicy, SharedResources, type CompiledPolicy, type Picked } from './policy.js'
import { kCompiled, kMissed } from './symbols.js'
import { cookieValue } from './token-source.js'
import type { JwtPolicy, VerifiedJwt } from './types.js'

export interface JwtAuthDecorator {
  /** Per key source: kids, last fetch, age, last error. */
  keyStatus (): KeySourceStatus[]
  /** Per revocation file and Redis store: state (`ok`, `stale`, `unavailable`), entries, last load, last error. */
  revocationStatus (): RevocationStatus[]
}

declare module 'fastify' {
  interface FastifyInstance {
    jwtAuth: JwtAuthDecorator
  }
}

const MAX_LOGGED = 128

/** The kid and sub a failed token claims, for the log line (never the token). */
function claimed (token: string | null): { kid?: string, sub?: string } {
  if (token === null || token.length > 16384) return {}
  const out: { kid?: string, sub?: string } = {}
  try {
    const dot1 = token.indexOf('.')
    const header = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString('utf8'))
    if (typeof header?.kid === 'string') out.kid = header.kid.slice(0, MAX_LOGGED)
    const dot2 = token.indexOf('.', dot1 + 1)
    const payload = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8'))
    if (typeof payload?.sub === 'string') out.sub = payload.sub.slice(0, MAX_LOGGED)
  } catch {}
  return out
}

/**
 * Builds the hook for one compiled policy. Callback style: the common path is
 * synchronous, and a promise is only made where a key set must be fetched.
 */
export interface HookOptions {
  /**
   * Write the policy's forwarded headers into `request.headers` (and remove
   * inbound copies first). Default true. A proxy that writes them where it
   * builds the upstream request (the gateway) turns this off: the same work
   * twice per request otherwise.
   */
  requestHeaders?: boolean
}

const NONE: readonly never[] = []

/** A forwarded claim with control characters, or that cannot be serialized: left out; the header and path are logged, never the value. */
function unsafeHeader (request: unknown, name: string, claim: string): void {
  (request as FastifyRequest).log.warn({ jwt: { header: name, claim } }, 'jwt: claim not forwarded: its value has control characters or cannot be serialized')
}

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/** What runs once the token is read: verify, then the checks, and the answer of one compiled policy. */
interface Runner {
  run (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, token: string): void
  deny (request: FastifyRequest, reply: FastifyReply, err: FjgError, token: string | null, jwt: VerifiedJwt | null): void
  ours (request: FastifyRequest, err: unknown): FjgError
}

export function createHook (c: CompiledPolicy, opts: HookOptions = {}): Hook {
  const inRequest = opts.requestHeaders !== false
  // Providers write no headers of their own (schema.ts PROVIDER_KEYS): the route's list covers theirs.
  const strip = inRequest ? c.forwardedHeaders : NONE
  const own = compileRunner(c, inRequest)
  const pick = c.pick
  // One runner per provider: its keys verified the token, so its checks and its answer apply.
  const runners = new Map<CompiledPolicy, Runner>()
  if (c.providers !== null) for (const p of c.providers.values()) runners.set(p, compileRunner(p, inRequest))

  return function jwtAuthHook (request, reply, done) {
    // A client can never set a header the policy forwards (DESIGN.md, Answers).
    const headers = request.headers
    for (let i = 0; i < strip.length; i++) {
      const name = strip[i] as string
      if (headers[name] !== undefined) delete headers[name]
    }
    const token = c.extract(request)
    if (token === null) {
      if (c.optional) return done()
      return own.deny(request, reply, new FJG_ERR_TOKEN_MISSING() as FjgError, null, null)
    }
    if (pick === null) return own.run(request, reply, done, token)
    // providers: the (decrypted) token's iss picks the provider that verifies it.
    let picked: Picked | Promise<Picked>
    try {
      picked = pick(token)
    } catch (err) {
      return own.deny(request, reply, own.ours(request, err), token, null)
    }
    if (typeof (picked as Promise<Picked>).then === 'function') {
      (picked as Promise<Picked>).then(
        (p) => (runners.get(p.policy) as Runner).run(request, reply, done, p.token),
        (err: unknown) => own.deny(request, reply, own.ours(request, err), token, null)
      )
      return
    }
    const p = picked as Picked
    ;(runners.get(p.policy) as Runner).run(request, reply, done, p.token)
  }
}

function compileRunner (c: CompiledPolicy, inRequest: boolean): Runner {
  const claimChecks = c.claimChecks
  const headerChecks = c.headerChecks
  // The claims → headers writer the gateway uses too (claims.ts), into request.headers.
  const writeHeaders = inRequest ? compileHeaderWriter(c, { wire: false, unsafe: unsafeHeader }) : null
  const requireFn = c.require
  const tokenCheck = c.tokenCheck
  const answer = compileAnswer(c.realm, c.challengeParams)
  // RFC 8705: checked per request on every verified token, cached or not (cert-bound.ts).
  const checkBinding = compileBindingCheck(c.policy.certificateBound)

  /**
   * Anything the verifier throws that is not one of our errors is a bug met on
   * a client's input (a stack overflow on a deep payload was one, issue 7): it
   * is logged, and the client gets a coded 401, never its message or a 5xx.
   */
  function ours (request: FastifyRequest, err: unknown): FjgError {
    const code = (err as { code?: unknown } | null)?.code
    if (typeof code === 'string' && code.startsWith('FJG_ERR_')) return err as FjgError
    request.log.error({ err }, 'jwt: the verifier failed unexpectedly; denying')
    return new FJG_ERR_TOKEN_MALFORMED('it could not be processed', { cause: err }) as FjgError
  }

  function deny (request: FastifyRequest, reply: FastifyReply, err: FjgError, token: string | null, jwt: VerifiedJwt | null, failed?: CompiledRequirement, onHeader = false): void {
    const a = answer(err)
    // A token over the size cap is never decoded, not even for the log line.
    const who = jwt === null
      ? (err.code === 'FJG_ERR_TOKEN_TOO_LARGE' ? {} : claimed(token))
      : { kid: typeof jwt.header.kid === 'string' ? jwt.header.kid : undefined, sub: typeof jwt.payload.sub === 'string' ? jwt.payload.sub : undefined }
    // One line per denial: reason code, route, kid/sub, and the values the
    // failed check looked at, as `explain` prints them. Never the token.
    const facts = err.code === 'FJG_ERR_TOKEN_TOO_LARGE' ? null : deniedFacts(token, jwt, failed, onHeader)
    request.log.info({ jwt: { reason: err.code, status: a.status, route: request.routeOptions.url, ...who, ...facts } }, `jwt: denied: ${err.message}`)
    // The error itself goes to Fastify's error handler, which writes the body:
    // Fastify's default one `{ statusCode, code, error, message }` (the body
    // `explain` prints), or a host's `setErrorHandler`, which may reshape it.
    // Status and challenge are set first and survive (error-handler.js keeps
    // the reply's headers and an explicit non-200 status). Whatever that
    // handler does, the request goes no further: this hook never calls done.
    if (err.statusCode !== a.status) err.statusCode = a.status
    // The cause (fast-jwt's error, with its stack) is not handed on: Fastify's
    // error log line would print it for every denial; the reason is logged above.
    if (err.cause !== undefined) delete err.cause
    reply.code(a.status)
    if (a.wwwAuthenticate !== null) reply.header('www-authenticate', a.wwwAuthenticate)
    reply.send(err)
  }

  /** A failed requirement's error, with the entry's own status (default 403). */
  function unmet (Ctor: new (path: string) => Error, r: CompiledRequirement): FjgError {
    const err = new Ctor(r.path) as unknown as FjgError
    if (r.status !== err.statusCode) err.statusCode = r.status
    return err
  }

  function removeToken (request: FastifyRequest): void {
    const headers = request.headers
    for (const s of c.tokenSources) {
      if (s.kind === 'bearer' || s.kind === 'header') {
        delete headers[s.name]
      } else if (s.kind === 'cookie' && typeof headers.cookie === 'string' && cookieValue(headers.cookie, s.name) !== null) {
        const rest = headers.cookie.split(';').filter((p) => p.trim().split('=', 1)[0] !== s.name).join(';').trim()
        if (rest.length > 0) headers.cookie = rest
        else delete headers.cookie
      }
      // query: the gateway rewrites the upstream URL; in-process it stays in request.query.
    }
  }

  function grant (request: FastifyRequest, jwt: VerifiedJwt, done: HookHandlerDoneFunction): void {
    request.jwt = jwt
    if (writeHeaders !== null) writeHeaders(request, jwt, request.headers)
    if (!c.forwardToken) removeToken(request)
    done()
  }

  function accept (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, jwt: VerifiedJwt): void {
    // `jwt` comes frozen from the verifier (verify.ts, remember), cached or not:
    // request.jwt is immutable and `require` cannot alter what is forwarded.
    if (tokenCheck !== null) {
      // tokenType, maxAge: per request, cached tokens too (age depends on the clock).
      const err = tokenCheck(jwt.header, jwt.payload, Date.now() / 1000)
      if (err !== null) return deny(request, reply, err, jwt.token, jwt)
    }
    if (checkBinding !== null) {
      const unbound = checkBinding(request, jwt)
      if (unbound !== null) return deny(request, reply, unbound, jwt.token, jwt)
    }
    for (let i = 0; i < claimChecks.length; i++) {
      const r = claimChecks[i] as CompiledRequirement
      if (!r.check(jwt.payload)) return deny(request, reply, unmet(FJG_ERR_CLAIM_REQUIREMENT, r), jwt.token, jwt, r)
    }
    for (let i = 0; i < headerChecks.length; i++) {
      const r = headerChecks[i] as CompiledRequirement
      if (!r.check(jwt.header)) return deny(request, reply, unmet(FJG_ERR_HEADER_REQUIREMENT, r), jwt.token, jwt, r, true)
    }
    if (requireFn === null) return grant(request, jwt, done)
    // `require` sees request.jwt, as nginx's jwt_require sees $jwt_claim_*.
    request.jwt = jwt
    let allowed: boolean | Promise<boolean>
    try {
      allowed = requireFn(request)
    } catch (err) {
      request.log.error({ err }, 'jwt: the require function threw; denying')
      request.jwt = null
      return deny(request, reply, new FJG_ERR_REQUIRE_FAILED({ cause: err }) as FjgError, jwt.token, jwt)
    }
    if (allowed === true) return grant(request, jwt, done)
    if (allowed !== null && typeof allowed === 'object' && typeof (allowed as Promise<boolean>).then === 'function') {
      (allowed as Promise<boolean>).then((ok) => {
        if (ok === true) return grant(request, jwt, done)
        request.jwt = null
        deny(request, reply, new FJG_ERR_REQUIRE_FAILED() as FjgError, jwt.token, jwt)
      }, (err: unknown) => {
        request.log.error({ err }, 'jwt: the require function rejected; denying')
        request.jwt = null
        deny(request, reply, new FJG_ERR_REQUIRE_FAILED({ cause: err }) as FjgError, jwt.token, jwt)
      })
      return
    }
    request.jwt = null
    deny(request, reply, new FJG_ERR_REQUIRE_FAILED() as FjgError, jwt.token, jwt)
  }

  function run (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, token: string): void {
    let result: VerifiedJwt | Promise<VerifiedJwt>
    try {
      result = c.verify(token)
    } catch (err) {
      return deny(request, reply, ours(request, err), token, null)
    }
    if (typeof (result as Promise<VerifiedJwt>).then === 'function') {
      (result as Promise<VerifiedJwt>).then(
        (jwt) => accept(request, reply, done, jwt),
        (err: unknown) => deny(request, reply, ours(request, err), token, null)
      )
      return
    }
    accept(request, reply, done, result as VerifiedJwt)
  }

  return { run, deny, ours }
}

/** A route policy's JSON, to reuse its compiled form; null where it cannot be a key (not an object, not serializable). */
function memoKey (routeJwt: unknown): string | null {
  if (routeJwt === null || typeof routeJwt !== 'object') return null
  try {
    return JSON.stringify(routeJwt)
  } catch {
    return null
  }
}

let warnedQueryToken = false
const warnedCodes = new Set<string>()
function warnOnce (code: string, message: string): void {
  if (warnedCodes.has(code)) return
  warnedCodes.add(code)
  process.emitWarning(message, { type: 'FastifyJwtGatewayWarning', code })
}

/** Adds the policy's hook to a route, in the phase it asks for. */
export function attachHook (routeOptions: RouteOptions, compiled: CompiledPolicy): void {
  if (!warnedQueryToken && compiled.tokenSources.some((s) => s.kind === 'query')) {
    // A token in the URL is in Fastify's own "incoming request" log line, which
    // runs before any hook of ours (found in issue 7), and in proxy and browser
    // histories (RFC 6750 §2.3, §5.3). Legal, so a warning, once per process.
    warnedQueryToken = true
    process.emitWarning('a "query:" token source puts the token in the URL, which Fastify logs with each request: ' +
      'set a logger `req` serializer that drops the query string, or disableRequestLogging (SECURITY.md)',
    { type: 'FastifyJwtGatewayWarning', code: 'FJG_WARN_QUERY_TOKEN' })
  }
  const hook = createHook(compiled)
  const name = compiled.phase === 'preaccess' ? 'onRequest' : 'preHandler'
  const existing = routeOptions[name]
  // Ours runs first: nothing of the route runs for a request that is denied.
  routeOptions[name] = (existing === undefined ? [hook] : [hook].concat(existing as any)) as any
  ;(routeOptions as unknown as Record<symbol, unknown>)[kCompiled] = compiled
}

function jwtAuthPlugin (fastify: FastifyInstance, options: JwtPolicy, done: (err?: Error) => void): void {
  const shared = new SharedResources()
  const log = fastify.log
  let base: CompiledPolicy
  try {
    base = compilePolicy(options, { shared, log })
  } catch (err) {
    shared.close()
    return done(err as Error)
  }

  // Registered twice (two encapsulated services with their own policies, or
  // next to the gateway): one `request.jwt`, and one status listing every source.
  if (!fastify.hasRequestDecorator('jwt')) fastify.decorateRequest('jwt', null)
  if (!fastify.hasDecorator('jwtAuth')) {
    fastify.decorate('jwtAuth', { keyStatus: () => shared.status(), revocationStatus: () => shared.revocationStatus() })
  } else {
    const outer = fastify.jwtAuth.keyStatus.bind(fastify.jwtAuth)
    const outerRevocation = fastify.jwtAuth.revocationStatus.bind(fastify.jwtAuth)
    fastify.jwtAuth = {
      keyStatus: () => [...outer(), ...shared.status()],
      revocationStatus: () => [...outerRevocation(), ...shared.revocationStatus()]
    }
  }

  // Fastify adds a HEAD route beside each GET, with the same config object:
  // its policy is validated and compiled once, and shared. Reused only while
  // the object still says the same (its JSON and its `require`), so a policy
  // object changed between two routes is compiled again, never served stale.
  const byRouteJwt = new WeakMap<JwtPolicy, { json: string, require: unknown, compiled: CompiledPolicy }>()
  /** The policy of a route (null: `jwt: false`); compile errors name the route. */
  function routePolicy (routeJwt: JwtPolicy | false | undefined, methods: string, url: string): CompiledPolicy | null {
    if (routeJwt === false) return null
    if (routeJwt === undefined) return base
    const json = memoKey(routeJwt)
    const known = json === null ? undefined : byRouteJwt.get(routeJwt)
    if (known !== undefined && known.json === json && known.require === routeJwt.require) return known.compiled
    try {
      const compiled = compilePolicy(mergePolicy(options, routeJwt) as JwtPolicy, { shared, log, where: 'config.jwt' })
      if (json !== null) byRouteJwt.set(routeJwt, { json, require: routeJwt.require, compiled })
      return compiled
    } catch (err) {
      ;(err as Error).message = `${methods} ${url}: ${(err as Error).message}`
      throw err
    }
  }

  // One mark per registration: a route covered by an outer jwt-auth is not
  // covered by this one (two encapsulated policies, the inner not awaited).
  const kCovered = Symbol('fjg.covered')
  fastify.addHook('onRoute', (routeOptions) => {
    const routeJwt = (routeOptions.config as { jwt?: JwtPolicy | false } | undefined)?.jwt
    // Marked as seen, so the guard below leaves it to its own hook (or to `jwt: false`).
    routeOptions.config = { ...routeOptions.config, [kCovered]: true } as typeof routeOptions.config
    const compiled = routePolicy(routeJwt, ([] as string[]).concat(routeOptions.method).join(','), routeOptions.url)
    if (compiled !== null) attachHook(routeOptions, compiled)
  })

  // Issue 10, point 7: `fastify.register(jwtAuth, ...)` without `await`, then
  // `fastify.get(...)`: the route is added before this plugin has loaded, so
  // the onRoute hook above never sees it, and it was served with no check. An
  // instance hook reaches every route of this instance, whenever it was added
  // (Fastify binds instance hooks to routes at ready), so the guard gives such
  // a route the policy it would have had: the plugin's, merged with its
  // `config.jwt`, or none for `jwt: false`. Routes the onRoute hook saw pass
  // through at the cost of one property read.
  const missed = new WeakMap<object, CompiledPolicy | null>()
  const missedHooks = new WeakMap<CompiledPolicy, ReturnType<typeof createHook>>()
  function policyOfMissed (request: FastifyRequest): CompiledPolicy | null {
    const config = request.routeOptions.config as unknown as ({ jwt?: JwtPolicy | false } & Record<symbol, unknown>) | undefined
    if (config === undefined || config[kCovered] === true || request.is404) return null
    let compiled = missed.get(config)
    if (compiled === undefined) {
      // Validated on first use: this route could not be seen at registration.
      // A mistake in it fails this route closed (500, logged), never open.
      compiled = routePolicy(config.jwt, request.routeOptions.method as string, request.routeOptions.url as string)
      missed.set(config, compiled)
      if (compiled !== null) {
        warnOnce('FJG_WARN_ROUTE_BEFORE_PLUGIN', `${request.routeOptions.method as string} ${request.routeOptions.url as string} was added before the jwt-auth plugin loaded (register it with await): ` +
          'it gets the policy it would have had, but its config.jwt is only validated on its first request')
      }
    }
    return compiled
  }
  function hookOf (compiled: CompiledPolicy): ReturnType<typeof createHook> {
    let hook = missedHooks.get(compiled)
    if (hook === undefined) missedHooks.set(compiled, (hook = createHook(compiled)))
    return hook
  }
  // onRequest decides (one read of routeOptions per request); a policy of the
  // access phase is left on the request for preHandler, after body parsing.
  if (!fastify.hasRequestDecorator(kMissed as unknown as string)) fastify.decorateRequest(kMissed as unknown as string, null)
  fastify.addHook('onRequest', function jwtAuthGuard (request, reply, done) {
    let compiled: CompiledPolicy | null
    try {
      compiled = policyOfMissed(request)
    } catch (err) {
      request.log.error({ err }, 'jwt: the policy of a route added before the plugin loaded is invalid; denying')
      reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', code: (err as FjgError).code, message: 'The route\'s jwt policy is invalid' })
      return
    }
    if (compiled === null) return done()
    if (compiled.phase === 'preaccess') return hookOf(compiled)(request, reply, done)
    ;(request as unknown as Record<symbol, CompiledPolicy | null>)[kMissed] = compiled
    done()
  })
  fastify.addHook('preHandler', function jwtAuthGuardAccess (request, reply, done) {
    const compiled = (request as unknown as Record<symbol, CompiledPolicy | null>)[kMissed]
    if (compiled === null || compiled === undefined) return done()
    hookOf(compiled)(request, reply, done)
  })

  // The first load of remote key sets; bounded by each source's timeout, never rejects.
  fastify.addHook('onReady', () => shared.ready())
  fastify.addHook('onClose', (_instance, next) => {
    shared.close()
    next()
  })
  done()
}

export const jwtAuth = fp(jwtAuthPlugin, { fastify: '5.x', name: '@fastify-jwt-gateway/jwt-auth' })
