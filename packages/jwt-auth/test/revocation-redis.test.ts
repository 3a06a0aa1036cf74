// Revocation shared through a real redis-server (issue 14): two app instances
// on one Redis, changes applied within 1 s, outages that keep the last lists,
// reconnects that resynchronise, and the fail-closed start.
import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { revokeInRedis, unrevokeInRedis, revocationKey, type JwtPolicy, type RevocationStatus } from '../src/internal.js'
import { loggedApp, hs, SECRET } from './helpers/app.js'
import { sleep } from './helpers/jwks-server.js'
import { freePort, redisServer, relay } from './helpers/redis.js'

// Real redis-servers started and stopped on a shared 2-core machine: more than the default minute.
t.setTimeout(180_000)

type Test = Parameters<Parameters<typeof t.test>[0]>[0]
const issued: string[] = []
function token (payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const tok = hs(payload, header)
  issued.push(tok)
  return tok
}

async function code (app: FastifyInstance, tok: string): Promise<number | string> {
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${tok}` } })
  return res.statusCode === 200 ? 200 : res.json().code
}

/** Polls until `tok` gets `want`; returns the ms it took. */
async function becomes (app: FastifyInstance, tok: string, want: number | string, within = 3000): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await code(app, tok) === want) return Date.now() - start
    if (Date.now() - start > within) throw new Error(`still not ${want} after ${within} ms (got ${await code(app, tok)})`)
    await sleep(10)
  }
}

function writer (t: Test, url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1 })
  t.teardown(() => r.disconnect())
  return r
}

function redisStatus (app: FastifyInstance): RevocationStatus {
  return app.jwtAuth.revocationStatus().find((s) => s.kind === 'redis') as RevocationStatus
}

const policy = (url: string, prefix = 'fjg:'): JwtPolicy => ({ secret: SECRET, revocation: { redis: { url, prefix } } })

t.test('two instances, one Redis: a revoke is refused by both within 1 s, a removal lifts it', async (t) => {
  const redis = await redisServer(t)
  const w = writer(t, redis.url)
  await revokeInRedis(w, 'fjg:', 'sub', 'mallory', null)
  const a = await loggedApp(t, policy(redis.url), issued)
  const b = await loggedApp(t, policy(redis.url), issued)
  const alice = token({ sub: 'alice' })
  const mallory = token({ sub: 'mallory' })
  for (const { app } of [a, b]) {
    t.equal(await code(app, mallory), 'FJG_ERR_TOKEN_REVOKED', 'what was revoked before the start is loaded at start')
    t.equal(await code(app, alice), 200, 'alice accepted')
    t.equal(await code(app, alice), 200, 'alice accepted again (and cached: admitted on her token\'s second sight)')
  }
  const res = await a.app.inject({ url: '/', headers: { authorization: `Bearer ${mallory}` } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token has been revoked"')

  await revokeInRedis(w, 'fjg:', 'sub', 'alice', null)
  const [ma, mb] = await Promise.all([becomes(a.app, alice, 'FJG_ERR_TOKEN_REVOKED'), becomes(b.app, alice, 'FJG_ERR_TOKEN_REVOKED')])
  t.ok(ma < 1000 && mb < 1000, `refused by both within 1 s (${ma} ms, ${mb} ms), although the verification was cached`)
  t.ok(a.logs.some((l) => l.msg === 'jwt: revocation change applied' && l.revocation.kind === 'sub'), 'the change is logged (kind, never the value)')

  t.equal(await unrevokeInRedis(w, 'fjg:', 'sub', 'alice'), true)
  await Promise.all([becomes(a.app, alice, 200), becomes(b.app, alice, 200)])
  t.equal(await unrevokeInRedis(w, 'fjg:', 'sub', 'alice'), false, 'removing what is not there says so')

  const s = redisStatus(a.app)
  t.equal(s.state, 'ok')
  t.equal(s.source, redis.url)
  t.same(s.entries, { sub: 1, kid: 0, jti: 0 })
  t.equal(s.lastError, null)
  t.type(s.lastLoad, 'number')
})

t.test('kid and jti; a jti revoked with a ttl lives only that long; prefixes keep deployments apart', async (t) => {
  const redis = await redisServer(t)
  const w = writer(t, redis.url)
  const { app } = await loggedApp(t, policy(redis.url, 'blue:'), issued)
  const other = await loggedApp(t, policy(redis.url, 'green:'), issued)
  const byKid = token({ sub: 'k' }, { kid: 'k-1' })
  const byJti = token({ sub: 'j', jti: 'j-1' })
  await revokeInRedis(w, 'blue:', 'kid', 'k-1', null)
  await revokeInRedis(w, 'blue:', 'jti', 'j-1', 1)
  await becomes(app, byKid, 'FJG_ERR_TOKEN_REVOKED')
  await becomes(app, byJti, 'FJG_ERR_TOKEN_REVOKED')
  t.equal(await code(other.app, byKid), 200, 'another prefix is another list')
  const score = await w.zscore(revocationKey('blue:', 'jti'), 'j-1')
  t.ok(Number(score) > Date.now() && Number(score) <= Date.now() + 1000, 'the jti entry carries its expiry as score')
  t.equal(await w.zscore(revocationKey('blue:', 'kid'), 'k-1'), 'inf', 'a kid without ttl is revoked for good')
  await becomes(app, byJti, 200, 2500)
  t.pass('the jti entry lapsed with its ttl')
})

t.test('unreachable at start and never loaded: tokens refused (fail closed) until Redis answers', async (t) => {
  const port = await freePort()
  const started = Date.now()
  const { app, logs } = await loggedApp(t, policy(`redis://127.0.0.1:${port}`), issued)
  t.ok(Date.now() - started < 6000, 'the start is bounded')
  const alice = token({ sub: 'alice' })
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${alice}` } })
  t.equal(res.statusCode, 401)
  t.same(res.json(), { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE', message: 'The revocation lists are unavailable' })
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The revocation lists are unavailable"')
  const s = redisStatus(app)
  t.equal(s.state, 'unavailable')
  t.match(s.lastError, /ECONNREFUSED/)
  t.ok(logs.some((l) => l.level === 50 && l.msg.startsWith('jwt: revocation store unreachable at start')), 'logged as an error')
  t.notOk(JSON.stringify(logs).includes('password'), 'no credentials in logs')

  // A Redis on that port: the reconnect loads the lists, tokens go through.
  const { spawn } = await import('node:child_process')
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL') })
  await becomes(app, alice, 200, 5000)
  t.equal(redisStatus(app).state, 'ok')
})

t.test('Redis stopped: the last lists are kept and the status says why; Redis back: resync', async (t) => {
  const redis = await redisServer(t)
  const w = writer(t, redis.url)
  const { app, logs } = await loggedApp(t, policy(redis.url), issued)
  const alice = token({ sub: 'alice' })
  const bob = token({ sub: 'bob' })
  await revokeInRedis(w, 'fjg:', 'sub', 'alice', null)
  await becomes(app, alice, 'FJG_ERR_TOKEN_REVOKED')
  w.disconnect()

  await redis.stop({ save: true })
  await sleep(300)
  t.equal(await code(app, alice), 'FJG_ERR_TOKEN_REVOKED', 'never "everything allowed" while Redis is down')
  t.equal(await code(app, bob), 200)
  const s = redisStatus(app)
  t.equal(s.state, 'stale')
  t.same(s.entries, { sub: 1, kid: 0, jti: 0 })
  t.ok(typeof s.lastError === 'string' && s.lastError.length > 0, `lastError says why: ${s.lastError}`)
  t.ok(logs.some((l) => l.level === 40 && l.msg === 'jwt: revocation store unreachable; keeping the last lists'), 'logged as a warning')

  await redis.start()
  const w2 = writer(t, redis.url)
  await revokeInRedis(w2, 'fjg:', 'sub', 'bob', null)
  await becomes(app, bob, 'FJG_ERR_TOKEN_REVOKED', 3000)
  t.equal(await code(app, alice), 'FJG_ERR_TOKEN_REVOKED', 'the saved list came back with Redis')
  t.equal(redisStatus(app).state, 'ok')
})

t.test('a revoke made while one instance is cut off from Redis is applied when it reconnects', async (t) => {
  const redis = await redisServer(t)
  const link = await relay(t, redis.port)
  const w = writer(t, redis.url)
  const a = await loggedApp(t, policy(redis.url), issued)
  const b = await loggedApp(t, policy(link.url), issued)
  const carol = token({ sub: 'carol' })
  t.equal(await code(b.app, carol), 200)

  link.cut()
  await sleep(200)
  t.equal(redisStatus(b.app).state, 'stale')
  await revokeInRedis(w, 'fjg:', 'sub', 'carol', null)
  await becomes(a.app, carol, 'FJG_ERR_TOKEN_REVOKED')
  t.equal(await code(b.app, carol), 200, 'b missed the message while cut off')

  await link.heal()
  const ms = await becomes(b.app, carol, 'FJG_ERR_TOKEN_REVOKED', 3000)
  t.pass(`b refused carol ${ms} ms after the link came back (full reload on reconnect)`)
  t.ok(b.logs.some((l) => l.msg === 'jwt: revocation lists resynchronised'))
})

t.test('files and Redis together; schema checks revocation.redis', async (t) => {
  const { registerError } = await import('./helpers/app.js')
  const err = await registerError({ secret: SECRET, revocation: { redis: { url: 'http://x' } } })
  t.equal(err.code, 'FJG_ERR_OPTION_INVALID')
  t.match(err.message, /revocation\.redis\.url: must match pattern/)
  const err2 = await registerError({ secret: SECRET, revocation: { redis: { prefix: 'x' } } })
  t.match(err2.message, /revocation\.redis: must have required property 'url'/)
})
