import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { parse } from '@lukeed/ms'
import type { Redis } from 'ioredis'
import { readPath, redisOptions, safeUrl, splitPath } from '@fastify-jwt-gateway/jwt-auth/internal'
import { FJG_ERR_RATE_LIMITED, FJG_ERR_RATE_LIMIT_UNAVAILABLE, sendAnswer } from './errors.js'
import type { RateLimitConfig } from './types.js'

// Per-caller rate limits (nginx `limit_req zone=... key=$jwt_claim_sub`), through
// @fastify/rate-limit: its Redis store (ioredis) gives every instance of a fleet
// one shared count; without `redis` each instance counts in memory.
//
// The limiter is a preHandler added AFTER the route's jwt hook (onRequest in
// "preaccess", preHandler in "access"): in both phases the key is read from the
// verified token (request.jwt), never from what the client claims. A request
// without a verified token (an open route, an optional policy) is keyed by IP.

export const DEFAULT_RATE_LIMIT_KEY = 'sub'
export const DEFAULT_RATE_LIMIT_PREFIX = 'fjg:rl:'
export const DEFAULT_ON_STORE_ERROR = 'open'

export interface CompiledRateLimit {
  readonly max: number
  /** Milliseconds. */
  readonly timeWindow: number
  readonly keyGenerator: (request: FastifyRequest) => string
  readonly redis: string | null
  /** Redis key prefix of this route's counters: the same on every instance. */
  readonly nameSpace: string
  readonly onStoreError: 'open' | 'closed'
  readonly draftHeaders: boolean
}

function ipKey (request: FastifyRequest): string {
  return `ip:${request.ip}`
}

/** The key function, compiled once: `sub`, `claim:<path>` or `ip`. */
function compileKey (key: string): (request: FastifyRequest) => string {
  if (key === 'ip') return ipKey
  const path = key === 'sub' ? ['sub'] : splitPath(key.slice('claim:'.length))
  const tag = key === 'sub' ? 'sub:' : `${key}=`
  return function claimKey (request) {
    const payload = request.jwt?.payload
    if (payload === undefined) return ipKey(request)
    const v = readPath(payload, path)
    // Only scalars identify a caller; a missing or structured claim falls back to the IP.
    if (typeof v === 'string' || typeof v === 'number') return tag + String(v)
    return ipKey(request)
  }
}

/** Checks what the schema cannot (the time window's words) and compiles; problems are `path: message`. */
export function compileRateLimit (spec: RateLimitConfig, where: string, routePrefix: string, problems: string[]): CompiledRateLimit | null {
  let timeWindow: number | undefined
  if (typeof spec.timeWindow === 'number') timeWindow = spec.timeWindow
  else {
    const ms = parse(spec.timeWindow)
    if (typeof ms === 'number' && Number.isFinite(ms) && ms > 0) timeWindow = ms
  }
  if (timeWindow === undefined) {
    problems.push(`${where}.timeWindow: must be milliseconds or a duration such as "1 minute", "10s", got ${JSON.stringify(spec.timeWindow)}`)
    return null
  }
  const key = spec.key ?? DEFAULT_RATE_LIMIT_KEY
  return Object.freeze({
    max: spec.max,
    timeWindow: Math.trunc(timeWindow),
    keyGenerator: compileKey(key),
    redis: spec.redis ?? null,
    nameSpace: `${spec.prefix ?? DEFAULT_RATE_LIMIT_PREFIX}${routePrefix}:`,
    onStoreError: spec.onStoreError ?? DEFAULT_ON_STORE_ERROR,
    draftHeaders: spec.headers === 'draft'
  })
}

/** One ioredis client per Redis URL for every route's counters; connected when the app is ready. */
export class RateLimitStores {
  private readonly clients = new Map<string, Redis>()

  async client (url: string): Promise<Redis> {
    // Loaded here: ioredis costs start time, and only routes with `redis` need it.
    const { Redis: RedisClass } = await import('ioredis')
    let c = this.clients.get(url)
    // Offline queue off (redisOptions): a counter call while Redis is down fails
    // at once and onStoreError decides, instead of the request waiting.
    if (c === undefined) this.clients.set(url, (c = new RedisClass(url, redisOptions())))
    return c
  }

  /** First connection of each client, bounded by its connect timeout; never rejects (the limiter's onStoreError covers an outage). */
  connect (log: FastifyInstance['log']): Promise<void> {
    return Promise.all([...this.clients.entries()].map(([url, c]) => c.connect().catch((err: Error) => {
      log.warn({ rateLimit: { redis: safeUrl(url), error: err.message } }, 'gateway: rate-limit store unreachable at start')
    }))).then(() => undefined)
  }

  close (): void {
    for (const c of this.clients.values()) c.disconnect()
    this.clients.clear()
  }
}

function isStoreError (err: unknown): boolean {
  return !(err instanceof FJG_ERR_RATE_LIMITED)
}

/** Adds the limiter to a route's context, as a preHandler after the jwt hook (added before it). */
export async function addRateLimit (instance: FastifyInstance, c: CompiledRateLimit, stores: RateLimitStores): Promise<void> {
  const rateLimitPlugin = (await import('@fastify/rate-limit')).default
  await instance.register(rateLimitPlugin, {
    global: false,
    enableDraftSpec: c.draftHeaders,
    ...(c.redis === null ? {} : { redis: await stores.client(c.redis), nameSpace: c.nameSpace })
  })
  const limit = instance.rateLimit({
    max: c.max,
    timeWindow: c.timeWindow,
    keyGenerator: c.keyGenerator,
    // We decide about store errors (below), with a log line the plugin does not write.
    skipOnError: false,
    // Thrown by the plugin: Fastify's error handler writes it, as sendAnswer's answers.
    errorResponseBuilder: (_request, context) => new FJG_ERR_RATE_LIMITED(context.after)
  }) as unknown as (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  const closed = c.onStoreError === 'closed'
  const source = c.redis === null ? 'memory' : safeUrl(c.redis)
  instance.addHook('preHandler', function rateLimitHook (request, reply, done) {
    limit(request, reply).then(() => done(), (err: Error) => {
      if (!isStoreError(err)) return done(err)
      if (!closed) {
        request.log.warn({ rateLimit: { store: source, error: err.message } }, 'gateway: rate-limit store failed; request let through (onStoreError: open)')
        return done()
      }
      request.log.error({ rateLimit: { store: source, error: err.message } }, 'gateway: rate-limit store failed; request refused (onStoreError: closed)')
      sendAnswer(reply, FJG_ERR_RATE_LIMIT_UNAVAILABLE)
    })
  })
}
