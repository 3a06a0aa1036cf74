import { once } from 'node:events'
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { makePki } from '../../jwt-auth/test/helpers/pki.js'
import { gatewayConfigProblems, type GatewayConfig } from '../src/index.js'
import { UpstreamGroup, UpstreamServer } from '../src/upstream-group.js'
import { bearer, freePort, hs, rawRequest, request, SECRET, startGateway } from './helpers/servers.js'

// Upstream groups (nginx `upstream {}`): real servers on loopback, one killed
// mid-load, all down, backups, weights, a body retried after a refused
// connection, TLS toward upstreams with a private CA (and a client
// certificate), and nginx's answer-header habits.

interface Named { url: string, server: Server, hits: number, close (): Promise<void>, bodies: string[] }

/** An upstream answering `{ name, url, host, body }`; `close()` stops it (connections included). */
async function named (t: { teardown (fn: () => unknown): void }, name: string, handler?: (req: IncomingMessage, res: import('node:http').ServerResponse) => boolean): Promise<Named> {
  const self: Named = { url: '', server: null as unknown as Server, hits: 0, bodies: [], close: async () => {} }
  const server = createHttpServer((req, res) => {
    self.hits++
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      self.bodies.push(body)
      if (handler?.(req, res) === true) return
      const text = JSON.stringify({ name, url: req.url, host: req.headers.host, body })
      res.writeHead(200, { 'content-type': 'application/json', 'x-powered-by': 'Express' })
      res.end(text)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  let closed = false
  self.server = server
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  self.close = async () => {
    if (closed) return
    closed = true
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  t.teardown(self.close)
  return self
}

const token = hs({ sub: 'u' })
const get = (url: string): ReturnType<typeof request> => request(url, { headers: bearer(token) })

function gw (upstream: GatewayConfig['routes'][number]['upstream'], extra: Partial<GatewayConfig['routes'][number]> = {}): GatewayConfig {
  return { jwt: { secret: SECRET }, routes: [{ prefix: '/api', upstream, ...extra }] }
}

t.test('a server killed mid-load: no GET fails, the rest is served by the others', async (t) => {
  const a = await named(t, 'a')
  const b = await named(t, 'b')
  const c = await named(t, 'c')
  const { url } = await startGateway(t, gw([a.url, b.url, c.url]))
  const statuses: number[] = []
  const served: Record<string, number> = {}
  for (let i = 0; i < 60; i++) {
    if (i === 20) await b.close()
    const r = await get(`${url}/api/x${i}`)
    statuses.push(r.status)
    served[r.body.name] = (served[r.body.name] ?? 0) + 1
  }
  t.same([...new Set(statuses)], [200], 'every one of 60 GETs answered 200')
  t.ok(served.a >= 25 && served.c >= 25, `a and c took over (${JSON.stringify(served)})`)
  t.ok((served.b ?? 0) <= 7, 'b served only before it was killed')

  const health = await request(`${url}/__gateway/health`)
  const servers = health.body.upstreams[0].servers
  t.equal(health.body.upstreams[0].route, '/api')
  t.same(servers.map((s: { url: string, up: boolean }) => [s.url, s.up]), [[a.url, true], [b.url, false], [c.url, true]], 'health lists each server, b marked down')
})

t.test('every server down: 502, after each was tried once', async (t) => {
  const p1 = await freePort()
  const p2 = await freePort()
  const { url } = await startGateway(t, gw([`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`]))
  const r = await get(`${url}/api/x`)
  t.equal(r.status, 502)
  t.equal(r.body.code, 'FJG_ERR_UPSTREAM_UNAVAILABLE')
  t.equal(r.body.message, 'The upstream server is unavailable', 'no upstream address in the answer')
})

t.test('backup servers only while no primary is up; the primary is back after failTimeout', async (t) => {
  const backup = await named(t, 'backup')
  const port = await freePort()
  const { url } = await startGateway(t, gw([{ url: `http://127.0.0.1:${port}`, failTimeout: 1 }, { url: backup.url, backup: true }]))
  const first = await get(`${url}/api/x`)
  t.equal(first.status, 200, 'the refused primary is retried on the backup')
  t.equal(first.body.name, 'backup')
  // The primary comes up on its port; while it is marked down the backup serves.
  const primary = createHttpServer((_req, res) => res.end(JSON.stringify({ name: 'primary' })))
  primary.listen(port, '127.0.0.1')
  await once(primary, 'listening')
  t.teardown(() => new Promise((resolve) => { primary.closeAllConnections(); primary.close(resolve) }))
  t.equal((await get(`${url}/api/x`)).body.name, 'backup', 'within failTimeout: still the backup')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal((await get(`${url}/api/x`)).body.name, 'primary', 'after failTimeout: the primary again')
  t.equal((await get(`${url}/api/x`)).body.name, 'primary', 'and only the primary')
})

t.test('weights: smooth weighted round robin', async (t) => {
  const heavy = await named(t, 'heavy')
  const light = await named(t, 'light')
  const { url } = await startGateway(t, gw([{ url: heavy.url, weight: 3 }, light.url]))
  const order: string[] = []
  for (let i = 0; i < 8; i++) order.push((await get(`${url}/api/x`)).body.name)
  t.same(order, ['heavy', 'heavy', 'light', 'heavy', 'heavy', 'heavy', 'light', 'heavy'], 'nginx\'s order for weights 3:1')

  // The algorithm itself, without sockets.
  const g = new UpstreamGroup([new UpstreamServer({ url: 'http://a', weight: 5 }, 'a'), new UpstreamServer({ url: 'http://b' }, 'b'), new UpstreamServer({ url: 'http://c' }, 'c')])
  const picks = Array.from({ length: 7 }, () => g.pick()?.pool)
  t.same(picks, ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'nginx\'s documented sequence for 5:1:1')
})

t.test('a POST body is sent to the next server when the first refuses the connection', async (t) => {
  const up = await named(t, 'up')
  const port = await freePort()
  const { url } = await startGateway(t, gw([`http://127.0.0.1:${port}`, up.url]))
  const body = JSON.stringify({ order: 42, note: 'x'.repeat(1000) })
  const r = await rawRequest(url, '/api/orders', { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body })
  t.equal(r.status, 200)
  t.equal(r.body.name, 'up')
  t.equal(r.body.body, body, 'the whole body reached the server that answered')
  t.equal(r.body.host, new URL(up.url).host, 'with that server\'s own Host')
})

t.test('nginx answer habits: Location rewritten, hidden headers, the client\'s Host', async (t) => {
  const up = await named(t, 'up', (req, res) => {
    if (req.url !== '/api/moved') return false
    res.writeHead(302, { location: `http://${req.headers.host}/api/new?x=1`, 'content-location': 'http://elsewhere.example/api/x', 'x-powered-by': 'Express' })
    res.end()
    return true
  })
  const { url } = await startGateway(t, gw(up.url, { rewritePrefix: '/api', hideHeaders: ['X-Powered-By'], preserveHost: true }))
  const moved = await get(`${url}/api/moved`)
  t.equal(moved.status, 302)
  t.equal(moved.headers.location, `${url}/api/new?x=1`, 'the upstream\'s own URL becomes the gateway\'s (proxy_redirect default)')
  t.equal(moved.headers['content-location'], 'http://elsewhere.example/api/x', 'another origin is left alone')
  t.equal(moved.headers['x-powered-by'], undefined, 'proxy_hide_header')
  const ok = await get(`${url}/api/x`)
  t.equal(ok.body.host, new URL(url).host, 'preserveHost: the client\'s Host reaches the upstream')
  t.equal(ok.headers['x-powered-by'], undefined)

  const plain = await startGateway(t, gw(up.url, { rewritePrefix: '/api' }))
  const r = await get(`${plain.url}/api/x`)
  t.equal(r.body.host, new URL(up.url).host, 'default: the upstream\'s host')
  t.equal(r.headers['x-powered-by'], 'Express', 'headers pass unless hidden')
})

t.test('TLS toward upstreams: private CA, verification on, client certificates', async (t) => {
  const pki = makePki(t)
  const cert = pki.server('upstream')
  const client = pki.client('gateway')
  const start = async (requestCert: boolean): Promise<string> => {
    const s = createHttpsServer({ cert: cert.cert, key: cert.key, ca: pki.ca.cert, requestCert, rejectUnauthorized: requestCert }, (req, res) => {
      res.end(JSON.stringify({ name: 'tls', authorized: (req.socket as import('node:tls').TLSSocket).authorized }))
    })
    s.listen(0, '127.0.0.1')
    await once(s, 'listening')
    t.teardown(() => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve) }))
    return `https://127.0.0.1:${(s.address() as AddressInfo).port}`
  }
  const plainTls = await start(false)
  const unknownCa = await startGateway(t, gw(plainTls))
  const refused = await get(`${unknownCa.url}/api/x`)
  t.equal(refused.status, 502, 'a certificate from an unknown CA is refused (verification stays on)')

  const trusted = await startGateway(t, gw(plainTls, { tls: { ca: pki.ca.certFile } }))
  const ok = await get(`${trusted.url}/api/x`)
  t.equal(ok.status, 200)
  t.equal(ok.body.name, 'tls')

  const mutual = await start(true)
  const noCert = await startGateway(t, gw(mutual, { tls: { ca: pki.ca.certFile } }))
  t.equal((await get(`${noCert.url}/api/x`)).status, 502, 'an upstream requiring a client certificate refuses the gateway without one')
  const withCert = await startGateway(t, gw(mutual, { tls: { ca: pki.ca.certFile, cert: client.certFile, key: client.keyFile } }))
  const m = await get(`${withCert.url}/api/x`)
  t.equal(m.status, 200)
  t.equal(m.body.authorized, true, 'the upstream verified the gateway\'s client certificate')

  const wrongName = await startGateway(t, gw(plainTls, { tls: { ca: pki.ca.certFile, servername: 'not-this.example' } }))
  t.equal((await get(`${wrongName.url}/api/x`)).status, 502, 'servername is checked against the certificate')

  const err = await startGateway(t, gw(plainTls, { tls: { ca: '/nonexistent/ca.pem', cert: client.certFile } })).then(() => null, (e: { problems?: string[] }) => e)
  t.match(err?.problems, [/^routes\[0\]\.tls\.ca: cannot read \/nonexistent\/ca\.pem: ENOENT$/, 'routes[0].tls: "cert" and "key" go together (a client certificate needs its key)'], 'file problems at start, all at once')
})

t.test('groups in the config: checked at start', async (t) => {
  const base = { jwt: { secret: SECRET } }
  t.same(gatewayConfigProblems({ ...base, routes: [{ prefix: '/', upstream: ['http://a:1', { url: 'http://b:2', weight: 2, backup: true, maxFails: 3, failTimeout: 5 }] }] }), [])
  t.same(gatewayConfigProblems({ ...base, routes: [{ prefix: '/', upstream: ['http://a:1/v1', 'http://b:2/v2'] }] }), [
    'routes[0].upstream[1]: the servers of one upstream group must share the base path ("/v1"), got "/v2"'
  ])
  t.match(gatewayConfigProblems({ ...base, routes: [{ prefix: '/', upstream: [{ url: 'http://a:1', weight: 0 }] }] }), [/^routes\[0\]\.upstream\[0\]\.weight: /])
  t.match(gatewayConfigProblems({ ...base, routes: [{ prefix: '/', upstream: [{ url: 'http://a:1', extra: 1 }] }] }), [/^routes\[0\]\.upstream/])
  t.match(gatewayConfigProblems({ ...base, routes: [{ prefix: '/', upstream: [] }] }), [/^routes\[0\]\.upstream: /])
  t.same(gatewayConfigProblems({ ...base, routes: [{ prefix: '/', upstream: ['http://u:p@a:1'] }] }), ['routes[0].upstream[0]: must not contain credentials'])
})

t.test('routing on a verified claim (nginx map $jwt_claim_tenant $upstream)', async (t) => {
  const acme = await named(t, 'acme')
  const globex1 = await named(t, 'globex-1')
  const globex2 = await named(t, 'globex-2')
  const fallback = await named(t, 'fallback')
  const config = (withDefault: boolean): GatewayConfig => ({
    jwt: { secret: SECRET, claimsToHeaders: { 'x-tenant': 'tenant' } },
    routes: [{
      prefix: '/api',
      upstream: { byClaim: 'tenant', map: { acme: acme.url, globex: [globex1.url, globex2.url] }, ...(withDefault ? { default: fallback.url } : {}) }
    }]
  })
  const { url } = await startGateway(t, config(true))
  const as = (tenant: unknown, headers: Record<string, string> = {}): ReturnType<typeof request> =>
    request(`${url}/api/x`, { headers: { ...bearer(hs(tenant === undefined ? { sub: 'u' } : { sub: 'u', tenant })), ...headers } })
  t.equal((await as('acme')).body.name, 'acme')
  const g = [(await as('globex')).body.name, (await as('globex')).body.name].sort()
  t.same(g, ['globex-1', 'globex-2'], 'a target may be a group')
  t.equal((await as('initech')).body.name, 'fallback', 'no match: the default')
  t.equal((await as(undefined)).body.name, 'fallback', 'claim absent: the default')
  t.equal((await as('initech', { 'x-tenant': 'acme' })).body.name, 'fallback', 'a header never chooses: only the verified claim')
  t.equal((await request(`${url}/api/x`)).status, 401, 'no token: 401 before any choice')

  const strict = await startGateway(t, config(false))
  const none = await request(`${strict.url}/api/x`, { headers: bearer(hs({ sub: 'u', tenant: 'initech' })) })
  t.equal(none.status, 403, 'no match and no default: 403')
  t.equal(none.body.code, 'FJG_ERR_UPSTREAM_NO_MATCH')
  t.equal(acme.hits + fallback.hits + globex1.hits + globex2.hits, 6, 'nothing reached an upstream for the refused requests')

  t.same(gatewayConfigProblems({ routes: [{ prefix: '/', jwt: false, upstream: { byClaim: 'tenant', map: { a: 'http://a:1' } } }] }), [
    'routes[0].upstream.byClaim: needs the route\'s jwt policy (the claim is read from the verified token), but jwt is false'
  ])
  t.same(gatewayConfigProblems({ jwt: { secret: SECRET }, routes: [{ prefix: '/', upstream: { byClaim: 'tenant', map: { a: 'http://a:1/v1' }, default: 'http://b:1/v2' } }] }), [
    'routes[0].upstream.default: the servers of one upstream group must share the base path ("/v1"), got "/v2"'
  ])
})
