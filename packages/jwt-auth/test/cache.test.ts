// The verified-token cache (cache.ts): bounded under any sequence of sets and
// deletes, oldest insertion out first, a hit never reorders; and its
// admission filter (SeenFilter): a token is cached on its second sight.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { SeenFilter, TokenCache } from '../src/cache.js'

t.test('bounded: distinct keys beyond the size evict the oldest first', async (t) => {
  const c = new TokenCache<number>(3)
  for (let i = 0; i < 10; i++) {
    c.set(`k${i}`, i)
    t.ok(c.length <= 3, `length ${c.length} after ${i + 1} sets`)
  }
  t.same(['k7', 'k8', 'k9'].map((k) => c.get(k)), [7, 8, 9])
  t.equal(c.get('k6'), undefined)
})

t.test('a hit does not reorder; setting a present key keeps its place and size', async (t) => {
  const c = new TokenCache<string>(2)
  c.set('a', '1')
  c.set('b', '2')
  t.equal(c.get('a'), '1')
  c.set('a', '1 again')
  t.equal(c.length, 2)
  c.set('c', '3')
  t.equal(c.get('a'), undefined, 'a was inserted first: out first, hits and re-sets notwithstanding')
  t.equal(c.get('b'), '2')
  t.equal(c.get('c'), '3')
})

t.test('deletes and re-sets never let it grow past the size', async (t) => {
  const c = new TokenCache<number>(4)
  // A deterministic mix of sets, re-sets of deleted keys and deletes.
  let seed = 7
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  for (let i = 0; i < 5000; i++) {
    const key = `k${rand(12)}`
    if (rand(3) === 0) c.delete(key)
    else c.set(key, i)
    if (c.length > 4) return t.fail(`length ${c.length} at step ${i}`)
  }
  t.pass('length stayed within 4 over 5,000 steps')
  // The newest insertion is always there.
  c.set('last', 1)
  t.equal(c.get('last'), 1)
})

t.test('clear empties it and starts the order again', async (t) => {
  const c = new TokenCache<number>(2)
  c.set('a', 1)
  c.set('b', 2)
  c.clear()
  t.equal(c.length, 0)
  c.set('c', 3)
  c.set('d', 4)
  t.equal(c.length, 2)
  t.same([c.get('c'), c.get('d')], [3, 4])
})

// Tokens as the filter sees them: a shared header and payload prefix, then a
// signature (random here, as a real one looks to anyone without the key).
const tokenLike = (): string => `eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.${randomBytes(64).toString('base64url')}`

t.test('admission: seen on the second offer, not the first', async (t) => {
  const f = new SeenFilter(1000)
  const a = tokenLike()
  t.equal(f.seen(a), false, 'first sight')
  t.equal(f.seen(a), true, 'second sight')
  t.equal(f.seen(a), true, 'and after')
  t.equal(f.seen(`${a}`), true, 'the same text in another string')
})

t.test('admission: a flood of distinct tokens is not admitted, and the memory is fixed', async (t) => {
  const f = new SeenFilter(1000)
  let admitted = 0
  for (let i = 0; i < 100_000; i++) if (f.seen(tokenLike())) admitted++
  // A false "seen" needs a 32-bit fingerprint to match one of 4 in its bucket: about 2^-20 per offer.
  t.ok(admitted <= 5, `${admitted} of 100,000 distinct tokens taken for seen`)
  t.equal((f as any).slots.length, 4096, '4 × the cache size, rounded up to a power of two: 16 KB, whatever the traffic')
})

t.test('admission: a token that comes back within the cache size of others is still remembered', async (t) => {
  const f = new SeenFilter(1000)
  const hot = Array.from({ length: 200 }, tokenLike)
  for (const h of hot) f.seen(h)
  for (let i = 0; i < 1000; i++) f.seen(tokenLike())
  const remembered = hot.filter((h) => f.seen(h)).length
  // A fingerprint leaves its bucket of 4 after about 4 newer ones land there:
  // 1,000 others over 1,024 buckets push out a few percent.
  t.ok(remembered >= 180, `${remembered} of 200 remembered after 1,000 distinct others`)
})

t.test('admission: tokens that differ only before their last 12 characters share a fingerprint (safe: admitted early)', async (t) => {
  const f = new SeenFilter(16)
  const sig = randomBytes(64).toString('base64url')
  t.equal(f.seen(`aaa.bbb.${sig}`), false)
  t.equal(f.seen(`aaa.ccc.${sig}`), true, 'a token is never trusted from this: only whether a verified one is cached')
})
