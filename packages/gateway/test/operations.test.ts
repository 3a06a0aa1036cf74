import t from 'tap'
import { jwksServer, until } from '../../jwt-auth/test/helpers/jwks-server.js'
import { sign } from '../../jwt-auth/test/helpers/keys.js'
import { bearer, echoUpstream, freePort, hs, keys, request, SECRET, startGateway } from './helpers/servers.js'

// Readiness (server.readyPath) and Prometheus metrics (server.metricsPath).

/** `name{labels} value` lines of a Prometheus text page, keyed by `name{labels}`. */
function parse (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

async function scrape (url: string): Promise<Map<string, number>> {
  const res = await request(`${url}/__gateway/metrics`)
  if (res.status !== 200) throw new Error(`metrics answered ${res.status}`)
  return parse(res.body as string)
}

t.test('readiness: 503 naming the key source while its JWKS is down, 200 once it is up; health stays 200', async (t) => {
  const k = keys().p256
  const srv = await jwksServer(t, { '/jwks.json': { status: 500, json: { error: 'down' } } })
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { keys: [{ jwks: srv.url('/jwks.json'), timeout: 1000, cooldown: 0 }] },
    routes: [{ prefix: '/api', upstream: up.url }]
  })
  const down = await request(`${url}/__gateway/ready`)
  t.equal(down.status, 503)
  t.equal(down.headers['retry-after'], '5')
  t.same(down.body, { status: 'unavailable', keySources: 1, unusable: [{ source: `jwks ${srv.url('/jwks.json')}`, reason: 'HTTP 500' }] })
  const live = await request(`${url}/__gateway/health`)
  t.equal(live.status, 200, 'liveness does not depend on the keys')

  srv.route('/jwks.json').status = 200
  srv.route('/jwks.json').json = { keys: [k.jwk] }
  // The source retries on its own (1 s after a failure).
  await until(() => srv.route('/jwks.json').hits >= 2, 5000)
  let ready = await request(`${url}/__gateway/ready`)
  for (let i = 0; i < 50 && ready.status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    ready = await request(`${url}/__gateway/ready`)
  }
  t.equal(ready.status, 200)
  t.same(ready.body, { status: 'ready', keySources: 1 })
  const ok = await request(`${url}/api/x`, { headers: bearer(sign(k, 'ES256', { sub: 'u' })) })
  t.equal(ok.status, 200)
})

t.test('readiness: a custom readyPath; local keys are always ready', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    server: { readyPath: '/ready' },
    jwt: { secret: SECRET },
    routes: [{ prefix: '/', upstream: up.url }]
  })
  const res = await request(`${url}/ready`)
  t.equal(res.status, 200)
  t.same(res.body, { status: 'ready', keySources: 1 })
  const old = await request(`${url}/__gateway/ready`)
  t.equal(old.status, 401, 'the default path is just a path under the "/" route now')
})

t.test('metrics: counters move by exactly the requests sent; denials by reason; routes by prefix', async (t) => {
  const up = await echoUpstream(t)
  const dead = await freePort()
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET },
    routes: [
      { prefix: '/api', upstream: up.url },
      { prefix: '/gone', upstream: `http://127.0.0.1:${dead}`, jwt: false },
      { prefix: '/', upstream: up.url, jwt: false }
    ]
  })
  const before = await scrape(url)
  const good = bearer(hs({ sub: 'u' }))
  const sent = [
    ...Array.from({ length: 3 }, (_, i) => request(`${url}/api/a/${i}`, { headers: good })),
    request(`${url}/api/b`),
    request(`${url}/api/b`),
    request(`${url}/api/c`, { headers: bearer(hs({ sub: 'u', exp: 1 })) }),
    request(`${url}/api/d`, { headers: { authorization: 'Bearer not.a.token' } }),
    request(`${url}/x/y/z?q=1`, { method: 'POST' }),
    request(`${url}/gone/x`)
  ]
  const statuses = (await Promise.all(sent)).map((r) => r.status)
  t.same(statuses, [200, 200, 200, 401, 401, 401, 401, 200, 502])
  const after = await scrape(url)
  const moved = (key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0)
  t.equal(moved('fjg_requests_total{route="/api",method="GET",status="200"}'), 3)
  t.equal(moved('fjg_requests_total{route="/api",method="GET",status="401"}'), 4)
  t.equal(moved('fjg_requests_total{route="/",method="POST",status="200"}'), 1, 'the raw path is never a label')
  t.equal(moved('fjg_requests_total{route="/gone",method="GET",status="502"}'), 1)
  t.equal(moved('fjg_jwt_denied_total{route="/api",reason="FJG_ERR_TOKEN_MISSING"}'), 2)
  t.equal(moved('fjg_jwt_denied_total{route="/api",reason="FJG_ERR_TOKEN_EXPIRED"}'), 1)
  t.equal(moved('fjg_jwt_denied_total{route="/api",reason="FJG_ERR_TOKEN_MALFORMED"}'), 1)
  t.equal(moved(`fjg_upstream_errors_total{route="/gone",upstream="http://127.0.0.1:${dead}",kind="unavailable"}`), 1)
  t.equal(moved('fjg_request_duration_seconds_count{route="/api"}'), 7)
  t.equal(after.get('fjg_key_source_usable{source="secret"}'), 1)
  t.equal(after.get('fjg_key_source_keys{source="secret"}'), 1)
  t.ok(after.has('process_cpu_user_seconds_total'), "prom-client's default process metrics")
  t.notOk([...after.keys()].some((k) => k.includes('/x/y')), 'no raw path anywhere')
})

t.test('metrics: key source fetches and usability; metricsPath false turns the route off', async (t) => {
  const k = keys().p256
  const srv = await jwksServer(t, { '/jwks.json': { json: { keys: [k.jwk] } } })
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { keys: [{ jwks: srv.url('/jwks.json') }] },
    routes: [{ prefix: '/', upstream: up.url }]
  })
  const m = await scrape(url)
  const source = `jwks ${srv.url('/jwks.json')}`
  t.equal(m.get(`fjg_key_source_fetches_total{source="${source}",result="success"}`), 1)
  t.equal(m.get(`fjg_key_source_usable{source="${source}"}`), 1)
  t.equal(m.get(`fjg_key_source_keys{source="${source}"}`), 1)

  const off = await startGateway(t, { server: { metricsPath: false }, jwt: false, routes: [{ prefix: '/api', upstream: up.url }] })
  t.equal((await request(`${off.url}/__gateway/metrics`)).status, 404)
  t.equal(off.app.gatewayMetrics, null)
})

t.test('metrics: fjg_revocation_entries per kind and source follows a revocation file change', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'fjg-revmetrics-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const subs = join(dir, 'subs.json')
  const jtis = join(dir, 'jtis.json')
  writeFileSync(subs, JSON.stringify(['alice', 'bob']))
  writeFileSync(jtis, JSON.stringify({ j1: 1 }))
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, { jwt: { secret: SECRET, revocation: { sub: subs, jti: jtis } }, routes: [{ prefix: '/api', upstream: up.url }] })
  let m = await scrape(url)
  t.equal(m.get(`fjg_revocation_entries{list="sub",source="${subs}"}`), 2)
  t.equal(m.get(`fjg_revocation_entries{list="jti",source="${jtis}"}`), 1)
  writeFileSync(subs, JSON.stringify(['alice', 'bob', 'carol']))
  // The file is re-read when it changes (fs.watch, or the stat poll): bounded wait.
  for (let i = 0; i < 100; i++) {
    m = await scrape(url)
    if (m.get(`fjg_revocation_entries{list="sub",source="${subs}"}`) === 3) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(m.get(`fjg_revocation_entries{list="sub",source="${subs}"}`), 3)
  t.equal(m.get(`fjg_revocation_entries{list="jti",source="${jtis}"}`), 1)
  // The reload is enforced too, not only counted.
  t.equal((await request(`${url}/api/x`, { headers: bearer(hs({ sub: 'carol' })) })).status, 401)
})

t.test('metrics: fjg_upstream_up reports every server of a group from the start, 0 once one is marked down', async (t) => {
  const up = await echoUpstream(t)
  const deadPort = await freePort()
  const dead = `http://127.0.0.1:${deadPort}`
  const { url } = await startGateway(t, { jwt: false, routes: [{ prefix: '/api', upstream: [up.url, dead], rewritePrefix: '/api' }] })
  const before = await scrape(url)
  t.equal(before.get(`fjg_upstream_up{route="/api",upstream="${up.url}"}`), 1, 'the live server, before any request')
  t.equal(before.get(`fjg_upstream_up{route="/api",upstream="${dead}"}`), 1, 'the dead one too: nothing has failed yet')
  // Round robin sends one of the first two requests to the dead server: refused, retried on the live one.
  for (let i = 0; i < 2; i++) t.equal((await request(`${url}/api/x${i}`)).status, 200)
  const after = await scrape(url)
  t.equal(after.get(`fjg_upstream_up{route="/api",upstream="${dead}"}`), 0, 'marked down after its refused connection')
  t.equal(after.get(`fjg_upstream_up{route="/api",upstream="${up.url}"}`), 1)
})
