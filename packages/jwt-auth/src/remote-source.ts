import type { KeySourceStatus, RemoteKeySource } from './key-store.js'
import { jsonEntries, jwksEntries, KeyError, type KeyEntry } from './keys.js'
import { describeFetchError, FetchError, fetchJson } from './remote-fetch.js'
import type { ConnectTls } from './remote-tls.js'
import { Agent } from 'undici'

// Remote key sets: `{ jwks: url }`, `{ keyval: url }`, `{ issuer: url }`.
//
// Written over Node's fetch rather than get-jwks (11.0.3), which the design
// names, because of four gaps measured there (docs/live-sources.md): every
// unknown kid refetches with no cooldown; a key removed from the JWKS stays
// accepted through the stale fallback on "key not found"; the `timeout` option
// is ignored since v10, so a hanging endpoint hangs the request; OKP (Ed25519)
// keys cannot be loaded.
//
// The rules, per source:
// - one fetch in flight at a time (single flight); requests that need it join it;
// - a fetch is bounded by `timeout` (discovery and JWKS together) and by
//   MAX_DOCUMENT_BYTES, and never rejects into a request: failures are logged;
// - a good fetch replaces the whole set; keys that left it get `active = false`,
//   which kills verified tokens the verifier cached with them;
// - a failed fetch keeps the last good set until it is `ttl + maxStale` old
//   (HTTP's max-stale), then the source fails closed (empty, `usable() === false`);
// - an unknown kid refetches at most once per `cooldown` (counted from the
//   start and from the end of the last fetch), and a kid still unknown after
//   a good fetch is remembered for 2 × cooldown;
// - a refresh runs in the background before the set expires; after a failure,
//   retries back off exponentially.

export interface RemoteSpec {
  kind: 'jwks' | 'keyval' | 'issuer'
  url: string
  /** jwks/keyval: the issuer the keys are bound to (a discovery source is bound to its own issuer). */
  issuer?: string
  /** Seconds. */
  cacheTtl?: number
  /** Milliseconds. */
  timeout?: number
  /** Seconds. */
  cooldown?: number
  /** Seconds. */
  maxStale?: number
  /** Milliseconds: first retry delay after a failure, and its cap (RETRY_MIN, RETRY_MAX). Not a policy key. */
  retryMin?: number
  retryMax?: number
  /** TLS toward the endpoint, files already read (remote-tls.ts): discovery and jwks_uri fetches both use it. */
  tls?: ConnectTls
}

export interface RemoteLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** Seconds a fetched set is fresh when the server sends no Cache-Control. */
export const DEFAULT_JWKS_CACHE_TTL = 600
/** Milliseconds one fetch may take (discovery + JWKS together), body included. */
export const DEFAULT_JWKS_TIMEOUT = 5000
/** Seconds between two refetches caused by unknown kids, per source. */
export const DEFAULT_JWKS_COOLDOWN = 30
/** Seconds past its freshness the last good set is served while fetches fail. */
export const DEFAULT_JWKS_MAX_STALE = 86400
/** Bounds, in seconds, on a server's `Cache-Control: max-age` (a lower `cacheTtl` lowers the floor). */
export const MIN_CACHE_CONTROL_TTL = 60
export const MAX_CACHE_CONTROL_TTL = 86400
/** The background refresh runs at this fraction of the set's lifetime. */
export const REFRESH_AHEAD = 0.8
/** Retry after a failed fetch: 1 s, 2 s, 4 s ... capped at 60 s (and at the refresh interval). */
export const RETRY_MIN = 1000
export const RETRY_MAX = 60_000
/** At most this many unknown kids are remembered per source (oldest dropped first). */
export const MAX_UNKNOWN_KIDS = 1000

export { MAX_DOCUMENT_BYTES } from './remote-fetch.js'

// setTimeout fires at once for delays over 2^31-1 ms: longer waits re-arm.
const MAX_TIMER = 2 ** 31 - 1
const MIN_TIMER = 50
const NO_KEYS: readonly KeyEntry[] = []

/** A URL fit for logs: no credentials, no query (it may carry an API key). */
export function redactUrl (url: URL): string {
  return `${url.origin}${url.pathname}${url.search === '' ? '' : '?…'}`
}

/** Same key material, kid and algorithms: the old entry object is kept, so its verifier and cached tokens live on. */
function fingerprint (e: KeyEntry): string {
  const material = typeof e.material === 'string' ? e.material : e.material.toString('base64')
  return `${e.kid ?? ''}\n${e.kty}\n${e.algorithms.join(',')}\n${material}`
}

interface Loaded {
  entries: KeyEntry[]
  /** Milliseconds. */
  ttl: number
  skipped: string[]
}

export class RemoteSource implements RemoteKeySource {
  readonly name: string
  readonly kind: RemoteSpec['kind']
  readonly url: string
  readonly issuer: string | null
  /** Milliseconds, all of them. */
  readonly cacheTtl: number
  readonly timeout: number
  readonly cooldown: number
  readonly maxStale: number
  readonly retryMin: number
  readonly retryMax: number
  private readonly log: RemoteLogger

  private current: readonly KeyEntry[] = NO_KEYS
  private kids = new Set<string>()
  private loadedAt: number | null = null
  private ttl: number
  private lastAttempt = -Infinity
  private lastError: string | null = null
  private lastOk = false
  private fetches = 0
  private failures = 0
  private inflight: Promise<void> | null = null
  private started: Promise<void> | null = null
  private refreshTimer: NodeJS.Timeout | null = null
  private staleTimer: NodeJS.Timeout | null = null
  private readonly listeners: Array<() => void> = []
  /** kid → ms until which it is known not to be in the set. */
  private readonly unknownKids = new Map<string, number>()
  private readonly closing = new AbortController()
  private closed = false
  /** issuer: the discovered jwks_uri, reused until it expires or a fetch from it fails. */
  private jwksUri: { url: string, until: number } | null = null
  /** The source's own connections when it has `tls`; null: the global dispatcher. Closed with the source. */
  private readonly agent: Agent | null

  constructor (spec: RemoteSpec, log: RemoteLogger) {
    const parsed = new URL(spec.url)
    this.kind = spec.kind
    this.url = spec.url
    // Discovery: the keys are the issuer's own (its document names exactly this issuer).
    this.issuer = spec.kind === 'issuer' ? spec.url : (spec.issuer ?? null)
    this.name = `${spec.kind} ${redactUrl(parsed)}`
    this.cacheTtl = (spec.cacheTtl ?? DEFAULT_JWKS_CACHE_TTL) * 1000
    this.timeout = spec.timeout ?? DEFAULT_JWKS_TIMEOUT
    this.cooldown = (spec.cooldown ?? DEFAULT_JWKS_COOLDOWN) * 1000
    this.maxStale = (spec.maxStale ?? DEFAULT_JWKS_MAX_STALE) * 1000
    this.retryMin = spec.retryMin ?? RETRY_MIN
    this.retryMax = spec.retryMax ?? RETRY_MAX
    this.ttl = this.cacheTtl
    this.log = log
    this.agent = spec.tls === undefined ? null : new Agent({ connect: { ...spec.tls } })
  }

  keys (): readonly KeyEntry[] {
    return this.current
  }

  usable (): boolean {
    return this.current.length > 0
  }

  onChange (listener: () => void): void {
    this.listeners.push(listener)
  }

  start (): Promise<void> {
    if (this.started === null) {
      this.started = this.closed || this.loadedAt !== null ? Promise.resolve() : this.fetch('start')
    }
    return this.started
  }

  refreshForKid (kid: string | null): Promise<void> | null {
    if (this.closed) return null
    const now = Date.now()
    if (kid !== null) {
      const until = this.unknownKids.get(kid)
      if (until !== undefined) {
        if (now < until) return null
        this.unknownKids.delete(kid)
      }
    }
    let pending = this.inflight
    if (pending === null) {
      if (now - this.lastAttempt < this.cooldown) return null
      pending = this.fetch('unknown kid')
    }
    return kid === null ? pending : pending.then(() => this.noteUnknown(kid))
  }

  close (): void {
    this.closed = true
    this.clearTimers()
    this.closing.abort()
    this.agent?.destroy().catch(() => {})
  }

  status (): KeySourceStatus {
    const now = Date.now()
    const age = this.loadedAt === null ? null : now - this.loadedAt
    return {
      source: this.name,
      kids: this.current.map((e) => e.kid),
      lastFetch: this.loadedAt,
      age,
      lastError: this.lastError,
      fetches: this.fetches,
      kind: this.kind,
      usable: this.usable(),
      ttl: this.loadedAt === null ? null : this.ttl / 1000,
      stale: age !== null && age > this.ttl
    }
  }

  /** Single flight: a fetch while one runs joins it. Never rejects. */
  private fetch (reason: string): Promise<void> {
    if (this.inflight !== null) return this.inflight
    this.lastAttempt = Date.now()
    this.fetches++
    // The cooldown runs from the end of a fetch too: a server that takes the
    // whole timeout to fail is not asked again as soon as it has failed.
    const p = this.load().then(
      (loaded) => {
        this.inflight = null
        this.lastAttempt = Date.now()
        this.succeed(loaded)
      },
      (err: unknown) => {
        this.inflight = null
        this.lastAttempt = Date.now()
        this.fail(err, reason)
      }
    ).catch((err: unknown) => {
      // A bug in our own bookkeeping must not become an unhandled rejection in a request.
      this.inflight = null
      this.log.error({ jwks: { source: this.name }, err }, 'jwt: key set update failed')
    })
    this.inflight = p
    return p
  }

  /** One bounded load: discovery (issuer) then the key document. */
  private async load (): Promise<Loaded> {
    const ac = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      ac.abort()
    }, this.timeout)
    timer.unref()
    const onClose = (): void => ac.abort()
    this.closing.signal.addEventListener('abort', onClose, { once: true })
    try {
      const url = this.kind === 'issuer' ? await this.discover(ac.signal) : this.url
      let fetched
      try {
        fetched = await fetchJson(url, ac.signal, undefined, this.agent)
      } catch (err) {
        // The provider may have moved its keys: discover again next time.
        this.jwksUri = null
        throw err
      }
      const skipped: string[] = []
      // The same rule as a key file (keys.ts): unusable keys skipped, a private key refuses the document.
      const entries = this.kind === 'keyval' ? jsonEntries(fetched.doc, this.name, skipped) : jwksEntries(fetched.doc, this.name, skipped)
      if (entries.length === 0) {
        // An empty set would refuse every token: far more often a broken
        // answer than a provider revoking everything. Keep the last good set.
        throw new KeyError(`no usable signature key in the document${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}`)
      }
      for (const e of entries) e.issuer = this.issuer
      return { entries, ttl: this.ttlFor(fetched.maxAge), skipped }
    } catch (err) {
      if (timedOut) throw new FetchError(`timed out after ${this.timeout} ms`)
      if (this.closed) throw new FetchError('closed')
      throw err
    } finally {
      clearTimeout(timer)
      this.closing.signal.removeEventListener('abort', onClose)
    }
  }

  /**
   * OpenID Connect Discovery 1.0 §4: `<issuer without trailing />/.well-known/openid-configuration`,
   * whose `issuer` must be exactly the configured one (§4.3). The URL only ever
   * comes from configuration, never from a token's unverified `iss`.
   */
  private async discover (signal: AbortSignal): Promise<string> {
    const now = Date.now()
    if (this.jwksUri !== null && now < this.jwksUri.until) return this.jwksUri.url
    const base = this.url.endsWith('/') ? this.url.slice(0, -1) : this.url
    const { doc, maxAge } = await fetchJson(`${base}/.well-known/openid-configuration`, signal, undefined, this.agent)
    const d = doc as { issuer?: unknown, jwks_uri?: unknown } | null
    if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new KeyError('the discovery document is not a JSON object')
    if (d.issuer !== this.url) {
      throw new KeyError(`discovery: "issuer" is ${JSON.stringify(d.issuer)}, expected exactly ${JSON.stringify(this.url)}`)
    }
    if (typeof d.jwks_uri !== 'string') throw new KeyError('discovery: no "jwks_uri"')
    let jwksUri: URL
    try {
      jwksUri = new URL(d.jwks_uri)
    } catch {
      throw new KeyError('discovery: "jwks_uri" is not a URL')
    }
    if (jwksUri.protocol !== 'https:' && jwksUri.protocol !== 'http:') throw new KeyError('discovery: "jwks_uri" must be http(s)')
    // An https issuer must not send us to fetch its keys in clear text.
    if (jwksUri.protocol === 'http:' && this.url.startsWith('https:')) throw new KeyError('discovery: "jwks_uri" is http for an https issuer')
    this.jwksUri = { url: jwksUri.href, until: now + this.ttlFor(maxAge) }
    return jwksUri.href
  }

  /** The server's max-age within bounds, else the configured cacheTtl (ms). */
  private ttlFor (maxAge: number | null): number {
    if (maxAge === null) return this.cacheTtl
    const floor = Math.min(MIN_CACHE_CONTROL_TTL * 1000, this.cacheTtl)
    const ceiling = Math.max(MAX_CACHE_CONTROL_TTL * 1000, this.cacheTtl)
    return Math.min(ceiling, Math.max(floor, maxAge * 1000))
  }

  private succeed ({ entries, ttl, skipped }: Loaded): void {
    if (this.closed) return
    const recovered = this.failures > 0
    const previous = new Map<string, KeyEntry>()
    for (const e of this.current) previous.set(fingerprint(e), e)
    const next: KeyEntry[] = []
    let added = 0
    for (const e of entries) {
      const f = fingerprint(e)
      const kept = previous.get(f)
      if (kept !== undefined) {
        next.push(kept)
        previous.delete(f)
      } else {
        next.push(e)
        added++
      }
    }
    // What is left in `previous` left the set: cached tokens it verified die now.
    for (const gone of previous.values()) gone.active = false
    const changed = added > 0 || previous.size > 0
    this.current = next
    this.kids = new Set()
    for (const e of next) if (e.kid !== null) this.kids.add(e.kid)
    this.loadedAt = Date.now()
    this.ttl = ttl
    this.failures = 0
    this.lastError = null
    this.lastOk = true
    if (changed) {
      this.log.info({
        jwks: { source: this.name, kids: next.map((e) => e.kid), added, removed: previous.size, ttl: ttl / 1000 }
      }, recovered ? 'jwt: key set loaded after a failure' : 'jwt: key set loaded')
      if (skipped.length > 0) this.log.warn({ jwks: { source: this.name, skipped, code: 'FJG_WARN_KEY_SKIPPED' } }, 'jwt: keys skipped in the key set')
      this.emit()
    } else if (recovered) {
      this.log.info({ jwks: { source: this.name } }, 'jwt: key set fetched again after a failure')
    }
    this.schedule(ttl * REFRESH_AHEAD)
    this.armStale(this.loadedAt + ttl + this.maxStale)
  }

  private fail (err: unknown, reason: string): void {
    if (this.closed) return
    this.failures++
    this.lastOk = false
    const message = err instanceof FetchError || err instanceof KeyError ? err.message : describeFetchError(err)
    this.lastError = message
    const info = {
      source: this.name,
      reason,
      error: message,
      failures: this.failures,
      age: this.loadedAt === null ? null : Math.round((Date.now() - this.loadedAt) / 1000)
    }
    if (this.usable()) {
      this.log.warn({ jwks: info }, 'jwt: key set fetch failed; serving the last good set')
    } else {
      this.log.error({ jwks: info }, 'jwt: key set fetch failed; no keys from this source, its tokens get 401')
    }
    // Never slower than the refresh would be: a short cacheTtl asks for fresh keys.
    const backoff = Math.min(this.retryMin * 2 ** (this.failures - 1), this.retryMax, this.cacheTtl * REFRESH_AHEAD)
    this.schedule(backoff)
  }

  /** A kid still absent after a good fetch: no refetch for it during 2 × cooldown. */
  private noteUnknown (kid: string): void {
    // A kid is attacker-chosen and may be kilobytes long: long ones are not
    // kept (memory), the cooldown still limits the fetches they cause.
    if (!this.lastOk || this.kids.has(kid) || this.cooldown === 0 || kid.length > 256) return
    if (this.unknownKids.size >= MAX_UNKNOWN_KIDS) {
      // Map iterates in insertion order: drop the oldest.
      this.unknownKids.delete(this.unknownKids.keys().next().value as string)
    }
    this.unknownKids.set(kid, Date.now() + 2 * this.cooldown)
  }

  private schedule (delay: number): void {
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer)
    // Up to 10% early, so a fleet started together does not refresh in step.
    const ms = Math.max(MIN_TIMER, Math.min(MAX_TIMER, delay * (0.9 + Math.random() * 0.1)))
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null
      this.fetch('refresh')
    }, ms)
    this.refreshTimer.unref()
  }

  /** Fail closed once the last good set is older than ttl + maxStale. */
  private armStale (deadline: number): void {
    if (this.staleTimer !== null) clearTimeout(this.staleTimer)
    this.staleTimer = setTimeout(() => {
      this.staleTimer = null
      if (this.closed) return
      if (Date.now() < deadline) return this.armStale(deadline)
      this.expire()
    }, Math.max(0, Math.min(MAX_TIMER, deadline - Date.now())))
    this.staleTimer.unref()
  }

  private expire (): void {
    if (this.current.length === 0) return
    for (const e of this.current) e.active = false
    this.current = NO_KEYS
    this.kids = new Set()
    this.log.error({
      jwks: { source: this.name, lastError: this.lastError, age: this.loadedAt === null ? null : Math.round((Date.now() - this.loadedAt) / 1000) }
    }, 'jwt: the last good key set is older than maxStale; failing closed')
    this.emit()
  }

  private emit (): void {
    for (const listener of this.listeners) {
      try {
        listener()
      } catch (err) {
        this.log.error({ jwks: { source: this.name }, err }, 'jwt: key set listener failed')
      }
    }
  }

  private clearTimers (): void {
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer)
    if (this.staleTimer !== null) clearTimeout(this.staleTimer)
    this.refreshTimer = null
    this.staleTimer = null
  }
}

/** Checks a spec and builds its source. Throws on a URL that cannot be used (an option error). */
export function createRemoteSource (spec: RemoteSpec, log: RemoteLogger): RemoteKeySource {
  let url: URL
  try {
    url = new URL(spec.url)
  } catch {
    throw new Error(`"${spec.kind}" must be an absolute http(s) URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${spec.kind}" must be an http(s) URL`)
  if (spec.kind === 'issuer' && (url.search !== '' || url.hash !== '')) {
    // OpenID Connect Discovery §2: an issuer has no query or fragment.
    throw new Error('"issuer" must not have a query or fragment')
  }
  for (const [key, value] of [['cacheTtl', spec.cacheTtl], ['timeout', spec.timeout], ['cooldown', spec.cooldown], ['maxStale', spec.maxStale]] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw new Error(`"${key}" must be a non-negative number, got ${JSON.stringify(value)}`)
  }
  return new RemoteSource(spec, log)
}
