// Upstream groups (issue 12.1): nginx's `upstream {}` block with several
// servers. Smooth weighted round robin over the servers that are up (nginx's
// own algorithm, ngx_http_upstream_round_robin.c: every pick adds each
// server's weight to its current weight, takes the largest, and subtracts
// the total from it — an even spread, no bursts on the heaviest server).
// Passive health as nginx: `maxFails` failures within `failTimeout` mark a
// server down for `failTimeout`; `backup` servers are used only while no
// primary is up. The HTTP client stays undici's: one Pool per server.

import { Dispatcher } from 'undici'
import type { ClaimRouting, UpstreamConfig, UpstreamServerConfig, UpstreamTarget } from './types.js'

/** nginx `max_fails` default. */
export const DEFAULT_MAX_FAILS = 1
/** nginx `fail_timeout` default, in seconds. */
export const DEFAULT_FAIL_TIMEOUT = 10

// A route's `upstream` forms, typed from the schema in types.ts.
export type { ClaimRouting, UpstreamConfig, UpstreamServerConfig, UpstreamTarget } from './types.js'

export interface UpstreamServerState {
  url: string
  weight: number
  backup: boolean
  /** False while marked down after `maxFails` failures. */
  up: boolean
  /** Failures counted in the current window. */
  fails: number
  /** ms since epoch until which the server is down; 0 when up. */
  downUntil: number
  requests: number
  failures: number
}

export class UpstreamServer<P = unknown> {
  readonly url: string
  readonly weight: number
  readonly backup: boolean
  readonly maxFails: number
  readonly failTimeout: number
  /** Whatever the forwarder dispatches to (an undici Pool). */
  readonly pool: P
  fails = 0
  windowStart = 0
  downUntil = 0
  current = 0
  requests = 0
  failures = 0

  constructor (config: UpstreamServerConfig, pool: P) {
    this.url = config.url
    this.weight = config.weight ?? 1
    this.backup = config.backup === true
    this.maxFails = config.maxFails ?? DEFAULT_MAX_FAILS
    this.failTimeout = (config.failTimeout ?? DEFAULT_FAIL_TIMEOUT) * 1000
    this.pool = pool
  }

  isUp (now: number): boolean {
    return now >= this.downUntil
  }

  /** A connect error, refused connection or timeout (nginx counts the same). */
  fail (now: number): void {
    this.failures++
    if (this.maxFails === 0) return
    if (now - this.windowStart > this.failTimeout) {
      this.windowStart = now
      this.fails = 0
    }
    this.fails++
    if (this.fails >= this.maxFails) {
      this.downUntil = now + this.failTimeout
      this.fails = 0
      this.windowStart = now
    }
  }

  succeed (): void {
    this.fails = 0
    this.downUntil = 0
  }

  state (now: number): UpstreamServerState {
    return {
      url: this.url,
      weight: this.weight,
      backup: this.backup,
      up: this.isUp(now),
      fails: this.fails,
      downUntil: this.isUp(now) ? 0 : this.downUntil,
      requests: this.requests,
      failures: this.failures
    }
  }
}

function targetServers (target: UpstreamTarget): UpstreamServerConfig[] {
  if (typeof target === 'string') return [{ url: target }]
  return target.map((u) => typeof u === 'string' ? { url: u } : u)
}

export function isClaimRouting (upstream: UpstreamConfig): upstream is ClaimRouting {
  return typeof upstream === 'object' && !Array.isArray(upstream)
}

/** Every server a route's `upstream` names (with `byClaim`: of every target, the default last). */
export function upstreamServers (upstream: UpstreamConfig): UpstreamServerConfig[] {
  if (!isClaimRouting(upstream)) return targetServers(upstream)
  const all = Object.values(upstream.map).flatMap(targetServers)
  return upstream.default === undefined ? all : all.concat(targetServers(upstream.default))
}

/** The targets of a route: one (`key` null), or one per claim value and the default. */
export function upstreamTargets (upstream: UpstreamConfig): { byClaim: string | null, targets: Map<string, UpstreamServerConfig[]>, fallback: UpstreamServerConfig[] | null } {
  if (!isClaimRouting(upstream)) return { byClaim: null, targets: new Map(), fallback: targetServers(upstream) }
  return {
    byClaim: upstream.byClaim,
    targets: new Map(Object.entries(upstream.map).map(([k, v]) => [k, targetServers(v)])),
    fallback: upstream.default === undefined ? null : targetServers(upstream.default)
  }
}

/** Where the route's hook put the claim-chosen target for the dispatcher (a symbol key: never sent). */
export const kClaimTarget = Symbol('fjg.claimTarget')

/**
 * The dispatcher of a `byClaim` route: the target chosen before the request
 * was proxied (from the verified token, never from a header) is on the
 * request headers under kClaimTarget.
 */
export class ClaimDispatcher extends Dispatcher {
  private readonly all: RequestPool[]
  constructor (all: RequestPool[]) {
    super()
    this.all = all
  }

  override dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const target = (opts as { [kClaimTarget]?: RequestPool })[kClaimTarget]
    if (target === undefined) throw new Error('ClaimDispatcher: no target chosen (the route hook did not run)')
    return target.dispatch(opts, handler)
  }

  override async close (): Promise<void> {
    await Promise.all(this.all.map((p) => p.close()))
  }

  override async destroy (): Promise<void> {
    await Promise.all(this.all.map((p) => p.destroy()))
  }
}

/**
 * One route's servers. `pick(tried)` gives the next server to try, never one
 * already tried for this request; null when every server was tried.
 */
export class UpstreamGroup<P = unknown> {
  readonly servers: ReadonlyArray<UpstreamServer<P>>
  private readonly primaries: ReadonlyArray<UpstreamServer<P>>
  private readonly backups: ReadonlyArray<UpstreamServer<P>>

  constructor (servers: ReadonlyArray<UpstreamServer<P>>) {
    this.servers = servers
    this.primaries = servers.filter((s) => !s.backup)
    this.backups = servers.filter((s) => s.backup)
  }

  /** Smooth weighted round robin among `list`'s servers that are up and not yet tried. */
  private static choose<P> (list: ReadonlyArray<UpstreamServer<P>>, now: number, tried: ReadonlySet<UpstreamServer<P>> | null, upOnly: boolean): UpstreamServer<P> | null {
    let best: UpstreamServer<P> | null = null
    let total = 0
    for (let i = 0; i < list.length; i++) {
      const s = list[i] as UpstreamServer<P>
      if ((upOnly && !s.isUp(now)) || (tried !== null && tried.has(s))) continue
      s.current += s.weight
      total += s.weight
      if (best === null || s.current > best.current) best = s
    }
    if (best !== null) best.current -= total
    return best
  }

  pick (tried: ReadonlySet<UpstreamServer<P>> | null = null, now = Date.now()): UpstreamServer<P> | null {
    if (this.servers.length === 1) {
      // One server is never marked out of use (nginx ignores max_fails then): there is no other to try.
      const only = this.servers[0] as UpstreamServer<P>
      return tried !== null && tried.has(only) ? null : only
    }
    const s = UpstreamGroup.choose(this.primaries, now, tried, true) ??
      UpstreamGroup.choose(this.backups, now, tried, true) ??
      // Every server is down: try them anyway, primaries first, rather than
      // answer 502 without a try (one of them may be back before its
      // failTimeout ran out).
      UpstreamGroup.choose(this.primaries, now, tried, false) ??
      UpstreamGroup.choose(this.backups, now, tried, false)
    return s
  }

  state (now = Date.now()): UpstreamServerState[] {
    return this.servers.map((s) => s.state(now))
  }
}

// Which failures are "the server could not be reached" (nginx
// `proxy_next_upstream error timeout`, before anything was sent): safe to try
// on the next server whatever the method, since the request never left.
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'
])

/** Errors after which the request did not reach the server: retried on the next one. */
export function isConnectFailure (code: string | undefined): boolean {
  return code !== undefined && CONNECT_FAILURES.has(code)
}

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/**
 * Whether a failed attempt may go to the next server: a connect failure
 * always (nothing was sent); a connection closed before the answer only for
 * an idempotent method without a body (nginx: non-idempotent requests are
 * not passed on once sent).
 */
export function mayRetry (code: string | undefined, method: string, hasBody: boolean): boolean {
  if (isConnectFailure(code)) return true
  return (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') && IDEMPOTENT.has(method) && !hasBody
}

interface ErrorLike { code?: string, cause?: unknown }

/** undici's handler interface as the forwarder implements it (proxy.ts). */
interface LegacyHandler {
  onConnect?: (abort: (err?: Error) => void, context?: object) => void
  onHeaders?: (status: number, raw: Buffer[], resume: () => void, text: string) => boolean
  onData?: (chunk: Buffer) => boolean
  onComplete?: (trailers: string[] | null) => void
  onError: (err: Error) => void
}

function rootCode (err: unknown): string | undefined {
  let e = err as ErrorLike | null
  for (let i = 0; i < 4 && e !== null && typeof e === 'object'; i++) {
    if (e.cause === undefined || e.cause === null || typeof e.cause !== 'object') return e.code
    e = e.cause as ErrorLike
  }
  return e?.code
}

/**
 * On the request: the body the gateway read whole first (small bodies,
 * plugin.ts bufferBody), sent as bytes, so a retry can send them again.
 */
export const kBufferedBody = Symbol('fjg.bufferedBody')

/** A request body that was not sent yet: none, bytes, or a stream nobody has read from. */
function bodyUnsent (body: unknown): boolean {
  if (body === undefined || body === null || typeof body === 'string' || Buffer.isBuffer(body)) return true
  const s = body as { readableDidRead?: boolean, destroyed?: boolean }
  return s.readableDidRead === false && s.destroyed !== true
}

/** What the group tells the gateway: a server changed state (for metrics and logs). */
export type UpstreamStateListener = (server: UpstreamServer<RequestPool>, up: boolean) => void

/** The part of an undici Pool the group uses (the forwarder dispatches, proxy.ts). */
export interface RequestPool {
  dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
  close (): Promise<void>
  destroy (): Promise<void>
}

/**
 * The dispatcher handed to @fastify/reply-from for a route with several
 * servers: each request goes to the server the group picks; a connect failure
 * (refused, unreachable, connect timeout) marks the server and, while the
 * request's body is unsent, tries the next one (nginx `proxy_next_upstream
 * error timeout`). 502 only after every server failed to connect. Each
 * attempt is an ordinary undici Pool request to that server: no HTTP client
 * of ours.
 */
export class GroupDispatcher extends Dispatcher {
  readonly group: UpstreamGroup<RequestPool>
  private readonly onState: UpstreamStateListener | null
  private readonly hosts: Map<UpstreamServer<RequestPool>, string>
  private readonly preserveHost: boolean

  constructor (group: UpstreamGroup<RequestPool>, opts: { onState?: UpstreamStateListener, preserveHost?: boolean } = {}) {
    super()
    this.group = group
    this.onState = opts.onState ?? null
    this.preserveHost = opts.preserveHost === true
    this.hosts = new Map(group.servers.map((s) => [s, new URL(s.url).host]))
  }

  override dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const tried = new Set<UpstreamServer<RequestPool>>()
    const method = String(opts.method ?? 'GET').toUpperCase()
    const h = handler as LegacyHandler
    let lastError: Error | null = null
    const attempt = (): void => {
      const server = this.group.pick(tried)
      if (server === null) {
        h.onError(lastError ?? new Error('no upstream server'))
        return
      }
      tried.add(server)
      server.requests++
      // Each server gets its own Host (the forwarder wrote the first server's),
      // unless the route sends the client's.
      const headers = this.preserveHost ? opts.headers : { ...(opts.headers as Record<string, string>), host: this.hosts.get(server) as string }
      let answered = false
      server.pool.dispatch({ ...opts, headers }, {
        onConnect: (abort: (err?: Error) => void, context?: object) => h.onConnect?.(abort, context),
        onHeaders: (status: number, raw: Buffer[], resume: () => void, text: string) => {
          answered = true
          const wasDown = !server.isUp(Date.now()) || server.fails > 0
          server.succeed()
          if (wasDown) this.onState?.(server, true)
          return h.onHeaders?.(status, raw, resume, text) ?? true
        },
        onData: (chunk: Buffer) => h.onData?.(chunk) ?? true,
        onComplete: (trailers: string[] | null) => h.onComplete?.(trailers),
        onError: (err: Error) => {
          if (answered) return h.onError(err)
          const code = rootCode(err)
          if (isConnectFailure(code)) {
            const before = server.isUp(Date.now())
            server.fail(Date.now())
            if (before && !server.isUp(Date.now())) this.onState?.(server, false)
          }
          lastError = err
          if (mayRetry(code, method, !bodyUnsent(opts.body)) && bodyUnsent(opts.body)) {
            attempt()
            return
          }
          h.onError(err)
        }
      } as unknown as Dispatcher.DispatchHandler)
    }
    attempt()
    return true
  }

  override async close (): Promise<void> {
    await Promise.all(this.group.servers.map((s) => s.pool.close()))
  }

  override async destroy (): Promise<void> {
    await Promise.all(this.group.servers.map((s) => s.pool.destroy()))
  }
}
