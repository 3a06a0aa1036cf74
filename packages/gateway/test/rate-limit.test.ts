import t from 'tap'
import { buildGateway, type GatewayConfig } from '../src/index.js'
import { bearer, collect, echoUpstream, hs, request, SECRET, startGateway } from './helpers/servers.js'
import { redisServer } from '../../jwt-auth/test/helpers/redis.js'

// Real redis-servers started and stopped on a shared 2-core machine: more than the default minute.
t.setTimeout(180_000)

// Route rateLimit (issue 14): @fastify/rate-limit after the token check, keyed
// on a verified claim; one shared count through a real redis-server.

const within = (n: number): string => `the ${n}th request`
const inWindow = (v: string | undefined): boolean => v !== undefined && /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 60

for (const phase of ['access', 'preaccess'] as const) {
  t.test(`phase ${phase}: counted per verified sub, 429 with Retry-After and X-RateLimit-*; bad tokens never reach the limiter`, async (t) => {
    const up = await echoUpstream(t)
    const { url } = await startGateway(t, {
      jwt: { secret: SECRET, phase },
      routes: [{ prefix: '/api', upstream: up.url, rateLimit: { max: 2, timeWindow: '1 minute' } }]
    })
    const alice = bearer(hs({ sub: 'alice' }))
    for (let i = 1; i <= 2; i++) {
      const ok = await request(`${url}/api/x`, { headers: alice })
      t.equal(ok.status, 200, within(i))
      t.equal(ok.headers['x-ratelimit-limit'], '2')
      t.equal(ok.headers['x-ratelimit-remaining'], String(2 - i))
    }
    const over = await request(`${url}/api/x`, { headers: alice })
    t.equal(over.status, 429)
    // Seconds left in the window: 60 unless the machine took a second between the requests.
    t.ok(inWindow(over.headers['retry-after']), `Retry-After ${over.headers['retry-after']}`)
    t.equal(over.headers['x-ratelimit-limit'], '2')
    t.equal(over.headers['x-ratelimit-remaining'], '0')
    t.equal(over.headers['x-ratelimit-reset'], over.headers['retry-after'])
    t.same({ ...over.body, message: undefined }, { statusCode: 429, code: 'FJG_ERR_RATE_LIMITED', error: 'Too Many Requests', message: undefined })
    t.match(over.body.message, /^Rate limit exceeded, retry in (1 minute|[1-5]?\d seconds?)$/)

    t.equal((await request(`${url}/api/x`, { headers: bearer(hs({ sub: 'bob' })) })).status, 200, 'bob has his own count')
    // A token whose sub says "bob" but whose signature is bad is refused by the
    // jwt hook: it neither spends bob's budget nor gets a rate-limit header.
    const forged = hs({ sub: 'bob' }).slice(0, -4) + 'AAAA'
    const denied = await request(`${url}/api/x`, { headers: bearer(forged) })
    t.equal(denied.status, 401)
    t.equal(denied.body.code, 'FJG_ERR_TOKEN_SIGNATURE')
    t.equal(denied.headers['x-ratelimit-limit'], undefined)
    t.equal((await request(`${url}/api/x`, { headers: bearer(hs({ sub: 'bob' })) })).headers['x-ratelimit-remaining'], '0', 'bob\'s second request is his second')
  })
}

t.test('key claim:<path>, requests without a token keyed by IP, draft headers', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET, optional: true },
    routes: [
      { prefix: '/api', upstream: up.url, rateLimit: { max: 2, timeWindow: 60_000, key: 'claim:org.id', headers: 'draft' } },
      { prefix: '/open', upstream: up.url, jwt: false, rateLimit: { max: 1, timeWindow: '1 minute' } }
    ]
  })
  const a = bearer(hs({ sub: 'a', org: { id: 'acme' } }))
  const b = bearer(hs({ sub: 'b', org: { id: 'acme' } }))
  const c = bearer(hs({ sub: 'c', org: { id: 'globex' } }))
  t.equal((await request(`${url}/api/x`, { headers: a })).status, 200)
  const second = await request(`${url}/api/x`, { headers: b })
  t.equal(second.status, 200)
  t.equal(second.headers['ratelimit-remaining'], '0', 'a and b share their organisation\'s count')
  t.equal(second.headers['x-ratelimit-remaining'], undefined, 'draft headers only')
  const over = await request(`${url}/api/x`, { headers: b })
  t.equal(over.status, 429)
  t.ok(inWindow(over.headers['retry-after']), `Retry-After ${over.headers['retry-after']}`)
  t.equal(over.headers['ratelimit-limit'], '2')
  t.equal((await request(`${url}/api/x`, { headers: c })).status, 200, 'another organisation')
  t.equal((await request(`${url}/api/x`)).status, 200, 'no token (optional): keyed by IP, its own count')

  t.equal((await request(`${url}/open/x`)).status, 200)
  const openOver = await request(`${url}/open/x`, { headers: a })
  t.equal(openOver.status, 429, 'an open route counts by IP: a token there is not verified, so not trusted')
})

t.test('two instances and one Redis: the limit holds across both together', async (t) => {
  const redis = await redisServer(t)
  const up = await echoUpstream(t)
  const config: GatewayConfig = {
    jwt: { secret: SECRET },
    routes: [{ prefix: '/api', upstream: up.url, rateLimit: { max: 3, timeWindow: '1 minute', redis: redis.url } }]
  }
  const one = await startGateway(t, config)
  const two = await startGateway(t, config)
  const alice = bearer(hs({ sub: 'alice' }))
  const seen: number[] = []
  for (const url of [one.url, two.url, one.url, two.url, one.url]) seen.push((await request(`${url}/api/x`, { headers: alice })).status)
  t.same(seen, [200, 200, 200, 429, 429], 'three in all, whichever instance answers')
  const last = await request(`${two.url}/api/x`, { headers: bearer(hs({ sub: 'bob' })) })
  t.equal(last.status, 200)
  t.equal(last.headers['x-ratelimit-remaining'], '2')
})

t.test('Redis down: "open" (default) lets requests through and logs; "closed" answers 503', async (t) => {
  const redis = await redisServer(t)
  const up = await echoUpstream(t)
  const lines: Array<Record<string, any>> = []
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET },
    routes: [
      { prefix: '/open', upstream: up.url, rateLimit: { max: 5, timeWindow: '1 minute', redis: redis.url } },
      { prefix: '/closed', upstream: up.url, rateLimit: { max: 5, timeWindow: '1 minute', redis: redis.url, onStoreError: 'closed' } }
    ]
  }, { logger: collect(lines) })
  const alice = bearer(hs({ sub: 'alice' }))
  t.equal((await request(`${url}/closed/x`, { headers: alice })).status, 200, 'while Redis is up')
  await redis.stop()
  const open = await request(`${url}/open/x`, { headers: alice })
  t.equal(open.status, 200, 'fail-open')
  t.ok(lines.some((l) => l.level === 40 && l.msg === 'gateway: rate-limit store failed; request let through (onStoreError: open)'), 'logged')
  const closed = await request(`${url}/closed/x`, { headers: alice })
  t.equal(closed.status, 503)
  t.same(closed.body, { statusCode: 503, error: 'Service Unavailable', code: 'FJG_ERR_RATE_LIMIT_UNAVAILABLE', message: 'The rate-limit store is unavailable' })
  t.notOk(JSON.stringify(lines).includes(alice.authorization.slice(7)), 'no token in the logs')
})

t.test('rateLimit options are checked at start, naming the path', async (t) => {
  const up = 'http://127.0.0.1:9'
  const errorOf = async (rateLimit: unknown): Promise<string> => {
    try {
      const app = await buildGateway({ jwt: { secret: SECRET }, routes: [{ prefix: '/api', upstream: up, rateLimit } as any] })
      await app.close()
    } catch (err) {
      return (err as Error).message
    }
    return 'no error'
  }
  t.match(await errorOf({ max: 1, timeWindow: 'soon' }), /routes\[0\]\.rateLimit\.timeWindow: must be milliseconds or a duration such as "1 minute", "10s", got "soon"/)
  t.match(await errorOf({ max: 1, timeWindow: 10, key: 'user' }), /routes\[0\]\.rateLimit\.key/)
  t.match(await errorOf({ max: 0, timeWindow: 10 }), /routes\[0\]\.rateLimit\.max/)
  t.match(await errorOf({ max: 1 }), /routes\[0\]\.rateLimit/)
  t.match(await errorOf({ max: 1, timeWindow: 10, onStoreError: 'maybe' }), /routes\[0\]\.rateLimit\.onStoreError: must be one of "open", "closed"/)
})
