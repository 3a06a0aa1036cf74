// Soak (issue 7, item 5): the gateway under steady load with distinct tokens
// for a bounded time, its memory and event-loop delay sampled as it goes.
// Flat memory is the pass condition: printed, never asserted (a shared
// machine is no place for a hard threshold).
//
//   node benchmarks/soak.mjs                 # 120 s
//   node benchmarks/soak.mjs --quick         # 15 s
//   node benchmarks/soak.mjs --duration 600 --connections 50 --tokens 50000 --interval 5
//
// Three processes on 127.0.0.1: this one (autocannon, the table), an origin
// (a minimal Fastify app) and the gateway (buildGateway from the built dist,
// an ES256 policy with an inline JWK, the default verified-token cache), both
// forked from this same file. Every `--interval` seconds the gateway child is
// asked over IPC for `process.memoryUsage()` and its event-loop delay
// percentiles (perf_hooks.monitorEventLoopDelay, reset at each sample). The
// tokens are a pre-minted pool (50k by default) walked in turn: a token comes
// back only after the whole pool, long after the 1,000-entry cache dropped it,
// so every request is a full signature check and a cache insert/evict — the
// path where a leak would show. Tokens are never printed.
//
// Every child is stopped at the end, on an error and on Ctrl-C/SIGTERM; a
// child whose parent disappears exits on its own (IPC disconnect).

import { fork } from 'node:child_process'
import { once } from 'node:events'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const SELF = fileURLToPath(import.meta.url)
const PATH = '/api/hello'
const BODY = '{"hello":"world"}'
const MB = 1024 * 1024
/** Milliseconds between the event-loop delay monitor's samples. */
const RESOLUTION = 10

// ---------------------------------------------------------------------------
// Child roles: `node soak.mjs --child origin|gateway`, driven over IPC.

async function child (role) {
  const { default: Fastify } = await import('fastify')
  let app = null
  const exit = async (code) => {
    try { if (app !== null) await app.close() } finally { process.exit(code) }
  }
  // The parent is gone (killed, crashed): never outlive it.
  process.on('disconnect', () => exit(0))
  process.on('SIGTERM', () => exit(0))
  process.on('SIGINT', () => {}) // Ctrl-C reaches the whole group: the parent decides.

  let delay = null
  process.on('message', async (m) => {
    try {
      if (m?.cmd === 'start') {
        if (role === 'origin') {
          app = Fastify({ logger: false })
          app.get('/api/*', (_request, reply) => { reply.type('application/json').send(BODY) })
        } else {
          const { buildGateway } = await import('@fastify-jwt-gateway/gateway')
          app = await buildGateway({
            server: { logLevel: 'silent' },
            jwt: m.policy,
            routes: [{ prefix: '/api', upstream: m.upstream, rewritePrefix: '/api' }]
          }, { logger: false })
          const { monitorEventLoopDelay } = await import('node:perf_hooks')
          delay = monitorEventLoopDelay({ resolution: RESOLUTION })
          delay.enable()
        }
        await app.listen({ host: '127.0.0.1', port: 0 })
        process.send({ ready: true, port: app.server.address().port })
      } else if (m?.cmd === 'stats') {
        // Before and after the load only: a forced collection, so what is left is what the gateway keeps.
        if (m.gc === true && typeof globalThis.gc === 'function') globalThis.gc()
        const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
        // The histogram records the time between two ticks of a 10 ms timer:
        // the delay is what exceeds the 10 ms (as @fastify/under-pressure reads it).
        const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION)
        const eld = delay === null
          ? null
          : { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max), mean: ms(delay.mean) }
        delay?.reset()
        process.send({ stats: { rss, heapUsed, heapTotal, external, arrayBuffers, eld, handles: process.getActiveResourcesInfo().length } })
      } else if (m?.cmd === 'stop') {
        await exit(0)
      }
    } catch (err) {
      process.send({ error: err?.stack ?? String(err) }, () => process.exit(1))
    }
  })
}

// ---------------------------------------------------------------------------
// The parent.

const children = new Set()

function startChild (role, spec = {}) {
  const proc = fork(SELF, ['--child', role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] })
  children.add(proc)
  proc.once('exit', () => children.delete(proc))
  proc.send({ cmd: 'start', ...spec })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role}: not listening after 20 s`)), 20_000)
    proc.on('message', function onMessage (m) {
      if (m?.ready) {
        clearTimeout(timer)
        proc.off('message', onMessage)
        resolve({ proc, port: m.port })
      } else if (m?.error) {
        clearTimeout(timer)
        reject(new Error(`${role}: ${m.error}`))
      }
    })
    proc.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${role}: exited (${signal ?? code}) before listening`))
    })
  })
}

/** Polite stop over IPC, then SIGTERM, then SIGKILL; only our own children, by their handle. */
async function stopChild (proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = once(proc, 'exit').catch(() => {})
  const wait = (ms) => Promise.race([exited.then(() => true), new Promise((resolve) => setTimeout(resolve, ms, false).unref())])
  try { proc.send({ cmd: 'stop' }) } catch {}
  if (await wait(3000)) return
  proc.kill('SIGTERM')
  if (await wait(2000)) return
  proc.kill('SIGKILL')
  await wait(2000)
}

const stopAll = () => Promise.all([...children].map(stopChild))
// Last resort on any exit path: nothing we forked outlives us.
process.once('exit', () => { for (const proc of children) { try { proc.kill('SIGKILL') } catch {} } })

function ask (proc, { gc = false, timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('message', onMessage)
      reject(new Error('the gateway did not report its stats within 10 s'))
    }, timeout)
    function onMessage (m) {
      if (m?.stats === undefined) return
      clearTimeout(timer)
      proc.off('message', onMessage)
      resolve(m.stats)
    }
    proc.on('message', onMessage)
    proc.send({ cmd: 'stats', gc })
  })
}

function probe (port, token) {
  return new Promise((resolve, reject) => {
    const headers = token === null ? {} : { authorization: `Bearer ${token}` }
    const req = request({ host: '127.0.0.1', port, path: PATH, headers, timeout: 5000, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')))
    req.on('error', reject)
    req.end()
  })
}

function percentile (sorted, p) {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** Least-squares slope of y over x. */
function slope (xs, ys) {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my)
    den += (xs[i] - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

function table (head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/**
 * Flat: after the warm-up (the first quarter of the samples: the cache fills,
 * the JIT settles, the heap finds its size), RSS grows by less than 2 MB a
 * minute and ends within 10% of where the steady part started.
 */
function verdict (samples) {
  if (samples.length < 3) return { flat: null, line: `memory flat: n/a (${samples.length} sample(s): too short to tell)` }
  const warm = Math.max(1, Math.floor(samples.length / 4))
  const steady = samples.length - warm >= 2 ? samples.slice(warm) : samples
  const perMin = slope(steady.map((s) => s.t / 60), steady.map((s) => s.rssMB))
  const from = steady[0].rssMB
  const first = samples[0].rssMB
  const last = samples[samples.length - 1].rssMB
  const flat = perMin < 2 && last <= from * 1.1
  const sign = perMin >= 0 ? '+' : ''
  const few = steady.length < 4 ? '; few samples: indicative only' : ''
  return {
    flat,
    line: `memory flat: ${flat ? 'yes' : 'no'} (first→last RSS ${first.toFixed(1)}→${last.toFixed(1)} MB; ` +
      `slope ${sign}${perMin.toFixed(2)} MB/min over t=${steady[0].t}–${samples[samples.length - 1].t} s, after ${samples[warm - 1].t} s of warm-up, ` +
      `${from.toFixed(1)}→${last.toFixed(1)} MB there${few})`
  }
}

async function main () {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string' },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string', default: '50' },
      tokens: { type: 'string', default: '50000' },
      interval: { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (args.help) {
    console.log('usage: node benchmarks/soak.mjs [--duration 120 | --quick] [--connections 50] [--tokens 50000] [--interval 5]')
    return 0
  }
  const duration = Number(args.duration ?? (args.quick ? 15 : 120))
  const connections = Number(args.connections)
  const count = Number(args.tokens)
  const interval = Number(args.interval)
  for (const [name, v] of [['duration', duration], ['connections', connections], ['tokens', count], ['interval', interval]]) {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(v)}`)
  }

  const { makeKey, minter } = await import('./lib/keys.mjs')
  const { default: autocannon } = await import('autocannon')
  const os = await import('node:os')

  const key = makeKey('ES256')
  const started = Date.now()
  const mint = minter(key, { ttl: duration + 3600 })
  const tokens = new Array(count)
  for (let i = 0; i < count; i++) tokens[i] = mint(i)
  console.error(`soak: ${count.toLocaleString('en-US')} distinct ES256 tokens minted in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  const origin = await startChild('origin')
  const gateway = await startChild('gateway', { policy: key.policy, upstream: `http://127.0.0.1:${origin.port}` })
  const ok = await probe(gateway.port, tokens[0])
  if (ok.status !== 200 || ok.body !== BODY) throw new Error(`the gateway answered ${ok.status} to a valid token: ${ok.body.slice(0, 200)}`)
  const denied = await probe(gateway.port, null)
  if (denied.status !== 401) throw new Error(`the gateway answered ${denied.status} without a token: authentication is not on`)

  console.log(`soak: ${duration} s, ${connections} connections, ${count.toLocaleString('en-US')} distinct ES256 tokens in turn, ` +
    `GET ${PATH} through the gateway (node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`)

  const samples = []
  const rows = []
  let window = { requests: 0, non2xx: 0, errors: 0, latencies: [] }
  let next = 1
  const t0 = Date.now()
  const base = await ask(gateway.proc, { gc: true })
  console.log(`soak: gateway before load, after a full GC: RSS ${(base.rss / MB).toFixed(1)} MB, heap ${(base.heapUsed / MB).toFixed(1)} MB\n`)

  const instance = autocannon({
    url: `http://127.0.0.1:${gateway.port}`,
    connections,
    pipelining: 1,
    duration,
    // A hung gateway must not hang the soak.
    timeout: 10,
    requests: [{
      method: 'GET',
      path: PATH,
      setupRequest (req) {
        req.headers.authorization = `Bearer ${tokens[next]}`
        next = (next + 1) % count
        return req
      }
    }]
  })
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    window.requests++
    if (statusCode < 200 || statusCode > 299) window.non2xx++
    window.latencies.push(responseTime)
  })
  instance.on('reqError', () => { window.errors++ })

  let stopping = false
  const onSignal = (signal) => {
    if (stopping) return
    stopping = true
    console.error(`\n${signal}: stopping the load and ${children.size} child process(es)`)
    instance.stop()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  let last = t0
  let failedSample = null
  const sample = async () => {
    const w = window
    window = { requests: 0, non2xx: 0, errors: 0, latencies: [] }
    const now = Date.now()
    const secs = (now - last) / 1000
    last = now
    let s
    try {
      s = await ask(gateway.proc)
    } catch (err) {
      failedSample = err
      instance.stop()
      return
    }
    const t = Math.round((now - t0) / 1000)
    const lat = w.latencies.sort((a, b) => a - b)
    const row = { t, rps: w.requests / secs, non2xx: w.non2xx, errors: w.errors, p50: percentile(lat, 50), p99: percentile(lat, 99), rssMB: s.rss / MB, heapMB: s.heapUsed / MB, eld: s.eld, handles: s.handles }
    samples.push(row)
    rows.push([
      `${t}`, Math.round(row.rps).toLocaleString('en-US'), row.non2xx, row.errors, row.p50.toFixed(1), row.p99.toFixed(1),
      row.rssMB.toFixed(1), row.heapMB.toFixed(1), row.eld.p50.toFixed(1), row.eld.p99.toFixed(1), row.eld.max.toFixed(1), row.handles
    ])
    // Progress on stderr; the table goes to stdout at the end.
    console.error(`  t=${t}s  ${Math.round(row.rps)} req/s  RSS ${row.rssMB.toFixed(1)} MB  loop p99 ${row.eld.p99.toFixed(1)} ms`)
  }
  // One sample at a time; the last one may still be waiting for the child when the load ends.
  let inflight = Promise.resolve()
  const timer = setInterval(() => { inflight = inflight.then(sample) }, interval * 1000)
  const result = await instance
  clearInterval(timer)
  await inflight
  // The tail since the last sample, if long enough to mean something.
  if (!stopping && failedSample === null && Date.now() - last > interval * 500) await sample()

  console.log(table(
    ['t (s)', 'req/s', 'non-2xx', 'errors', 'lat p50', 'lat p99', 'RSS MB', 'heap MB', 'loop p50', 'loop p99', 'loop max', 'handles'],
    rows
  ))
  console.log('  lat: client-side latency in ms; loop: the gateway\'s event-loop delay in ms (monitorEventLoopDelay beyond its 10 ms timer); both per interval')
  const total = result.requests.total
  console.log(`\nsoak: ${total.toLocaleString('en-US')} requests in ${result.duration.toFixed(1)} s (${Math.round(total / result.duration).toLocaleString('en-US')} req/s), ` +
    `${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; pool walked ${(total / count).toFixed(2)}×`)
  if (failedSample === null) {
    // Idle for a moment (keep-alive sockets closed by autocannon), then what a full GC leaves.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const end = await ask(gateway.proc, { gc: true })
    console.log(`soak: gateway after load, after a full GC: RSS ${(base.rss / MB).toFixed(1)}→${(end.rss / MB).toFixed(1)} MB, ` +
      `heap ${(base.heapUsed / MB).toFixed(1)}→${(end.heapUsed / MB).toFixed(1)} MB, handles ${base.handles}→${end.handles}`)
  }
  const v = verdict(samples)
  console.log(v.line)
  if (failedSample !== null) throw failedSample
  if (stopping) return 130
  return 0
}

const roleAt = process.argv.indexOf('--child')
if (roleAt !== -1) {
  child(process.argv[roleAt + 1])
} else {
  let code = 1
  try {
    code = await main()
  } catch (err) {
    console.error(err)
  } finally {
    await stopAll()
  }
  process.exitCode = code
}
