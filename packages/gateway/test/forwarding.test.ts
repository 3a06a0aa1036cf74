import t, { type Test } from 'tap'
import type { BuildGatewayOptions, GatewayConfig } from '../src/index.js'
import { bearer, collect, echoUpstream, hs, request, SECRET, startGateway } from './helpers/servers.js'

// Claims to headers, end to end: a real gateway in front of a real upstream
// that reports the bytes it received.

const claims = {
  'x-user-id': 'sub',
  'x-role': 'realm.access.role',
  'x-admin': 'admin',
  'x-level': 'level',
  'x-groups': 'groups',
  'x-org': 'org',
  'x-name': 'name'
}

async function setup (t: Test, extra: Partial<GatewayConfig> = {}, opts: BuildGatewayOptions = {}) {
  const up = await echoUpstream(t)
  const config: GatewayConfig = {
    jwt: { secret: SECRET, claimsToHeaders: claims, joseHeadersToHeaders: { 'x-key-id': 'kid' }, payloadHeader: 'x-jwt-payload' },
    routes: [
      { prefix: '/api', upstream: up.url, rewritePrefix: '/api' },
      // Open, and forwarding nothing itself: inbound copies must still go.
      { prefix: '/', upstream: up.url, jwt: false },
      // Another policy's header, configured only here.
      { prefix: '/other', upstream: up.url, rewritePrefix: '/other', jwt: { claimsToHeaders: { 'x-tenant': 'tenant' } } }
    ],
    ...extra
  }
  return await startGateway(t, config, opts)
}

t.test('claims arrive as headers: strings as is, numbers and booleans as text, arrays and objects as JSON', async (t) => {
  const { url } = await setup(t)
  const token = hs({ sub: 'u-42', realm: { access: { role: 'sales' } }, admin: true, level: 3, groups: ['a', 'b'], org: { id: 7 } })
  const res = await request(`${url}/api/leads?x=1`, { headers: bearer(token) })
  t.equal(res.status, 200)
  t.equal(res.body.url, '/api/leads?x=1')
  const h = res.body.headers
  t.equal(h['x-user-id'], 'u-42')
  t.equal(h['x-role'], 'sales')
  t.equal(h['x-admin'], 'true')
  t.equal(h['x-level'], '3')
  t.equal(h['x-groups'], '["a","b"]')
  t.equal(h['x-org'], '{"id":7}')
  t.equal(h['x-key-id'], 'hmac-1')
  t.same(JSON.parse(Buffer.from(h['x-jwt-payload'], 'base64url').toString('utf8')).sub, 'u-42')
  t.equal(h.authorization, `Bearer ${token}`, 'the token is forwarded by default')
})

t.test('absent claims produce no header, and spoofed copies never arrive', async (t) => {
  const { url } = await setup(t)
  const spoofed = { 'x-user-id': 'evil', 'x-role': 'admin', 'x-name': 'evil', 'x-key-id': 'evil', 'x-jwt-payload': 'evil', 'x-tenant': 'evil' }
  const res = await request(`${url}/api/leads`, { headers: { ...bearer(hs({ sub: 'u-1' })), ...spoofed } })
  t.equal(res.status, 200)
  const h = res.body.headers
  t.equal(h['x-user-id'], 'u-1')
  for (const name of ['x-role', 'x-name', 'x-admin', 'x-groups', 'x-tenant']) t.notOk(name in h, `${name} absent`)
  t.equal(h['x-key-id'], 'hmac-1')
  t.not(h['x-jwt-payload'], 'evil')
})

t.test('spoofed headers are removed on open routes too, including headers only another route forwards', async (t) => {
  const { url } = await setup(t)
  const spoofed = { 'x-user-id': 'evil', 'x-role': 'admin', 'x-key-id': 'evil', 'x-jwt-payload': 'evil', 'x-tenant': 'evil', 'x-kept': 'yes' }
  const res = await request(`${url}/about`, { headers: spoofed })
  t.equal(res.status, 200)
  t.equal(res.body.url, '/about')
  const h = res.body.headers
  for (const name of ['x-user-id', 'x-role', 'x-key-id', 'x-jwt-payload', 'x-tenant']) t.notOk(name in h, `${name} removed`)
  t.equal(h['x-kept'], 'yes', 'other headers pass')

  // A route whose own policy does not forward x-user-id still strips it.
  const other = await request(`${url}/other/x`, { headers: { ...bearer(hs({ sub: 'u-1', tenant: 't-9' })), 'x-user-id': 'evil' } })
  t.equal(other.status, 200)
  t.equal(other.body.headers['x-tenant'], 't-9')
  t.notOk('x-user-id' in other.body.headers, 'claimsToHeaders is replaced as a whole by the route\'s own')
})

t.test('a client\'s Connection header cannot strip the forwarded headers', async (t) => {
  const { url } = await setup(t)
  const res = await request(`${url}/api/leads`, {
    headers: { ...bearer(hs({ sub: 'u-7', realm: { access: { role: 'ops' } } })), connection: 'keep-alive, x-user-id, x-role, x-jwt-payload, authorization' }
  })
  t.equal(res.status, 200)
  const h = res.body.headers
  t.equal(h['x-user-id'], 'u-7')
  t.equal(h['x-role'], 'ops')
  t.ok(h['x-jwt-payload'])
  t.notOk('connection' in h && /x-user-id/.test(h.connection), 'the client\'s Connection list is not passed on')
})

t.test('a claim with CR/LF or other control characters is not forwarded (and the request still goes through)', async (t) => {
  const lines: any[] = []
  const { url } = await setup(t, {}, { logger: collect(lines) })
  const token = hs({ sub: 'u-1', name: 'a\r\nx-injected: 1' })
  const res = await request(`${url}/api/leads`, { headers: bearer(token) })
  t.equal(res.status, 200)
  t.notOk('x-name' in res.body.headers)
  t.notOk('x-injected' in res.body.headers)
  t.equal(res.body.headers['x-user-id'], 'u-1')
  const warned = lines.filter((l) => l.msg === 'jwt: claim not forwarded: its value has control characters or cannot be serialized')
  t.equal(warned.length, 1)
  t.same(warned[0].jwt, { header: 'x-name', claim: 'name' })
  t.notOk(lines.some((l) => JSON.stringify(l).includes(token) || JSON.stringify(l).includes('x-injected')), 'neither the token nor the value is logged')
})

t.test('UTF-8 claims reach the upstream as their UTF-8 bytes', async (t) => {
  const { url } = await setup(t)
  const name = 'Zoë Ñandú 山田 🚀'
  const res = await request(`${url}/api/leads`, { headers: bearer(hs({ sub: 'ü-1', name })) })
  t.equal(res.status, 200)
  t.equal(res.body.headers['x-name'], name)
  t.equal(res.body.headers['x-user-id'], 'ü-1')
})

t.test('forwardToken: false removes the token from the header, the cookie and the query', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET, forwardToken: false, claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [
      { prefix: '/h', upstream: up.url },
      { prefix: '/c', upstream: up.url, jwt: { token: 'cookie:session' } },
      { prefix: '/q', upstream: up.url, jwt: { token: ['query:access_token', 'header:x-token'] } },
      { prefix: '/keep', upstream: up.url, jwt: { forwardToken: true } }
    ]
  })
  const token = hs({ sub: 'u-1' })

  const h = await request(`${url}/h/x`, { headers: bearer(token) })
  t.equal(h.status, 200)
  t.notOk('authorization' in h.body.headers)
  t.equal(h.body.headers['x-user-id'], 'u-1')

  const c = await request(`${url}/c/x`, { headers: { cookie: `theme=dark; session=${token}; lang=en` } })
  t.equal(c.status, 200)
  t.equal(c.body.headers.cookie, 'theme=dark; lang=en')
  const only = await request(`${url}/c/x`, { headers: { cookie: `session=${token}` } })
  t.equal(only.status, 200)
  t.notOk('cookie' in only.body.headers)

  const q = await request(`${url}/q/x?a=1&access%5Ftoken=${token}&b=%20two`)
  t.equal(q.status, 200)
  t.equal(q.body.url, '/x?a=1&b=%20two', 'the parameter is gone, even with its name percent-encoded; the rest untouched')
  t.equal(q.body.headers['x-user-id'], 'u-1')
  const q2 = await request(`${url}/q/x?access_token=${token}`)
  t.equal(q2.body.url, '/x')
  const qh = await request(`${url}/q/x?a=1`, { headers: { 'x-token': token } })
  t.equal(qh.status, 200)
  t.notOk('x-token' in qh.body.headers)
  t.equal(qh.body.url, '/x?a=1')

  const keep = await request(`${url}/keep/x`, { headers: bearer(token) })
  t.equal(keep.body.headers.authorization, `Bearer ${token}`)
})
