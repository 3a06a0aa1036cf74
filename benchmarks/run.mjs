// The load benchmark: one command (`pnpm bench`) that starts an origin,
// then each variant alone in its own process, drives it with autocannon for
// a fixed time, and prints req/s, p50/p99 latency and the ratio to
// "gateway, jwt: false" measured in the same run. See README.md.
//
//   node benchmarks/run.mjs [--duration 5] [--connections 50] [--quick]
//                           [--variants a,b] [--rounds 1] [--profile] [--list]

import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startServer, stop, stopAll } from './lib/children.mjs'
import { formatTable, stamp } from './lib/format.mjs'
import { makeKey, mintPool } from './lib/keys.mjs'
import { drive, EXPECTED_BODY, probe, summarize } from './lib/load.mjs'
import { formatMemory, measureMemory, RSS_TARGET_MB } from './lib/memory.mjs'
import { INSTALL_HINT, nginxVersion, startNginx } from './lib/nginx.mjs'
import { startPreset } from './lib/preset.mjs'

const here = dirname(fileURLToPath(import.meta.url))

const BASELINE = 'gateway-noauth'
// Tokens sent where no token is checked: an ES256 one, so every variant parses a similar header.
const PLAIN_ALG = 'ES256'

function gatewayPair (alg) {
  const id = alg.toLowerCase()
  return [
    { name: `gateway-${id}`, title: `gateway + ${alg}, one repeated token`, kind: 'gateway', alg, tokens: 'repeated' },
    { name: `gateway-${id}-distinct`, title: `gateway + ${alg}, distinct tokens (cache misses)`, kind: 'gateway', alg, tokens: 'distinct' }
  ]
}

/** Every variant, in run order. `alg` null: no token is checked (one is still sent). */
export const VARIANTS = [
  { name: 'origin', title: 'origin direct, no proxy', kind: 'origin', alg: null, tokens: 'repeated' },
  { name: 'nginx', title: 'nginx proxy_pass (1 worker, upstream keepalive)', kind: 'nginx', alg: null, tokens: 'repeated' },
  { name: 'http-proxy', title: 'fastify + @fastify/http-proxy, defaults, no auth', kind: 'http-proxy', alg: null, tokens: 'repeated' },
  { name: BASELINE, title: 'gateway, jwt: false (the baseline)', kind: 'gateway', alg: null, tokens: 'repeated' },
  ...gatewayPair('HS256'),
  ...gatewayPair('RS256'),
  ...gatewayPair('ES256'),
  ...gatewayPair('EdDSA'),
  { name: 'fastify-jwt-proxy', title: 'http-proxy + @fastify/jwt onRequest, ES256, one token', kind: 'fastify-jwt-proxy', alg: 'ES256', tokens: 'repeated' },
  { name: 'embedded', title: 'plain app + jwt-auth plugin (no proxy), ES256, one token', kind: 'embedded', alg: 'ES256', tokens: 'repeated' },
  { name: 'embedded-fastify-jwt', title: 'plain app + @fastify/jwt (defaults), ES256, one token', kind: 'embedded-fastify-jwt', alg: 'ES256', tokens: 'repeated' },
  { name: 'embedded-fastify-jwt-cache', title: 'plain app + @fastify/jwt, verify.cache: true, ES256, one token', kind: 'embedded-fastify-jwt', alg: 'ES256', tokens: 'repeated', cache: true },
  { name: 'preset-1w', title: 'preset CLI, server.workers: 1, jwt: false', kind: 'preset', workers: 1, alg: null, tokens: 'repeated' },
  { name: 'preset-2w', title: 'preset CLI, server.workers: 2 (cluster), jwt: false', kind: 'preset', workers: 2, alg: null, tokens: 'repeated' }
]
const MEMORY = 'memory'

const USAGE = `usage: node benchmarks/run.mjs [options]
  --duration S       seconds of load per variant (default 5; --quick: 1)
  --warmup S         seconds of load before each measurement (default 1; --quick: 0.5)
  --connections N    concurrent connections (default 50)
  --quick            short run: 1 s per variant, smaller token pools, 20k tokens for memory
  --variants a,b     only these (names, or a prefix ending in *); the baseline is always run
  --rounds N         repeat the whole sequence N times and keep the median (default 1)
  --pool N           distinct tokens per algorithm (default 10000; --quick: 2000)
  --memory-tokens N  distinct tokens for the memory step (default 100000; --quick: 20000)
  --no-memory        skip the memory step
  --profile          run each server with --cpu-prof (profiles under benchmarks/results/profiles/)
  --list             print the variants and exit`

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '50' },
    quick: { type: 'boolean', default: false },
    variants: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    pool: { type: 'string' },
    'memory-tokens': { type: 'string' },
    'no-memory': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (args.help) {
  console.log(USAGE)
  process.exit(0)
}
if (args.list) {
  for (const v of VARIANTS) console.log(`${v.name.padEnd(28)} ${v.title}`)
  console.log(`${MEMORY.padEnd(28)} RSS of the gateway before/after N distinct ES256 tokens (target < ${RSS_TARGET_MB} MB)`)
  process.exit(0)
}

function positive (name, value) {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got ${JSON.stringify(value)}`)
    process.exit(2)
  }
  return n
}

const opts = {
  duration: positive('duration', args.duration ?? (args.quick ? 1 : 5)),
  warmup: args.warmup === '0' ? 0 : positive('warmup', args.warmup ?? (args.quick ? 0.5 : 1)),
  connections: Math.round(positive('connections', args.connections)),
  rounds: Math.round(positive('rounds', args.rounds)),
  pool: Math.round(positive('pool', args.pool ?? (args.quick ? 2000 : 10_000))),
  memoryTokens: Math.round(positive('memory-tokens', args['memory-tokens'] ?? (args.quick ? 20_000 : 100_000))),
  profile: args.profile
}

function selectVariants (filter) {
  if (filter === undefined) return { variants: VARIANTS, memory: !args['no-memory'] }
  const wanted = filter.split(',').map((s) => s.trim()).filter(Boolean)
  const match = (name) => wanted.some((w) => w.endsWith('*') ? name.startsWith(w.slice(0, -1)) : name === w)
  const known = [...VARIANTS.map((v) => v.name), MEMORY]
  const unknown = wanted.filter((w) => !known.some((k) => w.endsWith('*') ? k.startsWith(w.slice(0, -1)) : k === w))
  if (unknown.length > 0) {
    console.error(`--variants: unknown ${unknown.join(', ')} (see --list)`)
    process.exit(2)
  }
  // The baseline is what every ratio divides by: always measured in the same run.
  return { variants: VARIANTS.filter((v) => v.name === BASELINE || match(v.name)), memory: match(MEMORY) && !args['no-memory'] }
}

const { variants, memory: runMemory } = selectVariants(args.variants)
const log = (line) => process.stderr.write(line + '\n')
const runStamp = stamp()
const profileDir = join(here, 'results', 'profiles', runStamp)

// Keys and token pools: made once per run, per algorithm, when first needed.
const keys = new Map()
const keyFor = (alg) => {
  if (!keys.has(alg)) keys.set(alg, makeKey(alg))
  return keys.get(alg)
}
const pools = new Map()
function tokensFor (v) {
  const alg = v.alg ?? PLAIN_ALG
  const id = `${alg}/${v.tokens}`
  if (!pools.has(id)) {
    const n = v.tokens === 'distinct' ? opts.pool : 1
    if (n > 1) log(`  minting ${n.toLocaleString('en-US')} distinct ${alg} tokens...`)
    // One cursor per pool, carried across warm-up and measurement: a token
    // comes round again only after the whole pool, long after any cache dropped it.
    pools.set(id, { tokens: mintPool(keyFor(alg), n), next: 0 })
  }
  return pools.get(id)
}

function specFor (v, upstream) {
  const key = v.alg === null ? null : keyFor(v.alg)
  switch (v.kind) {
    case 'gateway':
      return { kind: 'gateway', upstream, jwt: key === null ? false : key.policy }
    case 'http-proxy':
      return { kind: 'http-proxy', upstream }
    case 'fastify-jwt-proxy':
    case 'embedded-fastify-jwt':
      return { kind: v.kind, upstream, alg: key.alg, verifyKey: key.verifyKey, cache: v.cache === true }
    case 'embedded':
      return { kind: 'embedded', policy: key.policy }
    default:
      throw new Error(`no server spec for ${v.kind}`)
  }
}

async function startTarget (v, ctx, round, pool) {
  if (v.kind === 'origin') return { port: ctx.originPort, close: async () => {} }
  if (v.kind === 'nginx') return startNginx({ upstreamPort: ctx.originPort, token: pool.tokens[0] })
  if (v.kind === 'preset') return startPreset({ upstreamPort: ctx.originPort, workers: v.workers, jwt: false, token: pool.tokens[0] })
  const execArgv = opts.profile
    ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${v.name}-r${round}.cpuprofile`]
    : []
  const { child, port } = await startServer(v.name, specFor(v, `http://127.0.0.1:${ctx.originPort}`), { execArgv })
  return { port, close: () => stop(child) }
}

/** One variant, one measurement: start, check, warm up, measure, stop. */
async function measure (v, ctx, round) {
  const pool = tokensFor(v)
  const target = await startTarget(v, ctx, round, pool)
  try {
    const { port } = target
    // Figures from a server that answers errors are worthless: check first.
    const ok = await probe(port, pool.tokens[0])
    if (ok.status !== 200 || ok.body !== EXPECTED_BODY) {
      throw new Error(`a request with a valid token got ${ok.status} ${ok.body.slice(0, 200)}`)
    }
    if (v.alg !== null) {
      const denied = await probe(port, null)
      if (denied.status !== 401) throw new Error(`a request without a token got ${denied.status}: authentication is not on`)
    }
    if (opts.warmup > 0) await drive({ port, pool, duration: opts.warmup, connections: opts.connections })
    return summarize(await drive({ port, pool, duration: opts.duration, connections: opts.connections }))
  } finally {
    await target.close()
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmtInt = (n) => Math.round(n).toLocaleString('en-US')
const fmtMs = (n) => n.toFixed(n < 10 ? 2 : 1)
const fmtRatio = (r) => r === null || !Number.isFinite(r) ? 'n/a' : r.toFixed(2)

async function main () {
  const nginx = variants.some((v) => v.kind === 'nginx') ? nginxVersion() : null
  const load0 = loadavg()
  log(`fastify-jwt-gateway benchmarks: ${opts.duration} s per variant (+${opts.warmup} s warm-up), ${opts.connections} connections, ` +
    `${opts.rounds} round(s); node ${process.version}, ${cpus().length} CPUs, load average ${load0.map((l) => l.toFixed(2)).join(' ')}`)
  if (variants.some((v) => v.kind === 'nginx') && nginx === null) log(INSTALL_HINT)

  const origin = await startServer('origin', { kind: 'origin' })
  const ctx = { originPort: origin.port }
  const runs = new Map(variants.map((v) => [v.name, []]))
  const errors = new Map()
  let memory = null

  try {
    // The baseline opens every round and closes the run: its spread is the noise figure.
    const sequence = []
    const base = variants.find((v) => v.name === BASELINE)
    const rest = variants.filter((v) => v.name !== BASELINE && (v.kind !== 'nginx' || nginx !== null))
    for (let r = 0; r < opts.rounds; r++) {
      // Odd rounds run backwards: a slow drift of the machine's load then weighs on every variant alike.
      const order = r % 2 === 0 ? rest : [...rest].reverse()
      sequence.push(...[base, ...order].map((v) => [v, r]))
    }
    if (rest.length > 0) sequence.push([base, opts.rounds])

    let step = 0
    for (const [v, round] of sequence) {
      step++
      const label = `[${step}/${sequence.length}] ${v.name}`
      try {
        const s = await measure(v, ctx, round)
        runs.get(v.name).push(s)
        const bad = s.non2xx + s.errors + s.timeouts
        log(`${label}: ${fmtInt(s.rps)} req/s, p50 ${fmtMs(s.p50)} ms, p99 ${fmtMs(s.p99)} ms${bad > 0 ? `, ${bad} non-2xx/errors` : ''}`)
      } catch (err) {
        if (!errors.has(v.name)) errors.set(v.name, [])
        errors.get(v.name).push(err.message.split('\n')[0])
        log(`${label}: FAILED: ${err.message}`)
      }
    }

    if (runMemory) {
      try {
        memory = await measureMemory({ upstreamPort: ctx.originPort, key: keyFor('ES256'), count: opts.memoryTokens, connections: opts.connections, log })
      } catch (err) {
        errors.set(MEMORY, [err.message.split('\n')[0]])
        log(`memory: FAILED: ${err.message}`)
      }
    }
  } finally {
    await stop(origin.child)
    await stopAll()
  }

  // ---- report ----
  const figure = (name) => {
    const list = runs.get(name) ?? []
    if (list.length === 0) return null
    return {
      rps: median(list.map((s) => s.rps)),
      p50: median(list.map((s) => s.p50)),
      p99: median(list.map((s) => s.p99)),
      bad: list.reduce((n, s) => n + s.non2xx + s.errors + s.timeouts, 0),
      runs: list
    }
  }
  const baseFig = figure(BASELINE)
  const ratio = (name) => {
    const f = figure(name)
    return f === null || baseFig === null ? null : f.rps / baseFig.rps
  }
  const baseRps = (runs.get(BASELINE) ?? []).map((s) => s.rps)
  const spread = baseRps.length > 1 ? (Math.max(...baseRps) - Math.min(...baseRps)) / median(baseRps) : null

  const rows = variants.map((v) => {
    const f = figure(v.name)
    if (v.kind === 'nginx' && nginx === null) return [v.name, v.title, 'skipped: no nginx', '', '', '', '']
    if (f === null) return [v.name, v.title, `FAILED: ${(errors.get(v.name)?.[0] ?? '').slice(0, 60)}`, '', '', '', '']
    return [v.name, v.title, fmtInt(f.rps), fmtMs(f.p50), fmtMs(f.p99), v.name === BASELINE ? '1.00' : fmtRatio(ratio(v.name)), String(f.bad)]
  })

  const rel = (a, b) => {
    const fa = figure(a)
    const fb = figure(b)
    return fa === null || fb === null ? null : fa.rps / fb.rps
  }
  const targets = [
    ['gateway + RS256, one token', '× gateway no-auth', ratio('gateway-rs256'), 0.95],
    ['gateway + ES256, one token', '× gateway no-auth', ratio('gateway-es256'), 0.95],
    ['gateway + ES256, distinct tokens', '× gateway no-auth', ratio('gateway-es256-distinct'), 0.6],
    ['gateway no-auth', '× nginx proxy_pass', rel(BASELINE, 'nginx'), 0.6],
    ['embedded jwt-auth', '× @fastify/jwt, same app', rel('embedded', 'embedded-fastify-jwt'), 1.1]
  ]
  const targetRows = targets.map(([what, of, r, min]) => [what, `${fmtRatio(r)} ${of}`, `≥ ${min}`, r === null ? 'not measured' : r >= min ? 'met' : 'NOT met'])
  if (memory !== null) {
    targetRows.push([`memory: RSS after ${fmtInt(memory.tokens)} distinct tokens`, `${memory.after.rssMB.toFixed(1)} MB`, `< ${RSS_TARGET_MB} MB`, memory.met ? 'met' : 'NOT met'])
  }

  const load1 = loadavg()
  console.log()
  console.log(`${opts.duration} s per variant, ${opts.connections} connections, ${opts.rounds} round(s), median of rounds; ` +
    `node ${process.version}; ${cpus().length} CPUs; load average ${load0[0].toFixed(2)} → ${load1[0].toFixed(2)}` +
    (nginx ? `; ${nginx}` : ''))
  console.log()
  console.log(formatTable(['variant', 'what', 'req/s', 'p50 ms', 'p99 ms', '× no-auth', 'non-2xx'], rows, { right: [2, 3, 4, 5, 6] }))
  console.log()
  console.log(`× no-auth: req/s ÷ "${BASELINE}" req/s, same run.` +
    (spread === null ? '' : ` Baseline measured ${baseRps.length} times (start of each round and at the end), spread ${(spread * 100).toFixed(1)}%: ratios closer than that are noise.`))
  console.log()
  console.log(formatTable(['target (issue 6)', 'measured', 'wanted', ''], targetRows))
  if (memory !== null) {
    console.log()
    console.log(formatMemory(memory))
  }
  if (variants.some((v) => v.kind === 'nginx') && nginx === null) {
    console.log()
    console.log(INSTALL_HINT)
  }

  const dir = join(here, 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `run-${runStamp}.json`)
  writeFileSync(file, JSON.stringify({
    kind: 'run',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadavg: { start: load0, end: load1 },
    nginx,
    options: opts,
    baseline: BASELINE,
    baselineSpread: spread,
    variants: variants.map((v) => {
      const f = figure(v.name)
      return {
        name: v.name,
        title: v.title,
        rps: f?.rps ?? null,
        p50: f?.p50 ?? null,
        p99: f?.p99 ?? null,
        ratio: v.name === BASELINE ? 1 : ratio(v.name),
        errors: errors.get(v.name) ?? [],
        runs: f?.runs ?? []
      }
    }),
    targets: targets.map(([what, of, r, min]) => ({ what, of, ratio: r, min, met: r === null ? null : r >= min })),
    memory,
    memoryErrors: errors.get(MEMORY) ?? []
  }, null, 2) + '\n')
  console.log()
  console.log(`results: ${file}${opts.profile ? `\nprofiles: ${profileDir}` : ''}`)
}

main().catch(async (err) => {
  console.error(err)
  await stopAll()
  process.exitCode = 1
})
