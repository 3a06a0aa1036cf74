// A fleet (issue 14): two real gateway processes, one real redis-server, the
// real CLI. A revoke through `fastify-jwt-gateway revoke` is refused by both
// within 1 s; a rate limit of N holds across both together; Redis stopped →
// last lists kept and health says why; an instance cut off from Redis applies
// what it missed when it reconnects.
import { join } from 'node:path'
import t from 'tap'
import { createSigner } from 'fast-jwt'
import { run, startCli, type Running } from './helpers/cli.js'
import { tempDir, upstream, writeJson } from './helpers/fixtures.js'
import { redisServer, relay } from '../../jwt-auth/test/helpers/redis.js'

const SECRET = 'fleet-test-secret-that-is-long-enough-for-hs256'
// Several CLI processes on a shared 2-core machine: more than the default minute.
t.setTimeout(240_000)
const sign = createSigner({ key: SECRET, expiresIn: 300_000 })
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function status (gw: Running, tok: string, path = '/api/x'): Promise<number | string> {
  const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${tok}` } })
  const body = await res.json() as { code?: string }
  return res.status === 200 ? 200 : body.code ?? res.status
}

async function becomes (gw: Running, tok: string, want: number | string, within = 3000): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await status(gw, tok) === want) return Date.now() - start
    if (Date.now() - start > within) throw new Error(`still not ${want} after ${within} ms`)
    await sleep(20)
  }
}

async function health (gw: Running): Promise<{ revocation: Array<Record<string, any>> }> {
  return await (await fetch(`${gw.url}/__gateway/health`)).json() as { revocation: Array<Record<string, any>> }
}

function config (dir: string, name: string, up: string, redisUrl: string, rateRedis: string): string {
  return writeJson(join(dir, `${name}.json`), {
    server: { logLevel: 'info' },
    jwt: { secret: SECRET, revocation: { redis: { url: redisUrl, prefix: 'fleet:' } } },
    routes: [
      { prefix: '/api', upstream: up, rewritePrefix: '/api' },
      { prefix: '/limited', upstream: up, rateLimit: { max: 4, timeWindow: '1 minute', key: 'sub', redis: rateRedis } }
    ]
  })
}

t.test('two gateway processes, one Redis, the revoke CLI', async (t) => {
  const dir = tempDir(t)
  const redis = await redisServer(t)
  const link = await relay(t, redis.port)
  const up = await upstream(t)
  const fileA = config(dir, 'a', up, redis.url, redis.url)
  // B reaches the same Redis through a relay the test can cut (a partition).
  const fileB = config(dir, 'b', up, link.url, redis.url)
  const [a, b] = await Promise.all([
    startCli(t, ['start', '--config', fileA, '--port', '0'], { timeout: 60_000 }),
    startCli(t, ['start', '--config', fileB, '--port', '0'], { timeout: 60_000 })
  ])
  const alice = sign({ sub: 'alice' })
  const bob = sign({ sub: 'bob' })
  const carol = sign({ sub: 'carol' })
  t.equal(await status(a, alice), 200)
  t.equal(await status(b, alice), 200)

  await t.test('a revoke through the CLI is refused by both within 1 s', async (t) => {
    const res = await run(['revoke', '--config', fileA, '--sub', 'alice'])
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout, `${redis.url} (prefix fleet:): sub "alice" revoked for good\n`)
    const [ma, mb] = await Promise.all([becomes(a, alice, 'FJG_ERR_TOKEN_REVOKED'), becomes(b, alice, 'FJG_ERR_TOKEN_REVOKED')])
    t.ok(ma < 1000 && mb < 1000, `refused by both within 1 s of the CLI's exit (${ma} ms, ${mb} ms)`)
    t.equal(await status(a, bob), 200, 'others unaffected')
  })

  await t.test('a rate limit of 4 per window holds across both instances together', async (t) => {
    const seen: Array<number | string> = []
    for (const gw of [a, b, a, b, a, b]) seen.push(await status(gw, bob, '/limited/x'))
    t.same(seen, [200, 200, 200, 200, 'FJG_ERR_RATE_LIMITED', 'FJG_ERR_RATE_LIMITED'])
  })

  await t.test('cut off from Redis: B keeps its lists and says so; it applies what it missed on reconnect', async (t) => {
    link.cut()
    await sleep(300)
    const hb = (await health(b)).revocation.find((s) => s.kind === 'redis')
    t.equal(hb?.state, 'stale', 'health says the lists are stale')
    t.ok(typeof hb?.lastError === 'string' && hb.lastError.length > 0, `and why: ${hb?.lastError}`)
    t.equal(await status(b, alice), 'FJG_ERR_TOKEN_REVOKED', 'the last lists are kept')

    const res = await run(['revoke', '--config', fileA, '--sub', 'carol'])
    t.equal(res.code, 0)
    await becomes(a, carol, 'FJG_ERR_TOKEN_REVOKED')
    t.equal(await status(b, carol), 200, 'B missed it while cut off')
    await link.heal()
    await becomes(b, carol, 'FJG_ERR_TOKEN_REVOKED', 3000)
    t.equal((await health(b)).revocation.find((s) => s.kind === 'redis')?.state, 'ok')
  })

  await t.test('Redis stopped: both keep the last lists; the CLI fails naming the store; Redis back: resync', async (t) => {
    await redis.stop({ save: true })
    await sleep(300)
    for (const gw of [a, b]) {
      t.equal(await status(gw, alice), 'FJG_ERR_TOKEN_REVOKED')
      t.equal(await status(gw, carol), 'FJG_ERR_TOKEN_REVOKED')
      const h = (await health(gw)).revocation.find((s) => s.kind === 'redis')
      t.equal(h?.state, 'stale')
      t.same(h?.entries, { sub: 2, kid: 0, jti: 0 })
    }
    t.ok(a.logs().some((l) => l.level === 40 && l.msg === 'jwt: revocation store unreachable; keeping the last lists'), 'logged')
    const failed = await run(['revoke', '--config', fileA, '--sub', 'dave'])
    t.equal(failed.code, 1)
    t.match(failed.stderr, new RegExp(`1 of 1 revocation store failed\\n  ${redis.url.replace(/[.]/g, '\\.')} \\(prefix fleet:\\): `))

    await redis.start()
    const back = await run(['revoke', '--config', fileA, '--sub', 'alice', '--remove'])
    t.equal(back.code, 0, back.stderr)
    await Promise.all([becomes(a, alice, 200, 5000), becomes(b, alice, 200, 5000)])
    t.equal(await status(a, carol), 'FJG_ERR_TOKEN_REVOKED', 'the saved list came back with Redis')
  })
})
