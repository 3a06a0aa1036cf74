// Remote key sets ({ jwks }, { keyval }) against a real HTTP server on
// loopback: first load, rotation, removal, outages warm and cold, slow and
// broken servers, floods of unknown kids, Cache-Control, several sources.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import jwtAuth, { type KeySourceStatus } from '../src/index.js'
import { createRemoteSource, DEFAULT_JWKS_CACHE_TTL, DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_MAX_STALE, DEFAULT_JWKS_TIMEOUT, MAX_DOCUMENT_BYTES, RemoteSource } from '../src/remote-source.js'
import { ALL_ALGS, generateKeySet, keyFor, rawToken, sign, type Alg, type TestKey } from './helpers/keys.js'
import { jwksServer, sleep, until } from './helpers/jwks-server.js'
import { loggedApp } from './helpers/app.js'

const keys = generateKeySet()
const jwks = (...list: TestKey[]): { keys: Array<Record<string, unknown>> } => ({ keys: list.map((k) => k.jwk) })
/** Every token a test signed: no log line may contain one. */
const issued: string[] = []
const ALG: Record<string, Alg> = { hmac: 'HS256', rsa: 'RS256', rsa2: 'RS256', p256: 'ES256', p384: 'ES384', p521: 'ES512', ed25519: 'EdDSA' }
/** A token signed by `key` (its kid unless `kid` is given). */
const token = (key: TestKey, payload: Record<string, unknown> = {}, kid?: string): string => {
  const tok = sign(key, ALG[key.name] as Alg, { sub: 'u1', ...payload }, kid === undefined ? {} : { kid })
  issued.push(tok)
  return tok
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

async function call (app: FastifyInstance, tok: string): Promise<{ status: number, code: string | undefined, ms: number, www: string | undefined }> {
  const start = Date.now()
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${tok}` } })
  return { status: res.statusCode, code: res.statusCode === 200 ? undefined : res.json().code, ms: Date.now() - start, www: res.headers['www-authenticate'] as string | undefined }
}

/** 200, or 401 with its code. */
async function expect (tt: Test, app: FastifyInstance, tok: string, want: 200 | string, what: string): Promise<number> {
  const r = await call(app, tok)
  if (want === 200) tt.equal(r.status, 200, what)
  else tt.same({ status: r.status, code: r.code }, { status: 401, code: want }, what)
  return r.ms
}

t.test('defaults are the documented ones', async (t) => {
  t.equal(DEFAULT_JWKS_CACHE_TTL, 600)
  t.equal(DEFAULT_JWKS_TIMEOUT, 5000)
  t.equal(DEFAULT_JWKS_COOLDOWN, 30)
  t.equal(DEFAULT_JWKS_MAX_STALE, 86400)
  t.equal(MAX_DOCUMENT_BYTES, 256 * 1024)
})

t.test('a JWKS with every key type: RSA, EC P-256/384/521, OKP Ed25519, oct; enc and unusable keys skipped', async (t) => {
  const enc = { ...keys.rsa2.jwk, use: 'enc' }
  // An X25519 key (key agreement, not signatures) stands for a key we cannot verify with; secp256k1 is ES256K now.
  const k1 = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' })
  const srv = await jwksServer(t, {
    '/jwks.json': { json: { keys: [keys.rsa.jwk, keys.p256.jwk, keys.p384.jwk, keys.p521.jwk, keys.ed25519.jwk, keys.hmac.jwk, enc, { ...k1, kid: 'k1' }] } }
  })
  const { app, status, logs } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json') }], algorithms: ALL_ALGS }, issued)
  for (const alg of ALL_ALGS) {
    const key = keyFor(keys, alg)
    const tok = sign(key, alg, { sub: alg })
    issued.push(tok)
    await expect(t, app, tok, 200, `${alg} (${key.name}) accepted`)
  }
  // rsa-2 is published with use: "enc": not a signature key, so its tokens find no key.
  await expect(t, app, token(keys.rsa2), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'a key with use "enc" is ignored')
  const [s] = status() as [KeySourceStatus]
  t.same(s.kids, ['rsa-1', 'ec-256', 'ec-384', 'ec-521', 'ed-1', 'hmac-1'])
  t.match(s, { source: `jwks ${srv.url('/jwks.json')}`, kind: 'jwks', lastError: null, fetches: 1, usable: true, ttl: 600, stale: false })
  t.ok(typeof s.lastFetch === 'number' && typeof s.age === 'number' && s.age >= 0)
  t.ok(logs.some((l) => l.msg === 'jwt: keys skipped in the key set' && /keys\[7\]: unsupported key type 'x25519'/.test(l.jwks.skipped[0])), 'the unusable key is named in a warning')
  // The enc kid came within the default 30 s cooldown after the first load: no refetch.
  t.equal(srv.route('/jwks.json').hits, 1, 'one fetch in all')
})

t.test('keyval URL: kid → PEM', async (t) => {
  const srv = await jwksServer(t, { '/keyval': { json: { [keys.rsa.kid]: keys.rsa.publicPem, [keys.ed25519.kid]: keys.ed25519.publicPem } } })
  const { app, status } = await loggedApp(t, { keys: [{ keyval: srv.url('/keyval') }] }, issued)
  await expect(t, app, token(keys.rsa), 200, 'RSA from keyval')
  await expect(t, app, token(keys.ed25519), 200, 'Ed25519 from keyval')
  await expect(t, app, token(keys.p256), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'a kid the keyval lacks')
  t.same(status()[0]?.kids, ['rsa-1', 'ed-1'])
})

t.test('rotation: a kid published after start is fetched on first sight, once', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa) } })
  const { app } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), cooldown: 0.1 }] }, issued)
  const route = srv.route('/jwks.json')
  await expect(t, app, token(keys.rsa), 200, 'the first key')
  route.json = jwks(keys.rsa, keys.rsa2)
  await sleep(120)
  const ms = await expect(t, app, token(keys.rsa2), 200, 'the new kid, fetched on demand')
  t.ok(ms < 1000, `answered in ${ms} ms`)
  t.equal(route.hits, 2, 'start + one refetch')
  await expect(t, app, token(keys.rsa2, { sub: 'other' }), 200, 'the new kid again')
  t.equal(route.hits, 2, 'no more fetches for a known kid')
})

t.test('removal: a key dropped by the provider stops working at the next fetch, cached tokens too', async (t) => {
  t.test('next fetch caused by an unknown kid', async (t) => {
    const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa, keys.rsa2) } })
    const { app, status } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), cooldown: 0.1 }] }, issued)
    const route = srv.route('/jwks.json')
    const a = token(keys.rsa)
    const b = token(keys.rsa2)
    await expect(t, app, a, 200, 'accepted (now cached)')
    await expect(t, app, a, 200, 'accepted from the cache')
    route.json = jwks(keys.rsa2)
    await sleep(120)
    await expect(t, app, token(keys.p256, {}, 'not-there'), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'an unknown kid causes the next fetch')
    t.equal(route.hits, 2)
    t.same(status()[0]?.kids, ['rsa-2'])
    await expect(t, app, a, 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'the cached token of the removed key is refused')
    await expect(t, app, b, 200, 'the remaining key still works')
  })
  t.test('next fetch is the background refresh', async (t) => {
    const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa, keys.rsa2) } })
    const { app } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), cacheTtl: 0.25 }] }, issued)
    const route = srv.route('/jwks.json')
    const a = token(keys.rsa)
    await expect(t, app, a, 200, 'accepted')
    await expect(t, app, a, 200, 'accepted again (now cached: admitted on the second sight)')
    route.json = jwks(keys.rsa2)
    const ms = await until(() => route.hits >= 2, 2000, 5)
    t.ok(ms < 400, `background refresh ran ${ms} ms after the change (ttl 250 ms, refresh at ~80%)`)
    await sleep(20)
    await expect(t, app, a, 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'the cached token of the removed key is refused')
  })
})

t.test('outage with a warm cache: last good set served, then fail closed past maxStale, then recovery', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa) } })
  const { app, status, logs } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), cacheTtl: 0.2, maxStale: 0.6 }] }, issued)
  const route = srv.route('/jwks.json')
  const cached = token(keys.rsa)
  await expect(t, app, cached, 200, 'accepted before the outage')
  await expect(t, app, cached, 200, 'accepted again (now cached: admitted on the second sight)')
  route.status = 503
  await until(() => (status()[0]?.lastError ?? '') === 'HTTP 503', 2000, 5)
  await expect(t, app, token(keys.rsa, { sub: 'fresh' }), 200, '5xx: a new token with a known key is accepted')
  route.status = 200
  route.fault = 'reset'
  await until(() => /fetch failed/.test(status()[0]?.lastError ?? ''), 2000, 5)
  await expect(t, app, token(keys.rsa, { sub: 'fresh2' }), 200, 'connection reset: still accepted')
  t.match(status()[0], { usable: true, stale: true })
  t.ok(logs.some((l) => l.level === 40 && l.msg === 'jwt: key set fetch failed; serving the last good set'), 'a warning says the last good set is served')
  // ttl 0.2 s + maxStale 0.6 s after the last good fetch: fail closed.
  const closedAfter = await until(() => status()[0]?.usable === false, 3000, 5)
  t.ok(closedAfter < 1000, `failed closed ${closedAfter} ms into the outage`)
  await expect(t, app, cached, 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', 'past maxStale even the cached token is refused')
  t.ok(logs.some((l) => l.level === 50 && l.msg === 'jwt: the last good key set is older than maxStale; failing closed'))
  route.fault = null
  const back = await until(() => status()[0]?.usable === true, 3000, 5)
  t.ok(back < 1000, `recovered ${back} ms after the server came back (retry backoff capped at the refresh interval)`)
  await expect(t, app, cached, 200, 'accepted again after recovery')
})

t.test('outage cold: the app starts, answers 401 within the timeout, recovers when the server returns', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa), fault: 'hang' } })
  const start = Date.now()
  const { app, status, logs } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), timeout: 300, cooldown: 0.2 }] }, issued)
  const readyMs = Date.now() - start
  t.ok(readyMs >= 250 && readyMs < 1500, `ready in ${readyMs} ms (timeout 300 ms)`)
  t.match(status()[0], { usable: false, lastError: 'timed out after 300 ms', lastFetch: null, fetches: 1 })
  t.ok(logs.some((l) => l.level === 50 && l.jwks?.error === 'timed out after 300 ms'), 'the log says why')
  const tok = token(keys.rsa)
  const r = await call(app, tok)
  t.same({ status: r.status, code: r.code }, { status: 401, code: 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE' })
  t.equal(r.www, 'Bearer realm="api", error="invalid_token", error_description="The signing keys are unavailable"')
  t.ok(r.ms < 150, `answered in ${r.ms} ms (within the cooldown after the failed start: no fetch)`)
  await sleep(220)
  // Past the cooldown the request triggers a fetch, which times out: bounded by the timeout.
  const ms = await expect(t, app, tok, 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', 'a fetch that hangs again')
  t.ok(ms >= 250 && ms < 1000, `answered in ${ms} ms (timeout 300 ms)`)
  srv.route('/jwks.json').fault = null
  await sleep(220)
  await expect(t, app, tok, 200, 'the server is back: accepted')
  t.match(status()[0], { usable: true, lastError: null })
  t.ok(logs.some((l) => l.msg === 'jwt: key set loaded after a failure'))
})

t.test('refused connection at start: fast 401, background retries with backoff recover', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa) } })
  const port = srv.port
  await srv.close()
  const { app, status } = await loggedApp(t, { keys: [{ jwks: `http://127.0.0.1:${port}/jwks.json`, cacheTtl: 1 }] }, issued)
  t.match(status()[0]?.lastError, /^fetch failed: ECONNREFUSED/)
  await expect(t, app, token(keys.rsa), 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', 'no keys, no hang')
  // Bring a server up on the same port: the retry timer (~0.8 s here) finds it.
  const { createServer } = await import('node:http')
  const again = createServer((_req, res) => res.end(JSON.stringify(jwks(keys.rsa))))
  await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { again.close(() => resolve()); again.closeAllConnections() }))
  const ms = await until(() => status()[0]?.usable === true, 3000, 10)
  t.ok(ms < 1500, `recovered by a background retry after ${ms} ms`)
  await expect(t, app, token(keys.rsa), 200, 'accepted')
})

t.test('retries after a failure back off exponentially, up to a cap', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa), status: 500 } })
  const route = srv.route('/jwks.json')
  const log = { info () {}, warn () {}, error () {} }
  const source = createRemoteSource({ kind: 'jwks', url: srv.url('/jwks.json'), retryMin: 50, retryMax: 200 }, log)
  t.teardown(() => source.close())
  await source.start()
  await until(() => route.hits >= 6, 4000, 5)
  const gaps = route.times.slice(1, 6).map((at, i) => at - (route.times[i] as number))
  const expected = [50, 100, 200, 200, 200]
  t.comment(`retry gaps ${gaps.join(', ')} ms (expected ${expected.join(', ')} minus up to 10% jitter)`)
  gaps.forEach((gap, i) => {
    const want = expected[i] as number
    t.ok(gap >= want * 0.9 - 5 && gap < want + 150, `retry ${i + 1} after ${gap} ms (~${want})`)
  })
  route.status = 200
  await until(() => source.usable(), 2000, 5)
  const n = route.hits
  await sleep(300)
  t.equal(route.hits, n, 'after a success, no more retries (next fetch at the refresh, 8 min away)')
})

t.test('slow server: every fetch is bounded by the timeout', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa), delay: 3000 } })
  const start = Date.now()
  const { app, status } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), timeout: 200, cooldown: 0 }] }, issued)
  const readyMs = Date.now() - start
  t.ok(readyMs < 1000, `ready in ${readyMs} ms despite a 3 s server`)
  t.equal(status()[0]?.lastError, 'timed out after 200 ms')
  const ms = await expect(t, app, token(keys.rsa), 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', 'no hang')
  t.ok(ms >= 150 && ms < 800, `401 after ${ms} ms (one fetch, timeout 200 ms)`)
  // A body that trickles in is under the same deadline as the headers.
  srv.route('/jwks.json').delay = 0
  srv.route('/jwks.json').fault = 'hang'
  const ms2 = await expect(t, app, token(keys.rsa), 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', 'a server that never answers')
  t.ok(ms2 < 800, `401 after ${ms2} ms`)
})

t.test('a flood of random kids causes a handful of fetches', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa) } })
  const { app, status } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), cooldown: 0.3 }] }, issued)
  const route = srv.route('/jwks.json')
  await sleep(320)

  // An attacker's flood: well-formed tokens with random kids. Their signature
  // is never reached (no key has the kid), so it need not be real.
  const forged = (): string => rawToken({ alg: 'RS256', kid: randomUUID() }, { sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 })
  const burstTokens = Array.from({ length: 200 }, forged)
  const spreadTokens = Array.from({ length: 200 }, forged)

  // 200 at once: they all join one fetch (single flight).
  const burst = await Promise.all(burstTokens.map((tok) => call(app, tok)))
  t.ok(burst.every((r) => r.status === 401 && r.code === 'FJG_ERR_TOKEN_KEY_UNKNOWN'), '200 × 401 unknown key')
  const burstFetches = route.hits - 1
  t.equal(burstFetches, 1, '200 concurrent random kids → 1 fetch')

  // 200 more over ~1 s (10 waves of 20, 100 ms apart): one fetch per 0.3 s cooldown at most, and at least one.
  const before = route.hits
  const spreadStart = Date.now()
  for (let wave = 0; wave < 10; wave++) {
    const answers = await Promise.all(spreadTokens.slice(wave * 20, wave * 20 + 20).map((tok) => call(app, tok)))
    for (const r of answers) if (r.code !== 'FJG_ERR_TOKEN_KEY_UNKNOWN') t.fail(`unexpected ${r.status} ${r.code}`)
    await sleep(spreadStart + (wave + 1) * 100 - Date.now())
  }
  const spreadMs = Date.now() - spreadStart
  const spreadFetches = route.hits - before
  const bound = Math.ceil(spreadMs / 300) + 1
  t.ok(spreadFetches >= 1 && spreadFetches <= bound, `200 kids over ${spreadMs} ms → ${spreadFetches} fetches (bound ${bound})`)
  t.equal(status()[0]?.fetches, route.hits, 'status counts every fetch')
  t.comment(`flood: burst 200 → ${burstFetches} fetch; spread 200 over ${spreadMs} ms → ${spreadFetches} fetches`)

  // A kid found unknown by a good fetch is remembered for 2 × cooldown: past the
  // cooldown it does not refetch, while a new kid does.
  await sleep(320)
  const n0 = route.hits
  await expect(t, app, token(keys.rsa2, {}, 'bogus'), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'bogus kid')
  t.equal(route.hits, n0 + 1, 'first sight of "bogus": one fetch')
  await sleep(400)
  await expect(t, app, token(keys.rsa2, {}, 'bogus'), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'bogus kid again')
  t.equal(route.hits, n0 + 1, 'remembered: no fetch although the cooldown is over')
  await expect(t, app, token(keys.rsa2, {}, 'fresh-kid'), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'another kid')
  t.equal(route.hits, n0 + 2, 'a kid not remembered still refetches')
})

t.test('Cache-Control max-age is honoured within bounds', async (t) => {
  t.test('max-age sets the refresh interval', async (t) => {
    const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa), headers: { 'cache-control': 'public, max-age=1' } } })
    const { status } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), cacheTtl: 0.1 }] }, issued)
    const route = srv.route('/jwks.json')
    t.equal(status()[0]?.ttl, 1, 'ttl from max-age (cacheTtl 0.1 s lowers the 60 s floor)')
    await sleep(500)
    t.equal(route.hits, 1, 'no refetch at 0.5 s although cacheTtl is 0.1 s')
    await until(() => route.hits >= 2, 2000, 5)
    const gap = (route.times[1] as number) - (route.times[0] as number)
    t.ok(gap >= 700 && gap <= 1100, `background refresh ${gap} ms after the first fetch (max-age 1 s, refresh at 80-90%)`)
  })
  const cases: Array<[string, Record<string, string>, number]> = [
    ['max-age above the ceiling is clamped to 24 h', { 'cache-control': 'max-age=999999999' }, 86400],
    ['max-age below the floor is raised to 60 s', { 'cache-control': 'max-age=5' }, 60],
    ['no-store means the floor', { 'cache-control': 'no-store' }, 60],
    ['Age already spent in a cache is subtracted', { 'cache-control': 'max-age=500', age: '100' }, 400],
    ['no Cache-Control: cacheTtl', {}, 600]
  ]
  for (const [name, headers, ttl] of cases) {
    t.test(name, async (t) => {
      const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa), headers } })
      const { status } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json') }] }, issued)
      t.equal(status()[0]?.ttl, ttl)
    })
  }
})

t.test('several sources are fetched in parallel and combined', async (t) => {
  const a = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa), delay: 300 } })
  const b = await jwksServer(t, { '/jwks.json': { json: jwks(keys.p256), delay: 300 } })
  const c = await jwksServer(t, { '/keyval': { json: { [keys.ed25519.kid]: keys.ed25519.publicPem }, delay: 300 } })
  const start = Date.now()
  const { app, status } = await loggedApp(t, {
    keys: [{ jwks: a.url('/jwks.json') }, { jwks: b.url('/jwks.json') }, { keyval: c.url('/keyval') }],
    secret: 'a-local-secret-that-is-long-enough-for-hs256'
  }, issued)
  const ms = Date.now() - start
  t.ok(ms >= 280 && ms < 800, `three 300 ms sources ready in ${ms} ms (in sequence: ≥ 900 ms)`)
  await expect(t, app, token(keys.rsa), 200, 'RSA from the first JWKS')
  await expect(t, app, token(keys.p256), 200, 'EC from the second JWKS')
  await expect(t, app, token(keys.ed25519), 200, 'Ed25519 from the keyval URL')
  const s = status()
  t.same(s.map((x) => x.source), ['secret', `jwks ${a.url('/jwks.json')}`, `jwks ${b.url('/jwks.json')}`, `keyval ${c.url('/keyval')}`])
  t.same(s.map((x) => x.kids), [[null], ['rsa-1'], ['ec-256'], ['ed-1']])
})

t.test('broken answers are logged errors, never a crash; the last good set stays', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa) } })
  const { app, status, logs } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json'), cacheTtl: 0.1 }] }, issued)
  const route = srv.route('/jwks.json')
  const faults: Array<[string, () => void, RegExp]> = [
    ['huge body, no content-length', () => { route.fault = 'huge' }, /^the body is larger than 262144 bytes$/],
    ['huge body, content-length', () => { route.fault = null; route.body = ' '.repeat(300 * 1024) }, /content-length 307200/],
    ['non-JSON', () => { route.body = null; route.fault = 'non-json' }, /^the body is not JSON \(text\/html\)$/],
    ['truncated JSON', () => { route.fault = 'truncated' }, /^the body is not JSON \(application\/json, error at position \d+\)$/],
    ['404', () => { route.fault = null; route.status = 404 }, /^HTTP 404$/],
    ['not a JWKS', () => { route.status = 200; route.json = { keys: 'nope' } }, /a JWKS must be an object with a "keys" array/],
    ['no usable key', () => { route.json = { keys: [{ ...keys.rsa.jwk, use: 'enc' }] } }, /no usable signature key/],
    ['a JWK with a private part', () => { route.json = { keys: [{ ...keys.rsa.jwk, d: 'AAAA' }] } }, /private key/]
  ]
  for (const [name, inject, error] of faults) {
    inject()
    await until(() => error.test(status()[0]?.lastError ?? ''), 2000, 5).catch(() => {})
    t.match(status()[0]?.lastError, error, `${name}: lastError`)
    await expect(t, app, token(keys.rsa), 200, `${name}: the last good set still verifies`)
  }
  t.ok(logs.filter((l) => l.jwks?.error !== undefined).length >= faults.length, 'each failure is logged')
  route.json = jwks(keys.rsa2)
  await until(() => status()[0]?.lastError === null, 2000, 5)
  await expect(t, app, token(keys.rsa2), 200, 'a good answer again replaces the set')
})

t.test('cold start with a broken body: 401, not a crash', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { fault: 'huge', hugeSize: 10 * 1024 * 1024 } })
  const start = Date.now()
  const { app, status } = await loggedApp(t, { keys: [{ jwks: srv.url('/jwks.json') }] }, issued)
  t.ok(Date.now() - start < 2000, 'the cap stops the download early')
  t.equal(status()[0]?.lastError, 'the body is larger than 262144 bytes')
  await expect(t, app, token(keys.rsa), 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', '401 keys unavailable')
})

t.test('close() stops every timer: no fetch after the app closes', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa) } })
  const app = Fastify()
  await app.register(jwtAuth, { keys: [{ jwks: srv.url('/jwks.json'), cacheTtl: 0.1 }] })
  await app.ready()
  await until(() => srv.route('/jwks.json').hits >= 2, 2000, 5)
  await app.close()
  const n = srv.route('/jwks.json').hits
  await sleep(300)
  t.equal(srv.route('/jwks.json').hits, n, 'no fetch after close')
})

t.test('a source used without start() loads on first need', async (t) => {
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(keys.rsa) } })
  const log = { info () {}, warn () {}, error () {} }
  const source = createRemoteSource({ kind: 'jwks', url: srv.url('/jwks.json') }, log) as RemoteSource
  t.teardown(() => source.close())
  t.equal(source.usable(), false)
  let changes = 0
  source.onChange(() => changes++)
  const p = source.refreshForKid('rsa-1')
  t.ok(p !== null, 'a fetch starts')
  t.ok(source.refreshForKid('other') !== null, 'a second kid joins the flight in progress')
  await p
  t.equal(srv.route('/jwks.json').hits, 1, 'single flight: one request')
  t.equal(changes, 1)
  t.same(source.keys().map((k) => k.kid), ['rsa-1'])
  await source.start()
  t.equal(srv.route('/jwks.json').hits, 1, 'start() after a load does not fetch again')
  source.close()
  t.equal(source.refreshForKid('x'), null, 'closed: no fetch')
})

t.test('option errors name the key source', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(jwtAuth, { keys: [{ jwks: 'http://[::1' }] })
  await t.rejects(async () => { await app.ready() }, { code: 'FJG_ERR_OPTION_KEY', message: /keys\[0\]\.jwks: "jwks" must be an absolute http\(s\) URL/ })
  const app2 = Fastify()
  t.teardown(() => app2.close())
  app2.register(jwtAuth, { keys: [{ issuer: 'https://id.example/?tenant=a' }] })
  await t.rejects(async () => { await app2.ready() }, { code: 'FJG_ERR_OPTION_KEY', message: /keys\[0\]\.issuer: "issuer" must not have a query or fragment/ })
})
