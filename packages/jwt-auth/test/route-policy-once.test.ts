import t from 'tap'
import type { JwtPolicy } from '../src/index.js'
import { bearer, build, hs, SECRET } from './helpers/app.js'

// Issue 11 point 3: a route's config.jwt is validated and compiled once, and
// shared by the GET route and the HEAD route Fastify adds beside it; a policy
// object changed between two routes is compiled again, never served stale.

t.test('a GET and its HEAD share one compiled route policy; an object changed between routes is compiled again', async (t) => {
  const routeJwt: JwtPolicy = { audience: 'a' }
  const app = await build(t, { secret: SECRET }, (app) => {
    app.get('/a', { config: { jwt: routeJwt } }, async () => ({ ok: true }))
    ;(routeJwt as { audience: string }).audience = 'b'
    app.get('/b', { config: { jwt: routeJwt } }, async () => ({ ok: true }))
  })
  const status = async (method: 'GET' | 'HEAD', url: string, aud: string): Promise<number> =>
    (await app.inject({ method, url, headers: bearer(hs({ sub: 'u', aud })) })).statusCode
  t.equal(await status('GET', '/a', 'a'), 200)
  t.equal(await status('HEAD', '/a', 'a'), 200, 'HEAD /a has the policy GET /a was compiled with')
  t.equal(await status('GET', '/a', 'b'), 401)
  t.equal(await status('HEAD', '/a', 'b'), 401)
  t.equal(await status('GET', '/b', 'b'), 200, 'the changed object is compiled again for /b')
  t.equal(await status('GET', '/b', 'a'), 401)
})
