import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { jwksServer } from '../../jwt-auth/test/helpers/jwks-server.js'
import { sign, type TestKey } from '../../jwt-auth/test/helpers/keys.js'
import { gatewayConfigProblems, type GatewayConfig } from '../src/index.js'
import { startNginx } from './helpers/nginx.js'
import { bearer, collect, echoUpstream, hs, rawRequest, request, SECRET, startGateway } from './helpers/servers.js'

// The auth endpoint (server.authPath) behind the three proxies that use one:
// a real nginx with auth_request, and the Traefik (forwardAuth) and Envoy
// (ext_authz with path_prefix) forms over plain HTTP.

const ISS = 'https://issuer.example'
const AUTH = '/__gateway/auth'

function config (upstream: string, extra: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    server: { authPath: AUTH, ...extra.server },
    jwt: { secret: SECRET, issuer: ISS, realm: 'api', claimsToHeaders: { 'x-user-id': 'sub', 'x-role': 'role' } },
    routes: [
      { prefix: '/api/admin', upstream, rewritePrefix: '/api/admin', jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] } },
      { prefix: '/api', upstream, rewritePrefix: '/api', methods: ['GET', 'POST'] },
      { prefix: '/', upstream, jwt: false }
    ],
    ...extra.routes === undefined ? {} : { routes: extra.routes }
  }
}

/** The nginx `server {}` body of the README: auth_request to the gateway, the claim copied to the upstream. */
function nginxServer (gateway: string, upstream: string): string {
  const gw = gateway.replace('http://', '')
  const up = upstream.replace('http://', '')
  return `
    location / {
      auth_request /_auth;
      auth_request_set $user $upstream_http_x_user_id;
      auth_request_set $role $upstream_http_x_role;
      proxy_set_header X-User-Id $user;
      proxy_set_header X-Role $role;
      proxy_pass http://${up};
    }
    location = /_auth {
      internal;
      proxy_pass http://${gw}${AUTH};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }
    location = /__nginx_probe { return 204; }
`
}

t.test('nginx auth_request in front of a real upstream', async (t) => {
  const up = await echoUpstream(t)
  const gw = await startGateway(t, config(up.url))
  const nginx = await startNginx(t, nginxServer(gw.url, up.url))

  const none = await request(`${nginx.url}/api/leads`)
  t.equal(none.status, 401, 'no token: 401 from nginx')
  t.equal(none.headers['www-authenticate'], 'Bearer realm="api"', 'nginx passes the WWW-Authenticate of a 401 on')

  const bad = await request(`${nginx.url}/api/leads`, { headers: bearer(hs({ sub: 'alice', iss: 'https://other' })) })
  t.equal(bad.status, 401)
  t.match(bad.headers['www-authenticate'], /error="invalid_token"/)

  const ok = await request(`${nginx.url}/api/leads?page=2`, { headers: { ...bearer(hs({ sub: 'alice', iss: ISS, role: 'sales' })), 'x-user-id': 'mallory' } })
  t.equal(ok.status, 200)
  t.equal(ok.body.url, '/api/leads?page=2', 'the upstream serves the original request')
  t.equal(ok.body.headers['x-user-id'], 'alice', 'the verified claim reached the upstream, the forged one did not')
  t.equal(ok.body.headers['x-role'], 'sales')

  const insufficient = await request(`${nginx.url}/api/admin/users`, { headers: bearer(hs({ sub: 'alice', iss: ISS, role: 'sales' })) })
  t.equal(insufficient.status, 403, 'a failed requirement: 403 from nginx')
  const admin = await request(`${nginx.url}/api/admin/users`, { headers: bearer(hs({ sub: 'root', iss: ISS, role: 'admin' })) })
  t.equal(admin.status, 200)
  t.equal(admin.body.headers['x-user-id'], 'root')

  // Case-folded selection: /API/admin is /api/admin's policy, as the upstream may read it.
  const folded = await request(`${nginx.url}/API/Admin/users`, { headers: bearer(hs({ sub: 'alice', iss: ISS, role: 'sales' })) })
  t.equal(folded.status, 403, '/API/Admin gets the policy of /api/admin')

  const open = await request(`${nginx.url}/about`, { headers: { 'x-user-id': 'mallory' } })
  t.equal(open.status, 200, 'jwt: false route: allowed without a token')
  t.equal(open.body.headers['x-user-id'], undefined, 'no claim, and the forged header is not passed (empty proxy_set_header drops it)')

  // nginx chooses its location on the normalized $uri, but X-Original-URI is the
  // raw $request_uri: a dot segment is refused by the gateway, which nginx turns
  // into a 500 — closed, never served under the open route.
  for (const path of ['/./api/leads', '/%2e/api/leads', '/api/./admin/users', '/api//admin/users']) {
    // Written byte for byte: node:http's URL parsing would remove the dot segments first.
    const sneaky = await rawRequest(nginx.url, path, { headers: bearer(hs({ sub: 'alice', iss: ISS, role: 'sales' })) })
    t.equal(sneaky.status, 500, `${path}: the auth endpoint's 400 becomes nginx's 500, not a 200`)
  }
  const sneakyAnon = await rawRequest(nginx.url, '/./api/leads')
  t.equal(sneakyAnon.status, 500, 'anonymous /./api/leads is refused too')
})

t.test('nginx auth_request: JWKS rotation and revocation through the endpoint', async (t) => {
  const make = (kid: string): TestKey => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    return {
      name: kid,
      kid,
      signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
      jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' },
      privateKey
    } as TestKey
  }
  const k1 = make('k1')
  const k2 = make('k2')
  const jwks = await jwksServer(t, { '/jwks.json': { json: { keys: [k1.jwk] } } })
  const dir = mkdtempSync(join(tmpdir(), 'fjg-auth-revoked-'))
  const revoked = join(dir, 'revoked-sub.json')
  writeFileSync(revoked, JSON.stringify([]))

  const up = await echoUpstream(t)
  const gw = await startGateway(t, {
    server: { authPath: AUTH },
    jwt: { keys: [{ jwks: jwks.url('/jwks.json'), cooldown: 0 }], issuer: ISS, claimsToHeaders: { 'x-user-id': 'sub' }, revocation: { sub: revoked } },
    routes: [{ prefix: '/api', upstream: up.url, rewritePrefix: '/api' }]
  })
  const nginx = await startNginx(t, nginxServer(gw.url, up.url))

  const first = await request(`${nginx.url}/api/x`, { headers: bearer(sign(k1, 'ES256', { sub: 'alice', iss: ISS })) })
  t.equal(first.status, 200)
  t.equal(first.body.headers['x-user-id'], 'alice')

  const early = await request(`${nginx.url}/api/x`, { headers: bearer(sign(k2, 'ES256', { sub: 'bob', iss: ISS })) })
  t.equal(early.status, 401, 'a kid the key set does not have yet')

  // The provider rotates: the new kid is fetched on first sight (after the refetch cooldown).
  jwks.route('/jwks.json').json = { keys: [k1.jwk, k2.jwk] }
  let rotated = 0
  for (let i = 0; i < 40 && rotated !== 200; i++) {
    rotated = (await request(`${nginx.url}/api/x`, { headers: bearer(sign(k2, 'ES256', { sub: 'bob', iss: ISS })) })).status
    if (rotated !== 200) await new Promise((resolve) => setTimeout(resolve, 250))
  }
  t.equal(rotated, 200, 'a token of the rotated-in key passes once the key set has it')

  writeFileSync(revoked, JSON.stringify(['alice']))
  let status = 200
  for (let i = 0; i < 60 && status !== 401; i++) {
    status = (await request(`${nginx.url}/api/x`, { headers: bearer(sign(k1, 'ES256', { sub: 'alice', iss: ISS })) })).status
    if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 250))
  }
  t.equal(status, 401, 'a revoked sub is refused through the endpoint')
  const other = await request(`${nginx.url}/api/x`, { headers: bearer(sign(k1, 'ES256', { sub: 'carol', iss: ISS })) })
  t.equal(other.status, 200, 'others still pass')
})

t.test('Traefik forwardAuth form: X-Forwarded-Uri and X-Forwarded-Method', async (t) => {
  const up = await echoUpstream(t)
  const gw = await startGateway(t, config(up.url))
  const ask = (uri: string, method: string, headers: Record<string, string> = {}) =>
    request(`${gw.url}${AUTH}`, { headers: { 'x-forwarded-uri': uri, 'x-forwarded-method': method, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example', ...headers } })

  const ok = await ask('/api/leads', 'GET', bearer(hs({ sub: 'alice', iss: ISS, role: 'sales' })))
  t.equal(ok.status, 200)
  t.equal(ok.body, '', 'empty body')
  t.equal(ok.headers['x-user-id'], 'alice', 'claim headers in the answer, for authResponseHeaders')
  t.equal(ok.headers['x-role'], 'sales')

  const none = await ask('/api/leads', 'GET')
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal(none.body.code, 'FJG_ERR_TOKEN_MISSING')
  t.equal(none.headers['x-user-id'], undefined)

  const forbidden = await ask('/api/admin/x', 'GET', bearer(hs({ sub: 'alice', iss: ISS, role: 'sales' })))
  t.equal(forbidden.status, 403)
  t.equal(forbidden.body.code, 'FJG_ERR_CLAIM_REQUIREMENT')
  t.match(forbidden.headers['www-authenticate'], /error="insufficient_scope"/)

  const method = await ask('/api/leads', 'DELETE', bearer(hs({ sub: 'alice', iss: ISS })))
  t.equal(method.status, 405, 'a method the route does not proxy')
  t.equal(method.body.code, 'FJG_ERR_METHOD_NOT_ALLOWED')

  const open = await ask('/about', 'GET')
  t.equal(open.status, 200, 'jwt: false: 200 with no claim headers')
  t.equal(open.headers['x-user-id'], undefined)

  // nginx's names win over Traefik's when both are sent.
  const both = await request(`${gw.url}${AUTH}`, { headers: { 'x-original-uri': '/api/admin/x', 'x-forwarded-uri': '/about', ...bearer(hs({ sub: 'a', iss: ISS, role: 'sales' })) } })
  t.equal(both.status, 403, 'X-Original-URI is read first')

  for (const uri of ['/./api/leads', '/%2e/api/leads', '/api/.%2e/x', '/api\\x', '/api%2fadmin', '/api//admin/x', '/api/x#frag', '/api/%00']) {
    const r = await ask(uri, 'GET')
    t.equal(r.status, 400, `${JSON.stringify(uri)}: not canonical`)
    t.equal(r.body.code, 'FJG_ERR_PATH_NOT_CANONICAL')
  }
})

t.test('Envoy ext_authz form: the original path after authPath', async (t) => {
  const up = await echoUpstream(t)
  const lines: Array<Record<string, any>> = []
  const token = hs({ sub: 'alice', iss: ISS, role: 'admin' })
  const gw = await startGateway(t, config(up.url, {
    routes: [
      { prefix: '/api/admin', upstream: up.url, jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] } },
      { prefix: '/q', upstream: up.url, jwt: { token: 'query:access_token' } }
    ]
  }), { logger: collect(lines) })

  const ok = await request(`${gw.url}${AUTH}/api/admin/users?x=1`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json', 'content-length': '0' } })
  t.equal(ok.status, 200, 'the auth request\'s method is the original\'s')
  t.equal(ok.headers['x-user-id'], 'alice')

  const q = await request(`${gw.url}${AUTH}/q/items?access_token=${token}`)
  t.equal(q.status, 200, 'a query token is read from the original query')
  t.equal(q.headers['x-user-id'], 'alice')

  const none = await request(`${gw.url}${AUTH}/api/admin/users`)
  t.equal(none.status, 401)

  const nowhere = await request(`${gw.url}${AUTH}/elsewhere`)
  t.equal(nowhere.status, 404, 'no route owns the path')
  t.equal(nowhere.body.code, 'FJG_ERR_AUTH_NO_ROUTE')

  const bare = await request(`${gw.url}${AUTH}`)
  t.equal(bare.status, 404, 'no original path and no "/" route')

  // Fastify's own "incoming request" line logs the URL whole (the preset's
  // logger redacts it: preset test/logging.test.ts); no line of ours has the token.
  const ours = lines.filter((l) => l.req === undefined)
  t.ok(ours.some((l) => String(l.msg).startsWith('jwt: denied')), 'the denial was logged')
  t.notOk(JSON.stringify(ours).includes(token), 'the token is never logged')
})

t.test('only trusted callers: the socket peer, never X-Forwarded-For', async (t) => {
  const up = await echoUpstream(t)
  const gw = await startGateway(t, config(up.url, { server: { authPath: AUTH, authTrustedProxies: ['10.0.0.0/8', 'fd00::/8'], trustProxy: true } }))
  const token = hs({ sub: 'alice', iss: ISS })
  for (const xff of [undefined, '10.1.2.3']) {
    const r = await request(`${gw.url}${AUTH}`, { headers: { 'x-original-uri': '/api/leads', ...bearer(token), ...(xff === undefined ? {} : { 'x-forwarded-for': xff }) } })
    t.equal(r.status, 403, `from 127.0.0.1${xff === undefined ? '' : ` claiming ${xff}`}: refused`)
    t.equal(r.body.code, 'FJG_ERR_AUTH_UNTRUSTED')
    t.equal(r.headers['x-user-id'], undefined)
  }
  // The proxied routes are unaffected.
  const proxied = await request(`${gw.url}/api/leads`, { headers: bearer(token) })
  t.equal(proxied.status, 200)

  const loop = await startGateway(t, config(up.url, { server: { authPath: AUTH, authTrustedProxies: ['127.0.0.1'] } }))
  const allowed = await request(`${loop.url}${AUTH}`, { headers: { 'x-original-uri': '/api/leads', ...bearer(token) } })
  t.equal(allowed.status, 200, 'a listed address is trusted')
})

t.test('authPath and authTrustedProxies are checked at start', async (t) => {
  const base = { jwt: { secret: SECRET }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] }
  t.same(gatewayConfigProblems({ ...base, server: { authPath: AUTH } }), [], 'defaults: loopback')
  t.same(gatewayConfigProblems({ ...base, server: { authPath: AUTH, authTrustedProxies: [] } }), [
    'server.authTrustedProxies: must list at least one address or CIDR (no caller could use server.authPath)'
  ])
  t.same(gatewayConfigProblems({ ...base, server: { authPath: AUTH, authTrustedProxies: ['10.0.0.0/33', 'localhost', '::1'] } }), [
    'server.authTrustedProxies[0]: must be an IP address or CIDR such as "10.0.0.0/8" or "::1", got "10.0.0.0/33"',
    'server.authTrustedProxies[1]: must be an IP address or CIDR such as "10.0.0.0/8" or "::1", got "localhost"'
  ])
  t.match(gatewayConfigProblems({ ...base, server: { authPath: 'auth' } }), [/^server\.authPath: must be a path starting with "\/"/])
})
