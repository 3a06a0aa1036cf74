import t from 'tap'
import { buildGateway, type GatewayConfigError } from '../src/index.js'
import { sign } from '../../jwt-auth/test/helpers/keys.js'
import { bearer, echoUpstream, hs, keys, request, SECRET, startGateway } from './helpers/servers.js'

// Issue 13 point 7 through the gateway: a route with `providers` forwards the
// claims of the provider that verified the token, through the route's
// claimsToHeaders, and a client's copy of those headers never reaches the upstream.

const A = 'https://login.example'
const B = 'https://partner.example'

t.test('a route with providers forwards the picked provider\'s claims', async (t) => {
  const up = await echoUpstream(t)
  const k = keys()
  const { url } = await startGateway(t, {
    jwt: { claimsToHeaders: { 'x-user-id': 'sub', 'x-issuer': 'iss', 'x-partner': 'partner_id' } },
    routes: [
      {
        prefix: '/api',
        upstream: up.url,
        jwt: {
          providers: [
            { issuer: A, secret: SECRET, audience: 'api' },
            { issuer: B, keys: [{ jwk: k.rsa.jwk }], audience: 'partner-api', requireClaims: [{ claim: 'partner_id', op: 'exists' }] }
          ]
        }
      },
      { prefix: '/', upstream: up.url, jwt: false }
    ]
  })
  const a = await request(`${url}/api/x`, { headers: { ...bearer(hs({ iss: A, sub: 'alice', aud: 'api' })), 'x-partner': 'forged' } })
  t.equal(a.status, 200)
  t.equal(a.body.headers['x-user-id'], 'alice')
  t.equal(a.body.headers['x-issuer'], A)
  t.equal(a.body.headers['x-partner'], undefined, 'the client\'s copy is dropped')
  const b = await request(`${url}/api/x`, { headers: bearer(sign(k.rsa, 'RS256', { iss: B, sub: 'bob', aud: 'partner-api', partner_id: 'p-7' })) })
  t.equal(b.status, 200)
  t.strictSame([b.body.headers['x-user-id'], b.body.headers['x-issuer'], b.body.headers['x-partner']], ['bob', B, 'p-7'])
  // B's key claiming A is refused (A's key is the secret); A's secret claiming B too.
  const forged = await request(`${url}/api/x`, { headers: bearer(sign(k.rsa, 'RS256', { iss: A, sub: 'mallory', aud: 'api' })) })
  t.equal(forged.status, 401)
  t.equal(forged.body.code, 'FJG_ERR_TOKEN_ALGORITHM', 'A takes HS256 only')
  const forgedB = await request(`${url}/api/x`, { headers: bearer(hs({ iss: B, sub: 'mallory', aud: 'partner-api', partner_id: 'p' })) })
  t.equal(forgedB.status, 401)
  t.equal(forgedB.body.code, 'FJG_ERR_TOKEN_ALGORITHM', 'B takes RSA only')
  const unknown = await request(`${url}/api/x`, { headers: bearer(hs({ iss: 'https://evil.example', sub: 'x' })) })
  t.equal(unknown.status, 401)
  t.equal(unknown.body.code, 'FJG_ERR_TOKEN_ISSUER')
  t.equal(unknown.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token issuer is not allowed"')
})

t.test('providers errors name the route', async (t) => {
  const err = await buildGateway({
    routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9000', jwt: { providers: [{ issuer: A, secret: SECRET }, { issuer: A, secret: SECRET }] } }]
  }).catch((e: unknown) => e) as GatewayConfigError
  t.same(err.problems, [`routes[0].jwt.providers[1].issuer: "${A}" is already the issuer of providers[0]`])
})
