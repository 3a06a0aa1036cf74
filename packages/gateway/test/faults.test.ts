// Fault injection through the real gateway (issue 7, item 4): a JWKS endpoint
// and an upstream that hang, reset connections, answer 500, huge or non-JSON
// bodies, answer slowly, or are not there at all. Everything is a real server
// on 127.0.0.1:0 and every request goes over a socket with fetch; no mocks.
// Each fault is followed by a normal request that must get 200: a fault is
// answered, and it leaves nothing behind that breaks the next request.
//
// Timeouts are small (key source `timeout` in ms, `cooldown`/`cacheTtl`/
// `maxStale` in s, route `timeout` in ms) so the file runs in well under 20 s.
// Every client request has its own deadline: a hang fails the assertion that
// waited for it, never the whole run.
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import t from 'tap'
import { Agent, fetch as undiciFetch } from 'undici'
import type { FastifyInstance } from 'fastify'
import type { KeySourceStatus } from '@fastify-jwt-gateway/jwt-auth'
import type { GatewayConfig } from '../src/index.js'
import { jwksServer, sleep, until, type JwksServer } from '../../jwt-auth/test/helpers/jwks-server.js'
import { sign, type TestKey } from '../../jwt-auth/test/helpers/keys.js'
import { collect as logCollector, freePort as closedPort, startGateway } from './helpers/servers.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

function ecKey (kid: string): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    name: kid,
    kid,
    signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    jwk: { ...publicKey.export({ format: 'jwk' }), kid },
    privateKey
  }
}

const k1 = ecKey('ec-1')
/** Published only when a key set "rotates" during recovery. */
const k2 = ecKey('ec-2')
const jwks = (...list: TestKey[]): { keys: Array<Record<string, unknown>> } => ({ keys: list.map((k) => k.jwk) })

/** Every token minted here: no log line may contain one. */
const issued: string[] = []
let serial = 0
/** A fresh ES256 token (a new `jti` each time: never a verified-token cache hit). */
function token (key: TestKey = k1): string {
  const tok = sign(key, 'ES256', { sub: 'user-1', jti: `j-${++serial}` })
  issued.push(tok)
  return tok
}

const REALM = 'api'
const KEYS_UNAVAILABLE_CHALLENGE = `Bearer realm="${REALM}", error="invalid_token", error_description="The signing keys are unavailable"`
const KEY_UNKNOWN_CHALLENGE = `Bearer realm="${REALM}", error="invalid_token", error_description="No key matches the token"`
const KEYS_UNAVAILABLE_BODY = { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', message: 'The signing keys are unavailable' }
const UPSTREAM_TIMEOUT_BODY = { statusCode: 504, error: 'Gateway Timeout', code: 'FJG_ERR_UPSTREAM_TIMEOUT', message: 'The upstream server did not answer in time' }
const UPSTREAM_UNAVAILABLE_BODY = { statusCode: 502, error: 'Bad Gateway', code: 'FJG_ERR_UPSTREAM_UNAVAILABLE', message: 'The upstream server is unavailable' }

interface Answer {
  status: number
  body: any
  www: string | null
  ms: number
}

/**
 * One GET with fetch, bounded by `deadline` ms on the client side: a gateway
 * that hangs makes this reject with a message saying so.
 */
async function get (url: string, tok: string | null = null, deadline = 4000): Promise<Answer> {
  const started = Date.now()
  let res: Response
  let text: string
  try {
    res = await fetch(url, { headers: tok === null ? {} : { authorization: `Bearer ${tok}` }, signal: AbortSignal.timeout(deadline) })
    text = await res.text()
  } catch (err) {
    throw new Error(`GET ${new URL(url).pathname}: no complete answer within ${deadline} ms (${(err as Error).name}: ${(err as Error).message})`)
  }
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body, www: res.headers.get('www-authenticate'), ms: Date.now() - started }
}

interface Gw { app: FastifyInstance, url: string, logs: Array<Record<string, any>>, status: () => KeySourceStatus }

/** The gateway on 127.0.0.1:0; at teardown, no log line may hold a token. */
async function gateway (tt: Test, config: GatewayConfig): Promise<Gw> {
  const logs: Array<Record<string, any>> = []
  tt.teardown(() => {
    const text = JSON.stringify(logs)
    for (const tok of issued) if (text.includes(tok)) tt.fail('a log line contains a token')
  })
  const { app, url } = await startGateway(tt, config, { logger: logCollector(logs) })
  return { app, url, logs, status: () => app.jwtAuth.keyStatus()[0] as KeySourceStatus }
}

// ---------------------------------------------------------------------------
// Upstreams

/**
 * An upstream whose behaviour is picked by the path:
 *   /hang          accepts, never answers
 *   /reset         destroys the socket without an answer
 *   /slow/<ms>     answers 200 after <ms>
 *   /drip/<n>/<ms> 200 at once, then <n> body chunks <ms> apart
 *   /stall         200 and half a JSON body, then nothing
 *   /cut           200 and half a chunked JSON body, then the socket is destroyed
 *   anything else  200 { ok: true, url }
 * `sockets` are the connections it holds open; `closed` counts those the gateway closed.
 */
interface FaultyUpstream { url: string, server: Server, seen: string[], open: Set<Socket>, closed: number }

async function faultyUpstream (tt: Test): Promise<FaultyUpstream> {
  const up: FaultyUpstream = { url: '', server: null as unknown as Server, seen: [], open: new Set(), closed: 0 }
  const timers = new Set<NodeJS.Timeout>()
  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => { timers.delete(timer); fn() }, ms)
    timers.add(timer)
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/'
    up.seen.push(path)
    req.resume()
    res.on('error', () => {})
    if (path === '/hang') return
    if (path === '/reset') {
      req.socket.destroy()
      return
    }
    if (path.startsWith('/slow/')) {
      later(Number(path.slice(6)), () => { if (!res.destroyed) res.end(JSON.stringify({ ok: true, url: path })) })
      return
    }
    if (path.startsWith('/drip/')) {
      const [n, ms] = path.slice(6).split('/').map(Number) as [number, number]
      res.writeHead(200, { 'content-type': 'text/plain' })
      let left = n
      const drip = (): void => {
        if (res.destroyed) return
        if (left-- === 0) {
          res.end('end')
          return
        }
        res.write('chunk;')
        later(ms, drip)
      }
      drip()
      return
    }
    if (path === '/stall' || path === '/cut') {
      const body = JSON.stringify({ ok: true, padding: 'x'.repeat(1000) })
      // /stall announces its length, /cut is chunked: the client must see both as broken.
      res.writeHead(200, path === '/stall' ? { 'content-type': 'application/json', 'content-length': String(body.length) } : { 'content-type': 'application/json' })
      res.write(body.slice(0, 500))
      if (path === '/cut') later(50, () => req.socket.destroy())
      return
    }
    const body = JSON.stringify({ ok: true, url: path })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
    res.end(body)
  })
  server.on('connection', (socket: Socket) => {
    up.open.add(socket)
    socket.on('close', () => {
      up.open.delete(socket)
      up.closed++
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  tt.teardown(async () => {
    for (const timer of timers) clearTimeout(timer)
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  up.server = server
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return up
}

// ---------------------------------------------------------------------------
// JWKS endpoint faults

interface JwksFault {
  name: string
  inject: (srv: JwksServer) => void
  /** The key source's `lastError` once a fetch met the fault. */
  error: RegExp
}

const TIMEOUT = 400
const JWKS_FAULTS: JwksFault[] = [
  { name: 'hanging', inject: (s) => { s.route('/jwks.json').fault = 'hang' }, error: new RegExp(`^timed out after ${TIMEOUT} ms$`) },
  { name: 'resetting connections', inject: (s) => { s.route('/jwks.json').fault = 'reset' }, error: /^fetch failed: / },
  // The body of the 500 is a valid key set: the status alone must make it a failure.
  { name: 'answering 500', inject: (s) => { s.route('/jwks.json').status = 500 }, error: /^HTTP 500$/ },
  { name: 'answering a huge body (1 MiB, no content-length)', inject: (s) => { s.route('/jwks.json').fault = 'huge' }, error: /^the body is larger than 262144 bytes$/ },
  { name: 'answering non-JSON', inject: (s) => { s.route('/jwks.json').fault = 'non-json' }, error: /^the body is not JSON \(text\/html\)$/ }
]

function heal (srv: JwksServer, doc: unknown): void {
  const r = srv.route('/jwks.json')
  r.fault = null
  r.status = 200
  r.json = doc
}

/** A gateway whose `/api` is behind the remote key set and `/open` is not. */
function jwksConfig (jwksUrl: string, upstream: string, source: { timeout?: number, cooldown?: number, cacheTtl?: number, maxStale?: number }): GatewayConfig {
  return {
    jwt: { realm: REALM, keys: [{ jwks: jwksUrl, ...source }] },
    routes: [
      { prefix: '/api', upstream, rewritePrefix: '/api' },
      { prefix: '/open', upstream, jwt: false }
    ]
  }
}

function isKeysUnavailable (tt: Test, r: Answer, what: string): void {
  tt.same({ status: r.status, body: r.body, www: r.www }, { status: 401, body: KEYS_UNAVAILABLE_BODY, www: KEYS_UNAVAILABLE_CHALLENGE }, what)
}

t.test('JWKS endpoint faults, cold (nothing cached): 401 FJG_ERR_TOKEN_KEYS_UNAVAILABLE within the timeout, then recovery', async (t) => {
  const up = await faultyUpstream(t)
  for (const fault of JWKS_FAULTS) {
    await t.test(fault.name, async (t) => {
      const srv = await jwksServer(t, { '/jwks.json': { json: jwks(k1) } })
      fault.inject(srv)
      const started = Date.now()
      const gw = await gateway(t, jwksConfig(srv.url('/jwks.json'), up.url, { timeout: TIMEOUT, cooldown: 0.3, cacheTtl: 60, maxStale: 60 }))
      const readyMs = Date.now() - started
      t.ok(readyMs < TIMEOUT + 1500, `the gateway started in ${readyMs} ms: the first fetch is bounded by the timeout`)
      t.match(gw.status(), { usable: false, lastFetch: null, lastError: fault.error }, 'the source says why it has no keys')
      t.ok(gw.logs.some((l) => l.level === 50 && fault.error.test(l.jwks?.error ?? '')), 'an error line says why')
      const health = await get(`${gw.url}/__gateway/health`)
      t.match(health, { status: 200, body: { status: 'ok', keys: [{ usable: false, lastError: fault.error }] } }, 'the health route reports it')

      const tok = token()
      const reached = up.seen.length
      isKeysUnavailable(t, await get(`${gw.url}/api/leads`, tok), 'within the cooldown: answered at once')
      await sleep(350)
      const hits = srv.route('/jwks.json').hits
      // Past the cooldown a request starts a fetch, which meets the fault again.
      const r = await get(`${gw.url}/api/leads`, tok)
      isKeysUnavailable(t, r, 'past the cooldown: the request waited for a fetch, then 401')
      t.ok(r.ms < TIMEOUT + 1500, `answered in ${r.ms} ms (timeout ${TIMEOUT} ms)`)
      t.ok(srv.route('/jwks.json').hits > hits || gw.status().fetches > 1, 'the endpoint was asked again')

      // The gateway itself is fine: an open route answers.
      t.match(await get(`${gw.url}/open/x`), { status: 200, body: { ok: true, url: '/x' } }, 'the next normal request: 200')
      t.same(up.seen.slice(reached), ['/x'], 'no request without keys reached the upstream')

      // Recovery: the endpoint works again; the next allowed fetch (a request
      // past the cooldown, or a background retry) loads the set.
      heal(srv, jwks(k1))
      const answers: number[] = []
      for (let i = 0; i < 40 && answers.at(-1) !== 200; i++) {
        const a = await get(`${gw.url}/api/leads`, tok)
        if (a.status !== 200) isKeysUnavailable(t, a, 'until the next allowed fetch: still 401, never a hang or a 5xx')
        answers.push(a.status)
        if (a.status !== 200) await sleep(100)
      }
      t.equal(answers.at(-1), 200, `recovered after ${answers.length} request(s)`)
      t.match(gw.status(), { usable: true, lastError: null })
      t.match(await get(`${gw.url}/api/leads`, token()), { status: 200, body: { ok: true, url: '/api/leads' } }, 'a fresh token: 200')
    })
  }
})

t.test('JWKS endpoint hanging, cold: concurrent requests join one fetch and are all answered at its timeout', async (t) => {
  const up = await faultyUpstream(t)
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(k1), fault: 'hang' } })
  const gw = await gateway(t, jwksConfig(srv.url('/jwks.json'), up.url, { timeout: TIMEOUT, cooldown: 0.3, cacheTtl: 60 }))
  await sleep(350)
  const before = srv.route('/jwks.json').hits
  const answers = await Promise.all(Array.from({ length: 30 }, () => get(`${gw.url}/api/leads`, token())))
  for (const a of answers) isKeysUnavailable(t, a, '401, not a hang')
  const slowest = Math.max(...answers.map((a) => a.ms))
  t.ok(slowest < TIMEOUT + 1500, `the slowest of 30 answered in ${slowest} ms (timeout ${TIMEOUT} ms)`)
  t.ok(srv.route('/jwks.json').hits - before <= 1, `30 requests made ${srv.route('/jwks.json').hits - before} fetch (single flight)`)
  t.match(await get(`${gw.url}/open/x`), { status: 200 }, 'the next normal request: 200')
})

t.test('JWKS endpoint that sends its headers, then drips its body: the timeout covers the body too', async (t) => {
  const up = await faultyUpstream(t)
  const timers = new Set<NodeJS.Timeout>()
  const drip = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"keys":[')
    const timer = setInterval(() => res.write(' '), 50)
    timers.add(timer)
    res.on('close', () => clearInterval(timer))
  })
  drip.listen(0, '127.0.0.1')
  await once(drip, 'listening')
  t.teardown(async () => {
    for (const timer of timers) clearInterval(timer)
    drip.closeAllConnections()
    await new Promise((resolve) => drip.close(resolve))
  })
  const started = Date.now()
  const gw = await gateway(t, jwksConfig(`http://127.0.0.1:${(drip.address() as AddressInfo).port}/jwks.json`, up.url, { timeout: TIMEOUT, cooldown: 0.3 }))
  const readyMs = Date.now() - started
  t.ok(readyMs >= TIMEOUT - 20 && readyMs < TIMEOUT + 1500, `started in ${readyMs} ms: the body was cut at the timeout`)
  t.match(gw.status(), { usable: false, lastError: `timed out after ${TIMEOUT} ms` })
  await sleep(350)
  const r = await get(`${gw.url}/api/leads`, token())
  isKeysUnavailable(t, r, 'a request that waited for a dripping fetch: 401')
  t.ok(r.ms < TIMEOUT + 1500, `answered in ${r.ms} ms`)
  t.match(await get(`${gw.url}/open/x`), { status: 200 }, 'the next normal request: 200')
})

t.test('JWKS endpoint faults, warm: the last good set is kept (200), an unknown kid is 401, recovery loads the new set', async (t) => {
  const up = await faultyUpstream(t)
  for (const fault of JWKS_FAULTS) {
    await t.test(fault.name, async (t) => {
      const srv = await jwksServer(t, { '/jwks.json': { json: jwks(k1) } })
      // cacheTtl 0.3 s: a background refresh every ~0.25 s meets the fault soon.
      const gw = await gateway(t, jwksConfig(srv.url('/jwks.json'), up.url, { timeout: TIMEOUT, cooldown: 0.3, cacheTtl: 0.3, maxStale: 60 }))
      const cached = token()
      t.match(await get(`${gw.url}/api/leads`, cached), { status: 200, body: { ok: true } }, 'before the fault: 200')
      t.equal((await get(`${gw.url}/api/leads`, cached)).status, 200, 'again: now cached (admitted on the second sight)')
      const hits = srv.route('/jwks.json').hits
      fault.inject(srv)
      if (fault.name === 'hanging') {
        // A refresh is now hanging: a request with a known kid does not wait for it.
        await until(() => srv.route('/jwks.json').hits > hits, 3000, 2)
        const r = await get(`${gw.url}/api/leads`, token())
        t.equal(r.status, 200, `a new token while a refresh hangs: 200 in ${r.ms} ms`)
        t.equal(gw.status().lastError, null, '...answered before the hanging fetch timed out')
      }
      await until(() => fault.error.test(gw.status().lastError ?? ''), 4000, 5)
      t.match(gw.status(), { usable: true, lastError: fault.error }, 'the fault was met; the set is kept')
      t.ok(gw.logs.some((l) => l.level === 40 && l.msg === 'jwt: key set fetch failed; serving the last good set'), 'a warning says the last good set is served')
      t.match(await get(`${gw.url}/api/leads`, token()), { status: 200, body: { ok: true } }, 'a new token (not cached): 200 from the last good set')
      t.match(await get(`${gw.url}/api/leads`, cached), { status: 200 }, 'the cached token: 200')

      // A kid the set does not have: a refetch (outside the cooldown) meets the fault; never a hang.
      const unknown = await get(`${gw.url}/api/leads`, token(k2))
      t.same({ status: unknown.status, code: unknown.body.code, www: unknown.www }, { status: 401, code: 'FJG_ERR_TOKEN_KEY_UNKNOWN', www: KEY_UNKNOWN_CHALLENGE }, 'an unknown kid: 401 FJG_ERR_TOKEN_KEY_UNKNOWN')
      t.ok(unknown.ms < TIMEOUT + 1500, `answered in ${unknown.ms} ms`)
      t.match(await get(`${gw.url}/open/x`), { status: 200 }, 'the next normal request: 200')

      // Recovery with a rotated set: the next background retry loads it.
      heal(srv, jwks(k1, k2))
      await until(() => gw.status().lastError === null && gw.status().kids.includes('ec-2'), 4000, 5)
      t.match(await get(`${gw.url}/api/leads`, token(k2)), { status: 200, body: { ok: true } }, 'after recovery, the new key verifies: 200')
      t.match(await get(`${gw.url}/api/leads`, token()), { status: 200 }, 'and the old one still does')
    })
  }
})

t.test('JWKS outage longer than maxStale, through the gateway: fail closed, then recover', async (t) => {
  const up = await faultyUpstream(t)
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(k1) } })
  const gw = await gateway(t, jwksConfig(srv.url('/jwks.json'), up.url, { timeout: TIMEOUT, cooldown: 0.3, cacheTtl: 0.2, maxStale: 0.4 }))
  const cached = token()
  t.equal((await get(`${gw.url}/api/leads`, cached)).status, 200)
  t.equal((await get(`${gw.url}/api/leads`, cached)).status, 200, 'again: now cached (admitted on the second sight)')
  srv.route('/jwks.json').fault = 'reset'
  await until(() => gw.status().usable === false, 4000, 5)
  isKeysUnavailable(t, await get(`${gw.url}/api/leads`, cached), 'past ttl + maxStale even the cached token is refused')
  t.match(await get(`${gw.url}/open/x`), { status: 200 }, 'the next normal request: 200')
  heal(srv, jwks(k1))
  await until(() => gw.status().usable === true, 4000, 5)
  t.equal((await get(`${gw.url}/api/leads`, cached)).status, 200, 'recovered: 200')
})

// ---------------------------------------------------------------------------
// Upstream faults

/** `/api` (timeout 400 ms), `/patient` (3 s) and `/down` (nothing listens) behind one policy with a local key. */
async function upstreamGateway (t: Test): Promise<{ gw: Gw, up: FaultyUpstream }> {
  const up = await faultyUpstream(t)
  const down = await closedPort()
  const gw = await gateway(t, {
    jwt: { realm: REALM, keys: [{ jwk: k1.jwk }] },
    routes: [
      { prefix: '/api', upstream: up.url, timeout: TIMEOUT },
      { prefix: '/patient', upstream: up.url, timeout: 3000 },
      { prefix: '/down', upstream: `http://127.0.0.1:${down}` }
    ]
  })
  return { gw, up }
}

async function servesNext (tt: Test, gw: Gw): Promise<void> {
  tt.match(await get(`${gw.url}/api/ok`, token()), { status: 200, body: { ok: true, url: '/ok' } }, 'the next normal request: 200')
}

t.test('upstream faults: the documented status and JSON body, then the next request is served', async (t) => {
  const { gw, up } = await upstreamGateway(t)
  await servesNext(t, gw)

  await t.test('hanging: 504 after the route timeout', async (t) => {
    const r = await get(`${gw.url}/api/hang`, token())
    t.same({ status: r.status, body: r.body, www: r.www }, { status: 504, body: UPSTREAM_TIMEOUT_BODY, www: null })
    // undici checks its timers about twice a second: up to ~1 s late.
    t.ok(r.ms >= TIMEOUT - 20 && r.ms < TIMEOUT + 2000, `answered after ${r.ms} ms (timeout ${TIMEOUT} ms)`)
    t.ok(gw.logs.some((l) => l.level === 50 && l.msg === 'upstream: no response headers within the timeout' && l.upstream?.status === 504), 'logged')
    await servesNext(t, gw)
  })

  await t.test('resetting the connection: 502', async (t) => {
    const r = await get(`${gw.url}/api/reset`, token())
    t.same({ status: r.status, body: r.body, www: r.www }, { status: 502, body: UPSTREAM_UNAVAILABLE_BODY, www: null })
    t.ok(gw.logs.some((l) => l.level === 50 && l.upstream?.status === 502), 'logged')
    await servesNext(t, gw)
  })

  await t.test('connection refused: 502', async (t) => {
    const r = await get(`${gw.url}/down/x`, token())
    t.same({ status: r.status, body: r.body, www: r.www }, { status: 502, body: UPSTREAM_UNAVAILABLE_BODY, www: null })
    t.ok(gw.logs.some((l) => l.msg === 'upstream: connection refused' && l.upstream?.cause === 'ECONNREFUSED'), 'logged with the cause')
    await servesNext(t, gw)
  })

  await t.test('slow within the timeout: 200', async (t) => {
    const r = await get(`${gw.url}/api/slow/250`, token())
    t.match(r, { status: 200, body: { ok: true, url: '/slow/250' } }, `headers after 250 ms of a 400 ms timeout: 200 in ${r.ms} ms`)
    // The timeout is per wait, not for the whole answer (nginx proxy_read_timeout):
    // 4 chunks 200 ms apart take twice the timeout and are all passed on.
    const drip = await get(`${gw.url}/api/drip/4/200`, token())
    t.match(drip, { status: 200, body: 'chunk;'.repeat(4) + 'end' }, `a body dripping over ${drip.ms} ms: 200, complete`)
    // A POST's request 'close' comes once its body is read, the client still
    // waiting: only the socket closing cancels the upstream request.
    const post = await fetch(`${gw.url}/api/slow/250`, { method: 'POST', body: 'x'.repeat(4096), headers: { authorization: `Bearer ${token()}` }, signal: AbortSignal.timeout(4000) })
    t.match({ status: post.status, body: await post.json() }, { status: 200, body: { ok: true, url: '/slow/250' } }, 'a POST answered slowly: 200')
    const patient = await get(`${gw.url}/patient/slow/600`, token())
    t.match(patient, { status: 200, body: { ok: true, url: '/slow/600' } }, 'slower than /api\'s timeout, within its own route\'s: 200')
    await servesNext(t, gw)
  })

  await t.test('a body that stalls after the headers: the client sees a broken answer, not a short 200', async (t) => {
    const started = Date.now()
    await t.rejects(get(`${gw.url}/api/stall`, token(), 4000), { message: /no complete answer within 4000 ms \((TypeError|AbortError)/ },
      'the body is cut when the route timeout passes')
    t.ok(Date.now() - started < 3500, `the gateway gave up after ${Date.now() - started} ms, before the client did`)
    await servesNext(t, gw)
  })

  await t.test('a connection reset in the middle of a chunked body: the client sees a broken answer', async (t) => {
    await t.rejects(get(`${gw.url}/api/cut`, token()), { message: /no complete answer within 4000 ms \(TypeError/ },
      'a truncated chunked body is never ended cleanly')
    await servesNext(t, gw)
  })

  t.equal(up.seen.filter((p) => p === '/ok').length, 7, 'each normal request reached the upstream once')
})

/**
 * Clients that give up, on their own undici Agent: undici connects again after
 * an abort, and those fresh idle sockets would hold the gateway's close() for
 * the Agent's 4 s keep-alive. Destroyed before the gateway closes (teardowns
 * run last registered, first run).
 */
function leavingClients (tt: Test): (url: string, ac: AbortController, tok?: string) => Promise<unknown> {
  const agent = new Agent()
  tt.teardown(() => agent.destroy())
  return (url, ac, tok = token()) => undiciFetch(url, { headers: { authorization: `Bearer ${tok}` }, signal: ac.signal, dispatcher: agent })
    .then(async (res) => await res.text(), (err: Error) => err)
}

t.test('a client that gives up on a hanging upstream takes its upstream request with it', async (t) => {
  const { gw, up } = await upstreamGateway(t)
  const leave = leavingClients(t)
  await servesNext(t, gw)
  const hung = up.seen.length
  const ac = new AbortController()
  const pending = leave(`${gw.url}/patient/hang`, ac)
  await until(() => up.seen.length > hung, 3000, 2)
  const closed = up.closed
  ac.abort()
  t.equal(((await pending) as Error).name, 'AbortError')
  // nginx closes the upstream connection when the client goes (proxy_ignore_client_abort off).
  const ms = await until(() => up.closed > closed, 2000, 5).catch(() => -1)
  t.ok(ms >= 0, `the upstream connection was closed ${ms} ms after the client left (route timeout 3 s)`)
  t.ok(gw.logs.some((l) => l.level === 30 && l.msg === 'upstream: request cancelled, the client closed the connection' && l.upstream?.status === 499),
    'logged at info as a cancellation (499, as nginx)')
  t.notOk(gw.logs.some((l) => l.level >= 50 && /upstream/.test(l.msg ?? '')), 'not logged as an upstream error')
  await servesNext(t, gw)
})

t.test('an HTTP/2 client that cancels its stream takes its upstream request with it', async (t) => {
  const up = await faultyUpstream(t)
  const logs: Array<Record<string, any>> = []
  const { url } = await startGateway(t, { jwt: { realm: REALM, keys: [{ jwk: k1.jwk }] }, routes: [{ prefix: '/api', upstream: up.url, timeout: 3000 }] },
    { logger: logCollector(logs), fastify: { http2: true } as any })
  const session = http2.connect(url)
  t.teardown(() => session.destroy())
  const h2get = (path: string): { stream: http2.ClientHttp2Stream, answer: Promise<number> } => {
    const stream = session.request({ ':path': path, authorization: `Bearer ${token()}` })
    stream.on('error', () => {})
    stream.end()
    const answer = new Promise<number>((resolve) => {
      stream.on('response', (h) => { stream.resume(); stream.on('end', () => resolve(Number(h[':status']))) })
      stream.on('close', () => resolve(-1))
    })
    return { stream, answer }
  }
  t.equal(await h2get('/api/ok').answer, 200, 'HTTP/2: 200')
  const before = up.seen.length
  const closed = up.closed
  // Several cancelled streams on one session: each is its own client.
  for (let i = 0; i < 3; i++) {
    const { stream } = h2get('/api/hang')
    await until(() => up.seen.length > before + i, 3000, 2)
    stream.close(http2.constants.NGHTTP2_CANCEL)
  }
  const ms = await until(() => up.closed >= closed + 3, 2000, 5).catch(() => -1)
  t.ok(ms >= 0, `the 3 upstream connections were closed ${ms} ms after the last stream was cancelled`)
  t.equal(logs.filter((l) => l.msg === 'upstream: request cancelled, the client closed the connection').length, 3, 'each logged as a cancellation')
  t.equal(await h2get('/api/ok').answer, 200, 'the same session, the next request: 200')
})

t.test('clients giving up on a hanging endpoint cannot exhaust the upstream pool', async (t) => {
  const { gw, up } = await upstreamGateway(t)
  const leave = leavingClients(t)
  await servesNext(t, gw)
  // 130 > the pool's 128 connections: without freeing them, every request to
  // this upstream (every route) would queue behind the hung ones until their timeout.
  const n = 130
  const first = up.seen.length
  const controllers = Array.from({ length: n }, () => new AbortController())
  const pending = controllers.map((ac) => leave(`${gw.url}/patient/hang`, ac))
  await until(() => up.seen.length - first >= 128, 5000, 5)
  for (const ac of controllers) ac.abort()
  await Promise.all(pending)
  const r = await get(`${gw.url}/api/ok`, token(), 2500)
  t.match(r, { status: 200, body: { ok: true } }, `a normal request right after 130 clients left: 200 in ${r.ms} ms (hung ones would hold the pool for 3 s)`)
})

t.test('a client that leaves while its key set is being fetched: nothing reaches the upstream', async (t) => {
  const up = await faultyUpstream(t)
  const srv = await jwksServer(t, { '/jwks.json': { json: jwks(k1) } })
  // cooldown 0: the unknown kid refetches at once; the refetch takes 500 ms and brings the kid.
  const gw = await gateway(t, jwksConfig(srv.url('/jwks.json'), up.url, { timeout: 3000, cooldown: 0, cacheTtl: 60 }))
  const leave = leavingClients(t)
  const route = srv.route('/jwks.json')
  route.delay = 500
  route.json = jwks(k1, k2)
  const ac = new AbortController()
  const pending = leave(`${gw.url}/api/left-early`, ac, token(k2))
  await until(() => route.hits === 2, 3000, 2)
  ac.abort()
  t.equal(((await pending) as Error).name, 'AbortError')
  await until(() => gw.status().kids.includes('ec-2'), 3000, 5)
  await sleep(100)
  t.notOk(up.seen.includes('/api/left-early'), 'the request of a client that already left is not sent upstream')
  t.match(await get(`${gw.url}/api/ok`, token(k2)), { status: 200, body: { ok: true, url: '/api/ok' } }, 'the next request, same kid: 200')
})
