// The verified-token cache (cache.ts): bounded under any sequence of sets and
// deletes, oldest insertion out first, a hit never reorders.
import t from 'tap'
import { TokenCache } from '../src/cache.js'

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
