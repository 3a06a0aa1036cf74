import t from 'tap'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { startCli } from './helpers/cli.js'
import { tempDir, upstream, writeJson } from './helpers/fixtures.js'

// SIGHUP = reload (systemd ExecReload=/bin/kill -HUP $MAINPID): the config is
// checked as `check` checks it; a valid one is swapped in without refusing or
// failing a request, an invalid one is logged and the running config stays.

interface Answer { status: number, body: string }

function get (url: string, agent: Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Requests back to back (keep-alive and fresh connections) until stopped; counts every answer and error. */
function loop (url: string): { count: () => number, stop: () => Promise<{ statuses: Map<number, number>, errors: string[], total: number }> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 })
  const statuses = new Map<number, number>()
  const errors: string[] = []
  let total = 0
  const state = { running: true }
  const worker = async (a: Agent | false): Promise<void> => {
    while (state.running) {
      try {
        const r = await get(url, a)
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
      } catch (err) {
        errors.push((err as Error).message)
      }
      total++
    }
  }
  const workers = [worker(agent), worker(agent), worker(false), worker(false)]
  return {
    count: () => total,
    stop: async () => {
      state.running = false
      await Promise.all(workers)
      agent.destroy()
      return { statuses, errors, total }
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('SIGHUP with a changed config: the new route appears, the old one keeps answering, no request fails', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  const file = join(dir, 'gateway.json')
  writeJson(file, { server: { port: 0, logLevel: 'info' }, jwt: false, routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api' }] })
  const gw = await startCli(t, ['start', '--config', file], { timeout: 30_000 })
  t.equal((await get(`${gw.url}/new/x`)).status, 404, 'no /new route yet')

  const traffic = loop(`${gw.url}/api/steady`)
  await sleep(300)
  // A request in flight across the swap finishes on the config that took it.
  const slow = get(`${gw.url}/api/slow?ms=800`)
  await sleep(100)
  writeJson(file, { server: { port: 0, logLevel: 'info' }, jwt: false, routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api' }, { prefix: '/new', upstream: up }] })
  gw.child.kill('SIGHUP')
  const atSignal = traffic.count()
  await gw.waitFor((l) => l.includes('is now served'))
  const atSwap = traffic.count()
  // Keep going a while on the new config (keep-alive connections included).
  while (traffic.count() < atSwap + 20) await sleep(20)
  const { statuses, errors, total } = await traffic.stop()
  t.same(errors, [], 'no connection refused or reset')
  t.same([...statuses.keys()], [200], 'every request of the loop answered 200')
  t.ok(atSignal > 0 && total >= atSwap + 20, `requests ran before the signal, across the swap and after it (${total} requests)`)
  const s = await slow
  t.equal(s.status, 200)
  t.same(JSON.parse(s.body), { slow: true, ms: 800 }, 'the request in flight finished')
  const fresh = await get(`${gw.url}/new/x`)
  t.equal(fresh.status, 200, 'the new route answers')
  t.equal(JSON.parse(fresh.body).url, '/x')
  t.equal(gw.child.exitCode, null, 'still running')
  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
})

t.test('SIGHUP with an invalid config: every problem logged, the old config keeps serving, the process stays up', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  const file = join(dir, 'gateway.json')
  writeJson(file, { server: { port: 0 }, jwt: false, routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api' }] })
  const gw = await startCli(t, ['start', '--config', file], { timeout: 30_000 })
  writeJson(file, { server: { port: 0, prot: 1 }, jwt: { keys: [{ file: 'missing.pem' }] }, routes: [{ prefix: '/api', upstream: 'ftp://x' }] })
  const traffic = loop(`${gw.url}/api/steady`)
  gw.child.kill('SIGHUP')
  const line = JSON.parse(await gw.waitFor((l) => l.includes('the running config stays')))
  t.equal(line.level, 50)
  t.same(line.reload.problems, [
    'server.prot: unknown key',
    'routes[0].upstream: must be an http(s) URL, "http://host:port" with an optional base path, got "ftp://x"',
    `jwt.keys[0].file: cannot read '${join(dir, 'missing.pem')}': ENOENT`
  ], 'schema and file problems together')
  await sleep(300)
  const { statuses, errors } = await traffic.stop()
  t.same(errors, [])
  t.same([...statuses.keys()], [200])
  t.equal((await get(`${gw.url}/api/x`)).status, 200, 'the old config serves')

  // Fixed: the next SIGHUP takes it.
  writeJson(file, { server: { port: 0 }, jwt: false, routes: [{ prefix: '/v2', upstream: up }] })
  gw.child.kill('SIGHUP')
  await gw.waitFor((l) => l.includes('is now served'))
  t.equal((await get(`${gw.url}/v2/x`)).status, 200)
  t.equal((await get(`${gw.url}/api/x`)).status, 404, 'the route the new config dropped is gone')
  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
})
