import t from 'tap'
import { buildGateway, type GatewayConfigError } from '../src/index.js'
import { bearer, echoUpstream, hs, request, SECRET, startGateway } from './helpers/servers.js'

// Issue 13 point 12: a top-level `jwt` that holds only shared settings, with
// the keys on each route, is a valid config (it was "no key to verify tokens with").

t.test('a top-level jwt with only shared settings and keys per route', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { realm: 'shop', audience: 'shop-api', claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [
      { prefix: '/a', upstream: up.url, jwt: { secret: { base64: Buffer.from(SECRET).toString('base64') } } },
      { prefix: '/b', upstream: up.url, jwt: { secret: 'another-secret-that-signs-nothing-here', realm: 'b' } },
      { prefix: '/', upstream: up.url, jwt: false }
    ]
  })
  const ok = await request(`${url}/a/x`, { headers: bearer(hs({ sub: 'u-1', aud: 'shop-api' })) })
  t.equal(ok.status, 200)
  t.equal(ok.body.headers['x-user-id'], 'u-1', 'shared claimsToHeaders apply')
  const wrongAud = await request(`${url}/a/x`, { headers: bearer(hs({ sub: 'u-1', aud: 'other' })) })
  t.equal(wrongAud.status, 401)
  t.equal(wrongAud.body.code, 'FJG_ERR_TOKEN_AUDIENCE', 'the shared audience applies')
  t.equal(wrongAud.headers['www-authenticate'], 'Bearer realm="shop", error="invalid_token", error_description="The token audience is not allowed"')
  const b = await request(`${url}/b/x`)
  t.equal(b.headers['www-authenticate'], 'Bearer realm="b"', 'a route overrides a shared key')
  t.equal((await request(`${url}/open`)).status, 200)
})

t.test('a route that inherits a keyless top-level jwt as it is still needs keys', async (t) => {
  const err = await buildGateway({
    jwt: { realm: 'shop' },
    routes: [
      { prefix: '/a', upstream: 'http://127.0.0.1:9000', jwt: { secret: SECRET } },
      { prefix: '/', upstream: 'http://127.0.0.1:9000' }
    ]
  }).catch((e: unknown) => e) as GatewayConfigError
  t.same(err.problems, ['jwt: no key to verify tokens with: give "secret" or "keys" (or "validateSig": false)'])
  const bad = await buildGateway({
    jwt: { realm: 'shop', leeway: 'x' as any },
    routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:9000', jwt: { secret: SECRET } }]
  }).catch((e: unknown) => e) as GatewayConfigError
  t.same(bad.problems, ['jwt.leeway: must be number, got "x"'], 'shared settings are still validated, once')
})
