import type { Redis, RedisOptions } from 'ioredis'
import type { RevocationKind } from './revocation.js'

// Revocation lists shared by a fleet of gateways through Redis (issue 14).
//
// Layout under `prefix` (default "fjg:"):
//   <prefix>revoked:sub, <prefix>revoked:kid, <prefix>revoked:jti
//     sorted sets: member = the revoked value, score = ms since epoch until
//     which it is revoked ("+inf" for good). A jti entry gets the token's
//     remaining lifetime as TTL, so the set never grows with dead tokens.
//   <prefix>revocations
//     the channel every change is published on, as JSON
//     { "op": "add" | "remove", "kind", "value", "until" }.
//
// Every instance subscribes, then loads the full sets; again after every
// reconnect (a change made while it was cut off is not lost) and every
// REVOCATION_RESYNC_INTERVAL as a safety net. While Redis is down the last
// lists stay in force: never "everything allowed". Before anything was ever
// loaded, the owning Revocation refuses every token (fail closed).

export const KINDS: readonly RevocationKind[] = ['sub', 'kid', 'jti']
export const DEFAULT_REVOCATION_PREFIX = 'fjg:'
/** Milliseconds the start waits for the first load before serving (tokens are refused until it happens). */
export const REVOCATION_START_TIMEOUT = 3000
/** Milliseconds between full reloads while connected (changes arrive on the channel in between). */
export const REVOCATION_RESYNC_INTERVAL = 30_000
/** Longest wait between two reconnect attempts, in ms: a Redis that comes back is used within this. */
export const REVOCATION_MAX_RECONNECT_DELAY = 500

export interface RedisRevocationOptions {
  url: string
  prefix?: string
}

export interface RevocationLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export interface RevocationChange {
  op: 'add' | 'remove'
  kind: RevocationKind
  value: string
  /** ms since epoch; null: for good. */
  until: number | null
}

/** What readiness and health routes read (see the jwt-auth README, "Revocation status"). */
export interface RevocationStatus {
  /** `redis://host:port/db` (never the password) or the file path. */
  source: string
  kind: 'redis' | 'file'
  /** Redis only. */
  prefix?: string
  /**
   * `ok`: loaded and (redis) connected. `stale`: Redis unreachable, the last
   * lists are enforced. `unavailable`: never loaded, tokens are refused.
   */
  state: 'ok' | 'stale' | 'unavailable'
  /** Entries per kind currently enforced. */
  entries: Partial<Record<RevocationKind, number>>
  /** ms since epoch of the last full load, null if never. */
  lastLoad: number | null
  lastError: string | null
}

export function keyOf (prefix: string, kind: RevocationKind): string {
  return `${prefix}revoked:${kind}`
}

export function channelOf (prefix: string): string {
  return `${prefix}revocations`
}

/** The URL without its password, for logs and status. */
export function safeUrl (url: string): string {
  try {
    const u = new URL(url)
    u.password = ''
    u.username = ''
    return u.toString().replace(/\/$/, '')
  } catch {
    return 'redis://(invalid url)'
  }
}

function score (s: string): number {
  // Redis answers "inf" for +inf scores.
  if (s === 'inf' || s === '+inf') return Infinity
  return Number(s)
}

/** Client options shared by readers and writers: fail fast while disconnected, retry quickly. */
export function redisOptions (extra: RedisOptions = {}): RedisOptions {
  return {
    lazyConnect: true,
    // A command while disconnected fails at once instead of queuing: a hot
    // path or a CLI never waits on a dead Redis.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: REVOCATION_START_TIMEOUT,
    retryStrategy: (times: number) => Math.min(times * 100, REVOCATION_MAX_RECONNECT_DELAY),
    ...extra
  }
}

/** Reads every revoked value still in force, per kind. */
export async function loadRevoked (client: Redis, prefix: string, now = Date.now()): Promise<Record<RevocationKind, Map<string, number>>> {
  const multi = client.multi()
  for (const kind of KINDS) multi.zrangebyscore(keyOf(prefix, kind), `(${now}`, '+inf', 'WITHSCORES')
  const replies = await multi.exec()
  const out = { sub: new Map(), kid: new Map(), jti: new Map() } as Record<RevocationKind, Map<string, number>>
  KINDS.forEach((kind, i) => {
    const [err, flat] = (replies ?? [])[i] ?? [new Error('no reply'), null]
    if (err !== null) throw err
    const list = flat as string[]
    for (let j = 0; j + 1 < list.length; j += 2) out[kind].set(list[j] as string, score(list[j + 1] as string))
  })
  return out
}

/** Revokes `value` (for `ttl` seconds, or for good) and tells every instance. */
export async function revokeInRedis (client: Redis, prefix: string, kind: RevocationKind, value: string, ttl: number | null): Promise<RevocationChange> {
  const until = ttl === null ? null : Date.now() + ttl * 1000
  const change: RevocationChange = { op: 'add', kind, value, until }
  await client.multi()
    .zadd(keyOf(prefix, kind), until === null ? '+inf' : String(until), value)
    // Entries past their time are dropped by the writer; readers only read.
    .zremrangebyscore(keyOf(prefix, kind), '-inf', `(${Date.now()}`)
    .publish(channelOf(prefix), JSON.stringify(change))
    .exec()
  return change
}

/** Lifts a revocation; resolves with whether it was there. */
export async function unrevokeInRedis (client: Redis, prefix: string, kind: RevocationKind, value: string): Promise<boolean> {
  const change: RevocationChange = { op: 'remove', kind, value, until: null }
  const replies = await client.multi()
    .zrem(keyOf(prefix, kind), value)
    .publish(channelOf(prefix), JSON.stringify(change))
    .exec()
  return Number(replies?.[0]?.[1] ?? 0) > 0
}

function applyChange (lists: Record<RevocationKind, Map<string, number>>, change: RevocationChange): void {
  if (change.op === 'add') lists[change.kind].set(change.value, change.until ?? Infinity)
  else lists[change.kind].delete(change.value)
}

function parseChange (message: string): RevocationChange | null {
  try {
    const c = JSON.parse(message) as RevocationChange
    if ((c.op !== 'add' && c.op !== 'remove') || !KINDS.includes(c.kind) || typeof c.value !== 'string') return null
    if (c.until !== null && typeof c.until !== 'number') return null
    return c
  } catch {
    return null
  }
}

/** One Redis (url + prefix) as seen by one instance: a command connection, a subscriber, the lists. */
export class RedisRevocation {
  readonly source: string
  readonly prefix: string
  /** value → ms since epoch until which it is revoked. Swapped whole on a full load. */
  lists: Record<RevocationKind, Map<string, number>> | null = null
  lastLoad: number | null = null
  lastError: string | null = null
  // Created in start(): ioredis is loaded only by apps that name a Redis.
  private client: Redis | null = null
  private subscriber: Redis | null = null
  private readonly url: string
  private connected = false
  private loading: Promise<void> | null = null
  /**
   * Changes received while a full load is in flight. The load's reply and the
   * channel's messages come on two connections, in no set order: a load read
   * before a change may land after it, so those changes are replayed on top.
   */
  private during: RevocationChange[] = []
  private again = false
  private resync: NodeJS.Timeout | null = null
  private closed = false
  private started: Promise<void> | null = null
  private firstLoad: (() => void) | null = null

  constructor (opts: RedisRevocationOptions, private readonly log: RevocationLogger) {
    this.source = safeUrl(opts.url)
    this.prefix = opts.prefix ?? DEFAULT_REVOCATION_PREFIX
    this.url = opts.url
  }

  private wire (RedisClass: typeof Redis): { client: Redis, subscriber: Redis } {
    const client = new RedisClass(this.url, redisOptions())
    // The subscriber subscribes on each 'ready' itself: ioredis' own
    // autoResubscribe sends SUBSCRIBE after a reconnect without handling its
    // promise, so a connection closed before the reply (a close or another drop
    // right after a reconnect) was an unhandled rejection: a crash under Node's defaults.
    const subscriber = new RedisClass(this.url, redisOptions({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: false }))
    this.client = client
    this.subscriber = subscriber
    const channel = channelOf(this.prefix)
    // Each 'ready' of either connection reloads (the subscriber's once it is
    // subscribed again), so nothing published while cut off is missed.
    client.on('ready', () => {
      if (!this.connected) this.log.info({ revocation: { source: this.source } }, 'jwt: revocation store connected')
      this.connected = true
      this.reload()
    })
    subscriber.on('ready', () => {
      // Subscribed first, then a full load: the load sees every change before it.
      subscriber.subscribe(channel).then(() => this.reload(), () => {})
    })
    const down = (err?: Error): void => {
      if (err !== undefined) this.lastError = err.message
      if (!this.connected) return
      this.connected = false
      this.log.warn({ revocation: { source: this.source, error: this.lastError, entries: this.counts() } },
        'jwt: revocation store unreachable; keeping the last lists')
    }
    client.on('error', (err: Error) => down(err))
    client.on('close', () => down())
    // The subscriber's errors are the same outage: record, do not crash.
    subscriber.on('error', (err: Error) => { this.lastError = err.message })
    subscriber.on('message', (ch: string, message: string) => {
      if (ch === channel) this.apply(message)
    })
    return { client, subscriber }
  }

  /** Connects and makes the first load, bounded by REVOCATION_START_TIMEOUT; never rejects. */
  start (): Promise<void> {
    if (this.started !== null) return this.started
    let timer: NodeJS.Timeout | undefined
    const first = new Promise<void>((resolve) => {
      this.firstLoad = resolve
      timer = setTimeout(resolve, REVOCATION_START_TIMEOUT)
    })
    const unreachable = (err: Error): void => {
      this.lastError = err.message
      if (this.lists === null) {
        this.log.error({ revocation: { source: this.source, error: err.message } },
          'jwt: revocation store unreachable at start; tokens of its policies are refused until it is loaded')
      }
    }
    import('ioredis').then(({ Redis: RedisClass }) => {
      if (this.closed) return
      const { client, subscriber } = this.wire(RedisClass)
      // The subscriber subscribes once connected ('ready' above), also after a failed first attempt.
      subscriber.connect().catch(() => {})
      client.connect().catch(unreachable)
    }, unreachable)
    this.started = first.finally(() => clearTimeout(timer))
    this.resync = setInterval(() => { if (this.connected) this.reload() }, REVOCATION_RESYNC_INTERVAL)
    this.resync.unref()
    return this.started
  }

  /** Whether `value` of `kind` is revoked now. Null: nothing was ever loaded. */
  has (kind: RevocationKind, value: string): boolean | null {
    const lists = this.lists
    if (lists === null) return null
    const until = lists[kind].get(value)
    return until !== undefined && until > Date.now()
  }

  private counts (): Partial<Record<RevocationKind, number>> {
    const l = this.lists
    return l === null ? {} : { sub: l.sub.size, kid: l.kid.size, jti: l.jti.size }
  }

  private apply (message: string): void {
    const change = parseChange(message)
    const lists = this.lists
    if (change === null) {
      this.log.error({ revocation: { source: this.source } }, 'jwt: ignored a malformed revocation message')
      return
    }
    if (this.loading !== null) this.during.push(change)
    // Not loaded yet: the load in flight (or the one after the subscription) includes it.
    if (lists !== null) applyChange(lists, change)
    this.log.info({ revocation: { source: this.source, op: change.op, kind: change.kind } }, 'jwt: revocation change applied')
  }

  /** Full load; one at a time, a request during one makes one more after it. */
  private reload (): void {
    const client = this.client
    if (this.closed || client === null) return
    if (this.loading !== null) {
      this.again = true
      return
    }
    this.during = []
    this.loading = loadRevoked(client, this.prefix).then((lists) => {
      if (this.closed) return
      for (const change of this.during) applyChange(lists, change)
      const first = this.lists === null
      // One assignment: a check sees the old lists or the new ones.
      this.lists = lists
      this.lastLoad = Date.now()
      this.lastError = null
      this.log.info({ revocation: { source: this.source, entries: this.counts() } },
        first ? 'jwt: revocation lists loaded' : 'jwt: revocation lists resynchronised')
      this.firstLoad?.()
      this.firstLoad = null
    }, (err: Error) => {
      this.lastError = err.message
      // The next 'ready' (reconnect) loads again.
    }).finally(() => {
      this.loading = null
      this.during = []
      if (this.again) {
        this.again = false
        this.reload()
      }
    })
  }

  status (): RevocationStatus {
    return {
      source: this.source,
      kind: 'redis',
      prefix: this.prefix,
      state: this.lists === null ? 'unavailable' : this.connected ? 'ok' : 'stale',
      entries: this.counts(),
      lastLoad: this.lastLoad,
      lastError: this.lastError
    }
  }

  close (): void {
    this.closed = true
    if (this.resync !== null) clearInterval(this.resync)
    this.resync = null
    this.client?.disconnect()
    this.subscriber?.disconnect()
  }
}
