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

const NO_KEYS: readonly KeyEntry[] = []

/**
 * All keys of a policy: local ones (files, inline JWKs, the secret) and remote
 * sources. Lookups go through an index by kid, rebuilt when a source changes,
 * so the hot path is one Map get.
 */
export class KeyStore {
  readonly local: readonly KeyEntry[]
  readonly remote: readonly RemoteKeySource[]
  private byKid = new Map<string, KeyEntry[]>()
  private fallback: KeyEntry[] = []
  private all: KeyEntry[] = []

  constructor (local: readonly KeyEntry[], remote: readonly RemoteKeySource[]) {
    this.local = local
    this.remote = remote
    for (const source of remote) source.onChange(() => this.reindex())
    this.reindex()
  }

  private reindex (): void {
    const byKid = new Map<string, KeyEntry[]>()
    const fallback: KeyEntry[] = []
    const all: KeyEntry[] = [...this.local]
    for (const source of this.remote) all.push(...source.keys())
    for (const entry of all) {
      if (entry.kid === null) {
        fallback.push(entry)
      } else {
        let list = byKid.get(entry.kid)
        if (list === undefined) byKid.set(entry.kid, (list = []))
        list.push(entry)
      }
    }
    // Swap at once: a lookup sees either the old or the new set, never half.
    this.byKid = byKid
    this.fallback = fallback
    this.all = all
  }

  /**
   * Keys that may verify a token with this kid and alg. A kid selects the keys
   * with that kid; keys without a kid are the fallback (DESIGN.md). Without a
   * kid, every key of the algorithm is a candidate.
   */
  find (kid: string | null, alg: Algorithm): readonly KeyEntry[] {
    const pool = kid === null ? this.all : (this.byKid.get(kid) ?? this.fallback)
    let out: KeyEntry[] | null = null
    for (let i = 0; i < pool.length; i++) {
      const entry = pool[i] as KeyEntry
      if (entry.algorithms.includes(alg)) (out ??= []).push(entry)
    }
    if (out === null && kid !== null && pool !== this.fallback) {
      // The kid is known but none of its keys fits the alg: fall back to kid-less keys.
      return this.find(null, alg).filter((e) => e.kid === null)
    }
    return out ?? NO_KEYS
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
