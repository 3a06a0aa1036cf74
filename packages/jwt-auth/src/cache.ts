// A bounded map of verified tokens, keyed by the whole token string: no hash,
// so no cache-key collision is possible (fast-jwt GHSA-rp9m-7r4c-75qg was one).
// Eviction is oldest-first, which bounds memory under a flood of distinct
// tokens at the cost of one Map.delete; hits do not reorder (no write per hit).

export class TokenCache<V> {
  private readonly map = new Map<string, V>()
  readonly size: number

  constructor (size: number) {
    this.size = size
  }

  get (key: string): V | undefined {
    return this.map.get(key)
  }

  set (key: string, value: V): void {
    if (this.map.size >= this.size && !this.map.has(key)) {
      // Map iterates in insertion order: the first key is the oldest.
      const oldest = this.map.keys().next().value as string
      this.map.delete(oldest)
    }
    this.map.set(key, value)
  }

  delete (key: string): void {
    this.map.delete(key)
  }

  clear (): void {
    this.map.clear()
  }

  get length (): number {
    return this.map.size
  }
}
