// Verifier micro-benchmarks: ops/s per algorithm for our compiled policy
// (cache off, cache hits, cache misses) beside fast-jwt used bare and
// @fastify/jwt's verifier, all in one process and one run. Every row is
// printed with its ratio to the fast-jwt row doing the same kind of work, so
// the figures survive a noisy, shared machine better than absolute numbers.
//
//   node benchmarks/verify.mjs [--time ms] [--rounds 10] [--algs HS256,ES256] [--quick] [--no-json]

import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { compilePolicy } from '@fastify-jwt-gateway/jwt-auth'
import fastifyJwt from '@fastify/jwt'
import { createVerifier } from 'fast-jwt'
import Fastify from 'fastify'
import { Bench } from 'tinybench'
import { ALGORITHMS, makeKey, mintPool } from './lib/keys.mjs'
import { formatTable, stamp } from './lib/format.mjs'

const here = dirname(fileURLToPath(import.meta.url))

const { values: args } = parseArgs({
  options: {
    time: { type: 'string' },
    rounds: { type: 'string' },
    algs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (args.help) {
  console.log('usage: node benchmarks/verify.mjs [--time ms per task] [--rounds 10] [--algs HS256,RS256,PS256,ES256,EdDSA] [--quick] [--no-json]')
  process.exit(0)
}

const TIME = Number(args.time ?? (args.quick ? 300 : 1500))
const ROUNDS = Number(args.rounds ?? (args.quick ? 3 : 10))
const algs = args.algs ? args.algs.split(',').map((s) => s.trim()) : ALGORITHMS
for (const a of algs) if (!ALGORITHMS.includes(a)) throw new Error(`--algs: unknown algorithm ${a} (known: ${ALGORITHMS.join(', ')})`)

// Distinct tokens: a pool larger than both caches (ours and fast-jwt's default
// 1000 entries), walked in order, so every call under "distinct" is a miss —
// FIFO and LRU both evict a token long before it comes round again.
const POOL = 4096
const MASK = POOL - 1
// Each sample runs a batch of calls: a cache hit costs ~100 ns, less than the
// timer reading tinybench takes around each sample.
const BATCH = 256

// Results land here so the optimiser cannot drop the calls.
const sink = { value: null }

function batched (fn, tokens, async) {
  let i = 0
  if (async) {
    // jwt-auth checks ES* and EdDSA cache misses on libuv's thread pool: a
    // batch in flight at once, as concurrent requests would be.
    return async () => {
      const pending = new Array(BATCH)
      for (let j = 0; j < BATCH; j++) pending[j] = fn(tokens[i++ & MASK])
      sink.value = await Promise.all(pending)
    }
  }
  if (tokens.length === 1) {
    const t = tokens[0]
    return () => { for (let j = 0; j < BATCH; j++) sink.value = fn(t) }
  }
  return () => { for (let j = 0; j < BATCH; j++) sink.value = fn(tokens[i++ & MASK]) }
}

/** Checks a contender once, so a broken setup fails loudly instead of benchmarking errors. */
async function checked (name, fn, token) {
  let out = fn(token)
  const async = out !== null && typeof out.then === 'function'
  if (async) out = await out
  const sub = out.payload?.sub ?? out.sub
  if (typeof sub !== 'string') throw new Error(`${name}: verify did not return the payload`)
  return { fn, async }
}

async function contenders (key) {
  const pool = mintPool(key, POOL)
  const one = [pool[0]]
  const bareOpts = { key: key.verifyKey, algorithms: [key.alg] }

  const app = Fastify()
  // @fastify/jwt as users register it: the key, default verify options (no cache).
  await app.register(fastifyJwt, { secret: key.alg === 'HS256' ? key.verifyKey : { public: key.verifyKey } })
  await app.ready()

  const fjOff = createVerifier({ ...bareOpts, cache: false })
  const fjHit = createVerifier({ ...bareOpts, cache: true })
  const fjMiss = createVerifier({ ...bareOpts, cache: true })
  const oursOff = compilePolicy({ ...key.policy, cache: false }).verify
  const oursHit = compilePolicy(key.policy).verify
  const oursMiss = compilePolicy(key.policy).verify
  const fastifyJwtVerify = (t) => app.jwt.verify(t)

  // [row name, tokens, fn, name of the fast-jwt row it is compared with]
  const rows = [
    ['fast-jwt bare, cache off', 'distinct', fjOff, null],
    ['fast-jwt bare, cache on', 'repeated', fjHit, null],
    ['fast-jwt bare, cache on', 'distinct', fjMiss, null],
    ['jwt-auth, cache off', 'distinct', oursOff, 'fast-jwt bare, cache off/distinct'],
    ['jwt-auth, cache on (hit)', 'repeated', oursHit, 'fast-jwt bare, cache on/repeated'],
    ['jwt-auth, cache on (miss)', 'distinct', oursMiss, 'fast-jwt bare, cache on/distinct'],
    ['@fastify/jwt verify', 'distinct', fastifyJwtVerify, 'fast-jwt bare, cache off/distinct']
  ]
  return {
    rows: await Promise.all(rows.map(async ([name, tokens, fn, base]) => {
      const c = await checked(name, fn, tokens === 'repeated' ? one[0] : pool[1])
      // A cache hit is answered synchronously even where misses go to the thread pool.
      const async = c.async && tokens !== 'repeated'
      return { name: async ? `${name} (thread pool)` : name, tokens, base, fn: batched(c.fn, tokens === 'repeated' ? one : pool, async) }
    })),
    close: () => app.close()
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function benchAlg (alg) {
  const key = makeKey(alg)
  const { rows, close } = await contenders(key)
  const name = (r) => `${r.name}/${r.tokens}`
  // Many short rounds over all contenders rather than one long run each: a
  // row and its fast-jwt base are measured less than a second apart, a burst
  // of load from another process lands in a few rounds, and the median of the
  // per-round ratios leaves it out.
  const perRound = []
  for (let round = 0; round < ROUNDS; round++) {
    // iterations: tinybench runs at least 64 samples by default: 64 × 256 ES256 checks is 1 s alone.
    const bench = new Bench({ time: TIME / ROUNDS, iterations: 8, warmupIterations: 4, warmupTime: round === 0 ? Math.min(250, TIME / 2) : 0, warmup: round === 0, throws: true })
    // Rotate the order: no contender always runs right after the same other one.
    for (let j = 0; j < rows.length; j++) {
      const r = rows[(j + round) % rows.length]
      bench.add(name(r), r.fn)
    }
    await bench.run()
    // Each sample is BATCH calls; latency.mean is ms per sample.
    perRound.push(new Map(rows.map((r) => {
      const res = bench.getTask(name(r)).result
      return [name(r), { ops: (BATCH * 1000) / res.latency.mean, rme: res.latency.rme }]
    })))
  }
  await close()
  return rows.map((r) => {
    const ops = median(perRound.map((m) => m.get(name(r)).ops))
    const ratios = r.base === null ? [1] : perRound.map((m) => m.get(name(r)).ops / m.get(r.base).ops)
    const rme = median(perRound.map((m) => m.get(name(r)).rme))
    return { alg, contender: r.name, tokens: r.tokens, ops, rme, base: r.base, ratio: median(ratios), lo: Math.min(...ratios), hi: Math.max(...ratios) }
  })
}

const results = []
console.log(`verifier micro-benchmarks: ${TIME} ms per task in ${ROUNDS} round(s), ${BATCH} calls per sample, pool of ${POOL} distinct tokens; node ${process.version}`)
for (const alg of algs) {
  process.stdout.write(`  ${alg}...`)
  const rows = await benchAlg(alg)
  process.stdout.write(' done\n')
  results.push(...rows)
}

console.log()
console.log(formatTable(
  ['alg', 'contender', 'tokens', 'ops/s', '±%', '× fast-jwt', 'rounds min–max'],
  results.map((r) => [
    r.alg, r.contender, r.tokens,
    Math.round(r.ops).toLocaleString('en-US'),
    r.rme.toFixed(1),
    r.base === null ? '(base)' : r.ratio.toFixed(2),
    r.base === null ? '' : `${r.lo.toFixed(2)}–${r.hi.toFixed(2)}`
  ]),
  { right: [3, 4, 5, 6], groupBy: 0 }
))
console.log(`
ops/s: median over ${ROUNDS} rounds; ±%: tinybench's margin of error within a round.
× fast-jwt: ops/s divided by the fast-jwt bare row doing the same work in the same round, median of rounds
(cache off → "cache off/distinct", hits → "cache on/repeated", misses → "cache on/distinct").
"distinct" walks ${POOL} tokens, more than any cache here holds: every call is a miss.`)

if (!args['no-json']) {
  const dir = join(here, 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `verify-${stamp()}.json`)
  writeFileSync(file, JSON.stringify({
    kind: 'verify',
    date: new Date().toISOString(),
    node: process.version,
    timeMs: TIME,
    rounds: ROUNDS,
    batch: BATCH,
    pool: POOL,
    results: results.map(({ alg, contender, tokens, ops, rme, base, ratio, lo, hi }) => ({ alg, contender, tokens, ops: Math.round(ops), rme, base, ratio, lo, hi }))
  }, null, 2) + '\n')
  console.log(`\nresults: ${file}`)
}
