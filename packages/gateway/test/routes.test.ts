import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { sign } from '../../jwt-auth/test/helpers/keys.js'
import { gatewayConfigProblems } from '../src/index.js'
import { bearer, echoUpstream, hs, keys, request, SECRET, startGateway } from './helpers/servers.js'

// The route table: which upstream and which policy a request meets.

t.test('open routes, protected routes and jwt: false (the seed scenario)', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET, issuer: 'https://issuer.example', claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [
      { prefix: '/api', upstream: up.url, rewritePrefix: '/api' },
      { prefix: '/', upstream: up.url, jwt: false }
    ]
  })
  const home = await request(`${url}/`)
  t.equal(home.status, 200)
  t.equal(home.body.url, '/')
  const about = await request(`${url}/about?x=1`)
  t.equal(about.status, 200)
  t.equal(about.body.url, '/about?x=1')

  const no = await request(`${url}/api/leads`)
  t.equal(no.status, 401)
  t.equal(no.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(no.body, { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_MISSING', message: 'No token was provided' })

  const wrongIss = await request(`${url}/api/leads`, { headers: bearer(hs({ sub: 'u', iss: 'https://other' })) })
  t.equal(wrongIss.status, 401)
  t.equal(wrongIss.body.code, 'FJG_ERR_TOKEN_ISSUER')

  const ok = await request(`${url}/api/leads`, { headers: bearer(hs({ sub: 'u-1', iss: 'https://issuer.example' })) })
  t.equal(ok.status, 200)
  t.equal(ok.body.url, '/api/leads')
  t.equal(ok.body.headers['x-user-id'], 'u-1')

  // The bare prefix and its trailing slash belong to the route too.
  t.equal((await request(`${url}/api`)).status, 401)
  t.equal((await request(`${url}/api/`)).status, 401)
  // A path that merely starts with the same letters does not.
  const apiv2 = await request(`${url}/apiv2`)
  t.equal(apiv2.status, 200)
  t.equal(apiv2.body.url, '/apiv2')
})

t.test('overlapping prefixes: the longest one wins, for every method', async (t) => {
  const root = await echoUpstream(t, 'root')
  const api = await echoUpstream(t, 'api')
  const admin = await echoUpstream(t, 'admin')
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET },
    routes: [
      // Declared shortest first on purpose: the order of the table does not matter.
      { prefix: '/', upstream: root.url, jwt: false },
      { prefix: '/api', upstream: api.url },
      {
        prefix: '/api/admin/',
        upstream: admin.url,
        methods: ['GET'],
        jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] }
      }
    ]
  })
  const user = bearer(hs({ sub: 'u', role: 'user' }))
  const boss = bearer(hs({ sub: 'b', role: 'admin' }))

  const a = await request(`${url}/api/leads`, { headers: user })
  t.equal(a.body.upstream, 'api')
  t.equal(a.body.url, '/leads', 'without rewritePrefix the prefix is stripped')

  const denied = await request(`${url}/api/admin/users`, { headers: user })
  t.equal(denied.status, 403)
  t.equal(denied.body.code, 'FJG_ERR_CLAIM_REQUIREMENT')
  const b = await request(`${url}/api/admin/users`, { headers: boss })
  t.equal(b.status, 200)
  t.equal(b.body.upstream, 'admin')
  t.equal(b.body.url, '/users')
  const bare = await request(`${url}/api/admin`, { headers: boss })
  t.equal(bare.body.upstream, 'admin')
  t.equal(bare.body.url, '/')
  const head = await request(`${url}/api/admin/users`, { method: 'HEAD', headers: boss })
  t.equal(head.status, 200, 'HEAD follows GET')

  // POST is not one of the admin route's methods: 405 there, never a fall-through to /api.
  const post = await request(`${url}/api/admin/users`, { method: 'POST', headers: boss })
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
  t.same(post.body, { statusCode: 405, error: 'Method Not Allowed', code: 'FJG_ERR_METHOD_NOT_ALLOWED', message: 'The method is not allowed on this route' })
  const postAnon = await request(`${url}/api/admin/users`, { method: 'POST' })
  t.equal(postAnon.status, 401, 'the route\'s policy runs before the method check')

  const adminish = await request(`${url}/api/administrators`, { headers: user })
  t.equal(adminish.body.upstream, 'api', '/api/administrators is not under /api/admin')

  const r = await request(`${url}/other/x`)
  t.equal(r.body.upstream, 'root')
  t.equal(r.body.url, '/other/x')
})

t.test('per-route overrides merge key by key over the top-level policy', async (t) => {
  const up = await echoUpstream(t)
  const k = keys()
  const dir = t.testdir({})
  writeFileSync(join(dir, 'rsa.pem'), k.rsa.publicPem as string)
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET, audience: 'app', claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [
      { prefix: '/a', upstream: up.url },
      // Adds a key (a relative file, resolved against baseDir), keeps the secret and the audience.
      { prefix: '/b', upstream: up.url, jwt: { keys: [{ file: 'rsa.pem' }], realm: 'b' } },
      // Optional: no token is fine, a bad one is not.
      { prefix: '/c', upstream: up.url, jwt: { optional: true } },
      // Preaccess: the check runs in onRequest.
      { prefix: '/d', upstream: up.url, jwt: { phase: 'preaccess', claimsToHeaders: { 'x-sub': 'sub' } } }
    ]
  }, { baseDir: dir })

  const hsOk = bearer(hs({ sub: 'u-hs', aud: 'app' }))
  const rsOk = bearer(sign(k.rsa, 'RS256', { sub: 'u-rs', aud: 'app' }))
  const rsOther = bearer(sign(k.rsa, 'RS256', { sub: 'u-rs', aud: 'other' }))

  t.equal((await request(`${url}/a/x`, { headers: hsOk })).body.headers['x-user-id'], 'u-hs')
  t.equal((await request(`${url}/a/x`, { headers: rsOk })).status, 401, 'the top-level policy has no RSA key')

  const b = await request(`${url}/b/x`, { headers: rsOk })
  t.equal(b.status, 200)
  t.equal(b.body.headers['x-user-id'], 'u-rs', 'claimsToHeaders inherited')
  t.equal((await request(`${url}/b/x`, { headers: rsOther })).body.code, 'FJG_ERR_TOKEN_AUDIENCE', 'audience inherited')
  const bNo = await request(`${url}/b/x`)
  t.equal(bNo.headers['www-authenticate'], 'Bearer realm="b"')

  const c = await request(`${url}/c/x`, { headers: { 'x-user-id': 'evil' } })
  t.equal(c.status, 200)
  t.notOk('x-user-id' in c.body.headers, 'no token: no identity, and no spoofed one')
  t.equal((await request(`${url}/c/x`, { headers: bearer('not.a.token') })).status, 401)
  t.equal((await request(`${url}/c/x`, { headers: hsOk })).body.headers['x-user-id'], 'u-hs')

  const d = await request(`${url}/d/x`, { headers: hsOk })
  t.equal(d.body.headers['x-sub'], 'u-hs')
  t.notOk('x-user-id' in d.body.headers)
  t.equal((await request(`${url}/d/x`)).status, 401)
})

t.test('the health route answers without a token and reports the key sources', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    server: { healthPath: '/healthz' },
    jwt: { secret: SECRET },
    routes: [{ prefix: '/', upstream: up.url }]
  })
  const res = await request(`${url}/healthz`)
  t.equal(res.status, 200)
  t.equal(res.body.status, 'ok')
  t.ok(Array.isArray(res.body.keys))
  t.equal((await request(`${url}/__gateway/health`)).status, 401, 'the default path is not special once moved: it is proxied, behind the policy')
})

t.test('the default health path, and a gateway with no jwt at all', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, { routes: [{ prefix: '/', upstream: up.url }] })
  const res = await request(`${url}/__gateway/health`)
  t.same(res.body, { status: 'ok', keys: [] })
  t.equal((await request(`${url}/x`)).body.url, '/x')
})

t.test('paths that escape the rewrite prefix never reach the upstream', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, { routes: [{ prefix: '/api', upstream: up.url, rewritePrefix: '/api', jwt: false }] })
  // http-proxy refuses an escaping destination with 400; the router already finds no route for a decoded "..".
  for (const [path, status] of [['/api/..%2f..%2fadmin', 400], ['/api/%2e%2e/admin', 404], ['/api/..%5c..%5cadmin', 400]] as const) {
    const res = await request(`${url}${path}`)
    t.equal(res.status, status, path)
    t.equal(res.body.upstream, undefined)
  }
  t.equal((await request(`${url}/api/ok`)).body.url, '/api/ok')
})

t.test('one prefix, two routes split by method: each method meets its own route, the rest 405', async (t) => {
  const reads = await echoUpstream(t, 'reads')
  const writes = await echoUpstream(t, 'writes')
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET },
    routes: [
      { prefix: '/items', upstream: reads.url, methods: ['GET'], jwt: false },
      { prefix: '/items', upstream: writes.url, methods: ['POST', 'PUT'] }
    ]
  })
  t.equal((await request(`${url}/items/1`)).body.upstream, 'reads')
  t.equal((await request(`${url}/items/1`, { method: 'POST' })).status, 401, 'writes need a token')
  t.equal((await request(`${url}/items/1`, { method: 'POST', headers: bearer(hs({ sub: 'w' })) })).body.upstream, 'writes')
  const del = await request(`${url}/items/1`, { method: 'DELETE' })
  t.equal(del.status, 405)
  t.equal(del.headers.allow, 'GET, HEAD, POST, PUT')
  t.same(gatewayConfigProblems({ routes: [{ prefix: '/a', upstream: 'http://h', methods: ['GET'] }, { prefix: '/a', upstream: 'http://h', methods: ['HEAD'] }] }),
    ['routes[1].prefix: "/a" is already routed for HEAD by routes[0] (HEAD follows GET)'])
})

t.test('routes over one JWKS URL share one fetcher', async (t) => {
  const k = keys()
  let fetches = 0
  const jwks = createServer((_req, res) => {
    fetches++
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...k.rsa.jwk, alg: 'RS256', use: 'sig' }] }))
  })
  jwks.listen(0, '127.0.0.1')
  await once(jwks, 'listening')
  t.teardown(() => { jwks.closeAllConnections(); jwks.close() })
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { keys: [{ jwks: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json` }] },
    routes: [
      { prefix: '/a', upstream: up.url },
      { prefix: '/b', upstream: up.url, jwt: { realm: 'b', claimsToHeaders: { 'x-user-id': 'sub' } } },
      { prefix: '/c', upstream: up.url, jwt: { requireClaims: [{ claim: 'sub', op: 'exists' }] } }
    ]
  })
  const token = bearer(sign(k.rsa, 'RS256', { sub: 'u-j' }))
  t.equal((await request(`${url}/a/x`, { headers: token })).status, 200)
  t.equal((await request(`${url}/b/x`, { headers: token })).body.headers['x-user-id'], 'u-j')
  t.equal((await request(`${url}/c/x`, { headers: token })).status, 200)
  t.equal(fetches, 1, 'one fetch, at start, for three routes')
  const health = await request(`${url}/__gateway/health`)
  t.equal(health.body.keys.length, 1)
  t.same(health.body.keys[0].kids, ['rsa-1'])
})
