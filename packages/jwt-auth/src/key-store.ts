import type { KeyEntry } from './keys.js'
import type { Algorithm } from './types.js'

/** What a source reports about itself, for `keyStatus()` and health routes. */
export interface KeySourceStatus {
  source: string
  kids: Array<string | null>
  /** ms since epoch of the last successful load, null if never. */
  lastFetch: number | null
  /** ms since the last successful load, null if never. */
  age: number | null
  lastError: string | null
  /** Number of fetches made (remote sources). */
  fetches: number
  /** Remote sources: `jwks`, `keyval` or `issuer`. */
  kind?: 'jwks' | 'keyval' | 'issuer'
  /** Remote sources: false when nothing usable is loaded (never loaded, or past maxStale). */
  usable?: boolean
  /** Remote sources: seconds the current set is fresh for (Cache-Control within bounds, else cacheTtl). */
  ttl?: number | null
  /** Remote sources: the set is older than its ttl (refreshes are failing). */
  stale?: boolean
}

/**
 * A remote key source (JWKS URL, keyval URL, OpenID issuer). The store asks it
 * for its current snapshot on every lookup (a plain array, no allocation) and
 * asks it to refetch when a token names a kid nobody has; the source decides
 * whether that is allowed (cooldown, single flight).
 */
export interface RemoteKeySource {
  readonly name: string
  /** The issuer its keys are bound to (a discovery source's own issuer, or the `issuer` option); null: unbound. */
  readonly issuer: string | null
  /** Current keys; empty before the first load or past `maxStale`. */
  keys (): readonly KeyEntry[]
  /** False when nothing usable is loaded (never loaded, or stale past `maxStale`). */
  usable (): boolean
  /** A token names `kid` that no key has: refetch if allowed; resolves when done. Null: no refetch will happen. */
  refreshForKid (kid: string | null): Promise<void> | null
  /** First load, bounded by the source's timeout; never rejects. */
  start (): Promise<void>
  /** Subscribe to key set changes (the store rebuilds its index). */
  onChange (listener: () => void): void
  close (): void
  status (): KeySourceStatus
}

const NO_KEYS: readonly KeyEntry[] = Object.freeze([])

/** Where a kid no key has is remembered in KeyIndex.found (they all get the same keys). */
const UNKNOWN_KID = Symbol('unknown kid')

/** The keys of one issuer (or the unbound ones), by kid. */
interface KeyIndex {
  byKid: Map<string, KeyEntry[]>
  /** Keys without a kid: the fallback of every kid. */
  fallback: KeyEntry[]
  all: KeyEntry[]
  /**
   * What `lookup` answered, per alg and kid (a kid no key has: UNKNOWN_KID),
   * so a token the cache has not seen allocates no candidate list. Bounded by
   * the key set, not by what tokens say; a new index (reindex) starts empty.
   */
  found: Map<Algorithm, Map<string | null | typeof UNKNOWN_KID, readonly KeyEntry[]>>
}

const newIndex = (): KeyIndex => ({ byKid: new Map(), fallback: [], all: [], found: new Map() })

/**
 * All keys of a policy: local ones (files, inline JWKs, the secret) and remote
 * sources. Lookups go through an index by issuer then kid, rebuilt when a
 * source changes, so the hot path is one or two Map gets.
 *
 * Issuer binding (issue 10, point 6): a key bound to an issuer verifies only
 * tokens whose `iss` is exactly that issuer, and a token whose `iss` has bound
 * keys is verified by those alone, never by an unbound key: whoever holds
 * issuer B's key (or an unbound key) cannot mint issuer A's subjects. Tokens of
 * any other `iss` go to the unbound keys, as before binding existed.
 */
export class KeyStore {
  readonly local: readonly KeyEntry[]
  readonly remote: readonly RemoteKeySource[]
  /** Every issuer some key or source is bound to; fixed at construction. */
  readonly boundIssuers: ReadonlySet<string>
  /** Some key or source is unbound: a token of another issuer has candidates. */
  readonly hasUnbound: boolean
  private unbound: KeyIndex = newIndex()
  private byIssuer = new Map<string, KeyIndex>()

  constructor (local: readonly KeyEntry[], remote: readonly RemoteKeySource[]) {
    this.local = local
    this.remote = remote
    const bound = new Set<string>()
    let hasUnbound = false
    for (const e of local) {
      if (e.issuer === null) hasUnbound = true
      else bound.add(e.issuer)
    }
    for (const r of remote) {
      if (r.issuer === null) hasUnbound = true
      else bound.add(r.issuer)
    }
    this.boundIssuers = bound
    this.hasUnbound = hasUnbound
    for (const source of remote) source.onChange(() => this.reindex())
    this.reindex()
  }

  private reindex (): void {
    const unbound = newIndex()
    const byIssuer = new Map<string, KeyIndex>()
    for (const iss of this.boundIssuers) byIssuer.set(iss, newIndex())
    const all: KeyEntry[] = [...this.local]
    for (const source of this.remote) all.push(...source.keys())
    for (const entry of all) {
      const index = entry.issuer === null ? unbound : (byIssuer.get(entry.issuer) as KeyIndex)
      index.all.push(entry)
      if (entry.kid === null) {
        index.fallback.push(entry)
      } else {
        let list = index.byKid.get(entry.kid)
        if (list === undefined) index.byKid.set(entry.kid, (list = []))
        list.push(entry)
      }
    }
    // Swap at once: a lookup sees either the old or the new set, never half.
    this.unbound = unbound
    this.byIssuer = byIssuer
  }

  /**
   * True when a token with this `iss` has keys that may verify it: its issuer
   * has bound keys, or some key is unbound. False is an issuer no key is for.
   */
  issuerKnown (iss: string | null): boolean {
    return this.hasUnbound || (iss !== null && this.boundIssuers.has(iss))
  }

  /**
   * Keys that may verify a token with this kid, alg and iss. The iss selects
   * its bound keys (or the unbound ones), then a kid selects the keys with that
   * kid; keys without a kid are the fallback (DESIGN.md). Without a kid, every
   * key of the algorithm is a candidate.
   */
  find (kid: string | null, alg: Algorithm, iss: string | null = null): readonly KeyEntry[] {
    const index = iss !== null && this.boundIssuers.has(iss) ? this.byIssuer.get(iss) as KeyIndex : this.unbound
    return lookup(index, kid, alg)
  }

  /** True when some remote source has nothing usable: a miss may be an outage, not a bad token. */
  degraded (): boolean {
    for (const source of this.remote) if (!source.usable()) return true
    return false
  }

  /** Ask every remote source to refetch for an unknown kid; null when none will. */
  refreshForKid (kid: string | null): Promise<void> | null {
    let pending: Array<Promise<void>> | null = null
    for (const source of this.remote) {
      const p = source.refreshForKid(kid)
      if (p !== null) (pending ??= []).push(p)
    }
    return pending === null ? null : Promise.all(pending).then(() => undefined)
  }

  start (): Promise<void> {
    return Promise.all(this.remote.map((s) => s.start())).then(() => undefined)
  }

  close (): void {
    for (const source of this.remote) source.close()
  }

  status (): KeySourceStatus[] {
    const local: KeySourceStatus[] = []
    const bySource = new Map<string, KeySourceStatus>()
    for (const entry of this.local) {
      let s = bySource.get(entry.source)
      if (s === undefined) {
        s = { source: entry.source, kids: [], lastFetch: null, age: null, lastError: null, fetches: 0 }
        bySource.set(entry.source, s)
        local.push(s)
      }
      s.kids.push(entry.kid)
    }
    return [...local, ...this.remote.map((s) => s.status())]
  }
}

function lookup (index: KeyIndex, kid: string | null, alg: Algorithm): readonly KeyEntry[] {
  let byKid = index.found.get(alg)
  if (byKid === undefined) index.found.set(alg, (byKid = new Map()))
  const slot = kid === null || index.byKid.has(kid) ? kid : UNKNOWN_KID
  let keys = byKid.get(slot)
  if (keys === undefined) byKid.set(slot, (keys = Object.freeze(select(index, kid, alg))))
  return keys
}

function select (index: KeyIndex, kid: string | null, alg: Algorithm): readonly KeyEntry[] {
  const pool = kid === null ? index.all : (index.byKid.get(kid) ?? index.fallback)
  let out: KeyEntry[] | null = null
  for (let i = 0; i < pool.length; i++) {
    const entry = pool[i] as KeyEntry
    if (entry.algorithms.includes(alg)) (out ??= []).push(entry)
  }
  if (out === null && kid !== null && pool !== index.fallback) {
    // The kid is known but none of its keys fits the alg: fall back to kid-less keys.
    return select(index, null, alg).filter((e) => e.kid === null)
  }
  return out ?? NO_KEYS
}
