import t from 'tap'
import { request } from 'node:http'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { run, startCli } from './helpers/cli.js'
import { keys, sign, tempDir, upstream, writeJson } from './helpers/fixtures.js'

// server.workers: N processes sharing one port through node:cluster; a worker
// that dies is replaced; SIGTERM to the primary stops them all, gracefully.

/** GET on a fresh connection (cluster balances connections, not requests). */
function get (url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('workers: 2 processes serve one port, a dead one is replaced', async (t) => {
  const dir = tempDir(t)
  const { set } = keys(dir)
  const up = await upstream(t)
  writeJson(join(dir, 'gateway.json'), {
    server: { port: 8080, workers: 2, logLevel: 'info' },
    jwt: { keys: [{ file: 'keys/p256.jwk.json' }], claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api' }, { prefix: '/', upstream: up, jwt: false }]
  })
  const gw = await startCli(t, ['start', '--config', join(dir, 'gateway.json'), '--port', '0'], { timeout: 20_000 })
  const ready = await gw.waitFor((l) => l.includes('(2 workers)'), 20_000)
  t.match(JSON.parse(ready), { role: 'primary', msg: `fastify-jwt-gateway listening on ${gw.url} (2 workers)` }, 'the primary announces the address once all listen')

  const token = sign(set.p256, 'ES256', { sub: 'w' })
  const statuses = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`${gw.url}/api/x${i}`, i % 2 === 0 ? { authorization: `Bearer ${token}` } : {})))
  t.same(statuses, [200, 401, 200, 401, 200, 401])
  const servedBy = new Set(gw.logs().filter((l) => l.msg === 'incoming request').map((l) => l.pid))
  const workerPids = new Set(gw.logs().filter((l) => /listening on/.test(l.msg) && l.role === undefined).map((l) => l.pid as number))
  t.equal(workerPids.size, 2, 'two workers listen')
  t.notOk(workerPids.has(gw.child.pid as number), 'the primary does not serve')
  t.same([...servedBy].sort(), [...workerPids].sort(), 'both workers served requests')

  // A worker dies: the primary forks a replacement, which serves.
  const victim = [...workerPids][0] as number
  process.kill(victim, 'SIGKILL')
  await gw.waitFor((l) => l.includes(`worker ${victim} died`))
  const replacement = await gw.waitFor((l) => /listening on/.test(l) && !l.includes('"role"') && !workerPids.has(JSON.parse(l).pid))
  t.ok(replacement, 'a new worker listens')
  const after = await Promise.all(Array.from({ length: 4 }, () => get(`${gw.url}/`)))
  t.same(after, [200, 200, 200, 200])

  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null }, 'SIGTERM to the primary: every worker closes, exit 0')
  t.match(gw.stdout(), /all workers stopped/)
  const alive = [...workerPids, JSON.parse(replacement).pid].filter((pid) => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  })
  t.same(alive, [], 'no worker is left behind')
})

t.test('workers on a port that is taken: one message, exit 1, no worker left running', async (t) => {
  const dir = tempDir(t)
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const config = writeJson(join(dir, 'gateway.json'), {
    server: { port, workers: 2 },
    routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }]
  })
  const r = await run(['start', '--config', config])
  t.equal(r.code, 1)
  t.equal(r.stderr, `fastify-jwt-gateway: cannot listen on 127.0.0.1:${port}: the address is already in use\n`)
})
