import { once } from 'node:events'
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import t from 'tap'
import { gatewayPlugin, normalizeTarget, type GatewayConfig } from '../src/index.js'
import { targetProblem } from '../src/paths.js'
import { bearer, echoUpstream, hs, parseAnswer, rawRequest, SECRET, startGateway } from './helpers/servers.js'

// Issue 10.1 and 10.2: the path that picks the policy is the path the upstream
// serves. Express is the upstream an attacker aims at: case-insensitive, it
// decodes `%2F` in parameters and serves what WHATWG URL made of `/./api`.

interface T { teardown (fn: () => unknown): void }

/** Express serving the demo's data, counting what it served. */
async function expressUpstream (t: T): Promise<{ url: string, served: string[] }> {
  const served: string[] = []
  const app = express()
  app.use((req, _res, next) => { served.push(req.url); next() })
  app.get('/api/leads', (_req, res) => { res.json({ data: 'LEADS' }) })
  app.get('/api/admin/users', (_req, res) => { res.json({ data: 'ADMIN' }) })
  app.get('/{*rest}', (req, res) => { res.json({ data: 'OPEN', url: req.url }) })
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served }
}

const ISS = 'https://issuer.example'
const sales = (): Record<string, string> => bearer(hs({ sub: 's-1', iss: ISS, role: 'sales' }))
const admin = (): Record<string, string> => bearer(hs({ sub: 'a-1', iss: ISS, role: 'admin' }))

/** The demo's layout (`/` open, `/api` protected) and a stricter `/api/admin`. */
function layout (upstream: string, server: GatewayConfig['server'] = {}): GatewayConfig {
  return {
    server,
    jwt: { secret: SECRET, issuer: ISS, claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [
      { prefix: '/api/admin', upstream, rewritePrefix: '/api/admin', jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] } },
      { prefix: '/api', upstream, rewritePrefix: '/api' },
      { prefix: '/', upstream, jwt: false }
    ]
  }
}

// Every spelling that some upstream reads as /api/... or /api/admin/...
const NOT_CANONICAL = [
  '/./api/leads', '/%2e/api/leads', '/%2E/api/leads', '/x/../api/leads', '/x/%2e%2e/api/leads', '/x/.%2e/api/leads',
  '/x/%2E./api/leads', '/x/%2e%2E/api/leads', '/.\\api/leads', '/x\\..\\api/leads', '/x/..%5capi/leads', '/x/..%5Capi/leads',
  '/api/./admin/users', '/api/x/../admin/users', '/api//admin/users', '//api/leads', '/api%2fleads', '/api%2Fadmin%2Fusers',
  '/x/%00/../api/leads', '/x%00/api/leads', '/q#access_token=abc', '/api/..;/leads', '/x/..;/api/leads', '/x/.;/../api/leads',
  '/api/leads/.', '/api/admin/users/..', '/x/%c0%ae%c0%ae/api/leads', '/x/%c0%2e/api/leads', '/%61pi/leads', '/api/%61dmin/users',
  '/api/leads%2e', '/x/%2', '/x/%zz', '/api/leads\u00e9', '/x/ /api', 'api/leads', '*', 'http://127.0.0.1/api/leads',
  '/x/%7e', '/api/%C0%AE%C0%AE/admin'
]

t.test('targetProblem: every non-canonical spelling has a reason; canonical ones have none', async (t) => {
  for (const target of NOT_CANONICAL) t.not(targetProblem(target), null, target)
  const canonical = ['/', '/api', '/api/', '/api/leads?x=../y&z=%2e', '/x/%252e%252e/api/leads', '/files/a;b=c', '/files/%C3%A4', '/files/%c3%a4',
    '/a/.hidden', '/a/..b', '/a/b..', "/a/!$&'()*+,;=:@", '/a/%23b', '/a/%3F', '/a/%25']
  for (const target of canonical) t.equal(targetProblem(target), null, target)
  t.equal(targetProblem('/a\u0000b'), 'a character that must be percent-encoded')
  t.equal(targetProblem('/a/../b'), 'a dot segment ("." or "..")')
  t.equal(targetProblem('/a//b'), 'an empty path segment ("//")')
  t.equal(targetProblem('/a%2Fb'), 'an encoded slash, backslash or control character')
  t.equal(targetProblem('/a#b'), 'a "#" in the request target')
})

t.test('normalizeTarget: dot segments, merged slashes, decoded unreserved; refused what cannot be normalized', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['/./api/leads', '/api/leads'], ['/%2e/api/leads?q=/../x', '/api/leads?q=/../x'], ['/x/%2E%2e/api/leads', '/api/leads'],
    ['/api//leads', '/api/leads'], ['//api/leads', '/api/leads'], ['/api/leads/.', '/api/leads/'], ['/api/admin/..', '/api/'],
    ['/%61pi/l%65ads', '/api/leads'], ['/files/%c3%a4', '/files/%c3%a4'], ['/files/%c3%a4/./x', '/files/%C3%A4/x'],
    ['/../api', null], ['/x/../../api', null], ['/api%2Fleads', null], ['/x/..%5Capi', null], ['/.\\api', null], ['/q#t', null],
    ['/x/..;/api', null], ['/x/%00', null], ['/x/%c0%ae/', null], ['/api', '/api']
  ]
  for (const [from, to] of cases) t.equal(normalizeTarget(from), to, from)
})

t.test('the demo layout in front of Express: no spelling reaches /api data without the /api policy', async (t) => {
  const up = await expressUpstream(t)
  const { url } = await startGateway(t, layout(up.url))
  // The seed scenario still works.
  t.equal((await rawRequest(url, '/')).body.data, 'OPEN')
  t.equal((await rawRequest(url, '/api/leads')).status, 401)
  t.equal((await rawRequest(url, '/api/leads', { headers: sales() })).body.data, 'LEADS')
  t.equal((await rawRequest(url, '/api/admin/users', { headers: sales() })).status, 403)
  const before = up.served.length
  for (const target of NOT_CANONICAL) {
    for (const headers of [{}, sales()]) {
      const res = await rawRequest(url, target, { headers })
      t.equal(res.status, 400, `${target}: 400`)
      // Node's HTTP parser refuses some (a raw space, a non-ASCII byte, no leading "/") before Fastify runs.
      const expected = res.body.message === 'Client Error'
        ? { statusCode: 400, error: 'Bad Request', message: 'Client Error' }
        : { statusCode: 400, error: 'Bad Request', code: 'FJG_ERR_PATH_NOT_CANONICAL', message: 'The request path is not canonical' }
      t.same(res.body, expected, target)
    }
  }
  t.same(up.served.slice(before), [], 'the upstream served none of them')
})

t.test('canonical oddities are forwarded byte for byte (double encoding, ;params, hex case)', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, layout(up.url))
  // (`/a/..b` is canonical too, but reply-from refuses any `..` in a path: a 400, fail closed.)
  for (const target of ['/x/%252e%252e/api/leads', '/files/a;b=c', '/files/%C3%A4', '/files/%c3%a4', '/a/.b/c.', '/a/%25', "/a/!$&'()*+,;=:@"]) {
    const res = await rawRequest(url, target)
    t.equal(res.status, 200, target)
    t.equal(res.body.url, target, `${target}: upstream got it unchanged`)
  }
  // Protected: the path after the prefix as sent.
  const res = await rawRequest(url, '/api/%252e%252e/admin', { headers: sales() })
  t.equal(res.status, 200)
  t.equal(res.body.url, '/api/%252e%252e/admin')
})

t.test('case: the policy is chosen on the case-folded path', async (t) => {
  const up = await expressUpstream(t)
  const { url } = await startGateway(t, layout(up.url))
  for (const target of ['/API/leads', '/Api/leads', '/api/Admin/users', '/API/ADMIN/users']) {
    const res = await rawRequest(url, target)
    t.equal(res.status, 401, `${target}: no token, 401`)
    t.equal(res.body.code, 'FJG_ERR_TOKEN_MISSING')
  }
  for (const target of ['/api/Admin/users', '/API/ADMIN/users', '/aPi/aDmIn/users']) {
    const res = await rawRequest(url, target, { headers: sales() })
    t.equal(res.status, 403, `${target}: sales token, 403 (the /api/admin policy)`)
    t.equal(res.body.code, 'FJG_ERR_CLAIM_REQUIREMENT')
  }
  const ok = await rawRequest(url, '/API/Admin/users', { headers: admin() })
  t.equal(ok.status, 200)
  t.equal(ok.body.data, 'ADMIN')
})

t.test('case: what the upstream receives keeps the client\'s spelling after the prefix', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, layout(up.url))
  const res = await rawRequest(url, '/API/Leads/X?a=B', { headers: sales() })
  t.equal(res.status, 200)
  t.equal(res.body.url, '/api/Leads/X?a=B')
  t.equal(res.body.headers['x-user-id'], 's-1')
})

t.test('server.caseSensitive: true routes on the spelling (as nginx prefix locations)', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, layout(up.url, { caseSensitive: true }))
  const res = await rawRequest(url, '/API/leads')
  t.equal(res.status, 200, 'the open route')
  t.equal(res.body.url, '/API/leads')
  t.equal((await rawRequest(url, '/api/leads')).status, 401)
})

t.test('config: prefixes must be canonical, and not two spellings of one when case-folded', async (t) => {
  const { gatewayConfigProblems } = await import('../src/index.js')
  t.same(gatewayConfigProblems({ routes: [{ prefix: '/a/../b', upstream: 'http://127.0.0.1:1' }] }),
    ['routes[0].prefix: must be a canonical path, found a dot segment ("." or ".."), got "/a/../b"'])
  t.same(gatewayConfigProblems({ routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:1' }, { prefix: '/API', upstream: 'http://127.0.0.1:2' }] }),
    ['routes[1].prefix: "/API" and "/api" are one prefix when routes are chosen case-insensitively (server.caseSensitive is false)'])
  t.same(gatewayConfigProblems({ server: { caseSensitive: true }, routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:1' }, { prefix: '/API', upstream: 'http://127.0.0.1:2' }] }), [])
  t.same(gatewayConfigProblems({ server: { normalizePath: 'yes' }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:1' }] }),
    ['server.normalizePath: must be a boolean, got "yes"'])
})

t.test('server.normalizePath: normalized first, routed and forwarded as normalized', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, layout(up.url, { normalizePath: true }))
  for (const target of ['/./api/leads', '/x/../api/leads', '/%2e/api//leads', '/%61pi/leads']) {
    const no = await rawRequest(url, target)
    t.equal(no.status, 401, `${target}: the /api policy`)
    const ok = await rawRequest(url, target, { headers: sales() })
    t.equal(ok.status, 200, target)
    t.equal(ok.body.url, '/api/leads', `${target}: upstream got the normalized path`)
  }
  t.equal((await rawRequest(url, '/api/./admin/users', { headers: sales() })).status, 403, '/api/admin policy')
  for (const target of ['/../api/leads', '/api%2Fleads', '/x/..%5Capi/leads', '/q#access_token=x', '/x/..;/api/leads']) {
    const res = await rawRequest(url, target)
    t.equal(res.status, 400, target)
    t.equal(res.body.code, 'FJG_ERR_PATH_NOT_CANONICAL', target)
  }
})

t.test('node:http and Fastify upstreams: the same spellings never reach them', async (t) => {
  const hits: string[] = []
  const plain = createServer((req, res) => { hits.push(`node ${req.url}`); res.end('{}') })
  plain.listen(0, '127.0.0.1')
  await once(plain, 'listening')
  t.teardown(() => new Promise((resolve) => plain.close(resolve)))
  const fst = Fastify()
  fst.get('/*', async (req) => { hits.push(`fastify ${req.url}`); return {} })
  await fst.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => fst.close())
  for (const upstream of [`http://127.0.0.1:${(plain.address() as AddressInfo).port}`, `http://127.0.0.1:${(fst.server.address() as AddressInfo).port}`]) {
    const { url } = await startGateway(t, layout(upstream))
    for (const target of NOT_CANONICAL) t.equal((await rawRequest(url, target)).status, 400, target)
  }
  t.same(hits, [])
})

t.test('WebSocket upgrades: a non-canonical target is refused before the upgrade', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET, issuer: ISS },
    routes: [{ prefix: '/ws', upstream: up.url, websocket: true }, { prefix: '/', upstream: up.url, websocket: true, jwt: false }]
  })
  const upgrade = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
  const { hostname, port } = new URL(url)
  async function handshake (target: string, headers: Record<string, string>): Promise<number> {
    const socket = connect(Number(port), hostname)
    socket.write([`GET ${target} HTTP/1.1`, `host: ${hostname}:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n') + '\r\n\r\n')
    const chunks: Buffer[] = []
    await new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => { chunks.push(c); if (Buffer.concat(chunks).includes('\r\n\r\n')) resolve() })
      socket.on('close', () => resolve())
    })
    socket.destroy()
    return parseAnswer(Buffer.concat(chunks).toString('latin1')).status
  }
  t.equal(await handshake('/ws', upgrade), 401, 'the policy runs on the upgrade')
  t.equal(await handshake('/ws', { ...upgrade, ...sales() }), 101)
  for (const target of ['/./ws', '/%2e/ws', '/x/../ws', '//ws', '/.\\ws', '/WS/']) {
    const status = await handshake(target, upgrade)
    t.equal(status, target === '/WS/' ? 401 : 400, target)
  }
  t.equal(up.handshakes.length, 1, 'only the authenticated upgrade reached the upstream')
})

t.test('plugin mode: in a host app (case-sensitive router) the invariant holds', async (t) => {
  const up = await expressUpstream(t)
  const host = Fastify()
  host.get('/host', async () => ({ host: true }))
  await host.register(gatewayPlugin, layout(up.url))
  await host.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => host.close())
  const url = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`
  t.equal((await rawRequest(url, '/host')).body.host, true)
  t.equal((await rawRequest(url, '/api/leads')).status, 401)
  for (const target of ['/./api/leads', '/%2e/api/leads', '/api//admin/users', '/x/../api/leads']) t.equal((await rawRequest(url, target)).status, 400, target)
  // The host's router is case-sensitive: /API/leads lands on `/`; the gateway's own selection says /api: refused.
  for (const target of ['/API/leads', '/api/Admin/users']) {
    const res = await rawRequest(url, target, { headers: sales() })
    t.equal(res.status, 400, target)
    t.equal(res.body.code, 'FJG_ERR_PATH_NOT_CANONICAL', target)
  }
  t.equal(up.served.filter((u) => u !== '/api/leads').length, 0)
})
