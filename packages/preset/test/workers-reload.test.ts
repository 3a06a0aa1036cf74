import t from 'tap'
import { request } from 'node:http'
import { join } from 'node:path'
import { startCli } from './helpers/cli.js'
import { tempDir, upstream, writeJson } from './helpers/fixtures.js'

// With server.workers the primary owns the config: a worker gets the checked
// config over IPC and never reads the file, so a replacement after a crash
// serves what the others serve; SIGHUP replaces the workers one by one.
// One metrics scrape returns every worker's figures.

function get (url: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: cluster balances connections, not requests.
    const req = request(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    // A connection lost between the primary and a retiring worker hangs: fail, do not wait for the file's timeout.
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer within 10 s: ${url}`)))
    req.end()
  })
}

// Four clusters of real processes: slow on a busy machine.
t.setTimeout(240_000)

const workerPids = (logs: Array<Record<string, any>>): number[] =>
  [...new Set(logs.filter((l) => /listening on/.test(l.msg) && l.role === undefined).map((l) => l.pid as number))]

t.test('workers: a crashed worker gets the primary\'s config although the file changed; SIGHUP rolls the new one out', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  const file = join(dir, 'gateway.json')
  writeJson(file, { server: { port: 0, workers: 2 }, jwt: false, routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api' }] })
  const gw = await startCli(t, ['start', '--config', file], { timeout: 30_000 })
  await gw.waitFor((l) => l.includes('(2 workers)'), 30_000)
  // Each worker's own listening line may come just after the primary's.
  await gw.waitFor(() => workerPids(gw.logs()).length === 2, 30_000)
  const first = workerPids(gw.logs())

  // A valid edit, not reloaded, and an invalid one would be just as ignored.
  writeJson(file, { server: { port: 0, workers: 2 }, jwt: false, routes: [{ prefix: '/other', upstream: up }] })
  process.kill(first[0] as number, 'SIGKILL')
  await gw.waitFor((l) => l.includes(`worker ${first[0]} died`), 30_000)
  await gw.waitFor((l) => /listening on/.test(l) && !l.includes('"role"') && !first.includes(JSON.parse(l).pid), 30_000)
  const before = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`${gw.url}/${i % 2 === 0 ? 'api' : 'other'}/x`)))
  t.same(before.map((r) => r.status), [200, 404, 200, 404, 200, 404], 'every worker, the replacement too, serves the primary\'s config')

  // Fresh connections all through the rolling replace: none may be dropped
  // (a retiring worker used to reset one it had just been handed).
  const state = { rolling: true }
  const failures: string[] = []
  let served = 0
  const hammer = async (): Promise<void> => {
    while (state.rolling) {
      try {
        const r = await get(`${gw.url}/api/x`)
        if (r.status !== 200 && r.status !== 404) failures.push(`status ${r.status}`)
        served++
      } catch (err) {
        failures.push((err as Error).message)
      }
    }
  }
  const load = Promise.all(Array.from({ length: 4 }, hammer))
  gw.child.kill('SIGHUP')
  await gw.waitFor((l) => l.includes('workers replaced'), 30_000)
  state.rolling = false
  await load
  t.same(failures, [], `no request dropped during the rolling replace (${served} served)`)
  t.ok(served > 0)
  const after = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`${gw.url}/${i % 2 === 0 ? 'api' : 'other'}/x`)))
  t.same(after.map((r) => r.status), [404, 200, 404, 200, 404, 200], 'after SIGHUP every worker serves the new config')

  // An invalid config on SIGHUP: logged by the primary, the workers keep serving.
  writeJson(file, { server: { port: 0, workers: 2 }, routes: [] })
  gw.child.kill('SIGHUP')
  const refused = JSON.parse(await gw.waitFor((l) => l.includes('the workers keep the running config'), 30_000))
  t.same(refused.problems, ['routes: must have at least 1 item'])
  t.same((await Promise.all([get(`${gw.url}/other/a`), get(`${gw.url}/other/b`)])).map((r) => r.status), [200, 200])

  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
})

t.test('workers: one metrics scrape aggregates both workers', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  const file = join(dir, 'gateway.json')
  writeJson(file, { server: { port: 0, workers: 2 }, jwt: false, routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api' }] })
  const gw = await startCli(t, ['start', '--config', file], { timeout: 30_000 })
  await gw.waitFor((l) => l.includes('(2 workers)'), 30_000)
  const n = 10
  const statuses = await Promise.all(Array.from({ length: n }, (_, i) => get(`${gw.url}/api/m${i}`)))
  t.same(statuses.map((s) => s.status), Array(n).fill(200))
  const served = new Set(gw.logs().filter((l) => l.msg === 'incoming request' && l.req?.url?.startsWith('/api/m')).map((l) => l.pid))
  t.equal(served.size, 2, 'both workers served some of them')
  const scrape = await get(`${gw.url}/__gateway/metrics`)
  t.equal(scrape.status, 200)
  const line = scrape.body.split('\n').find((l) => l.startsWith('fjg_requests_total{route="/api",method="GET",status="200"}'))
  t.equal(line, `fjg_requests_total{route="/api",method="GET",status="200"} ${n}`, 'the sum over both workers')
  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
})
