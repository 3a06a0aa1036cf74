// Issue 10, point 7: the plugin never fails open when `register` is not
// awaited. Before the fix the README's first example (`fastify.register(jwtAuth,
// ...)` then `fastify.get(...)`, no await) served `/report` with no token (200)
// and answered `/orders` with a 500 reading `request.jwt.payload`. A route
// added before the plugin has loaded now gets the policy it would have had.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import jwtAuth, { type JwtPolicy } from '../src/index.js'
import { bearer, denied, hs, SECRET } from './helpers/app.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const POLICY: JwtPolicy = { secret: SECRET }
const MISSING = 'Bearer realm="api"'

/** The routes of the README, in every spelling, added right after `register`. */
function routes (app: FastifyInstance): void {
  app.get('/report', async () => 'report')
  app.get('/orders', async (request) => ({ user: request.jwt!.payload.sub }))
  app.route({ method: 'GET', url: '/route', handler: async () => 'route' })
  app.get('/health', { config: { jwt: false } }, async () => 'ok')
  app.get('/admin', { config: { jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] } } }, async () => 'admin')
  app.post('/echo', { config: { jwt: { require: (request) => (request.body as { ok?: boolean } | undefined)?.ok === true } } }, async (request) => request.body)
  app.register(async (child) => {
    child.get('/child', async (request) => ({ user: request.jwt?.payload.sub }))
  })
}

async function build (t: Test, awaited: boolean, policy: JwtPolicy = POLICY, add = routes): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  if (awaited) await app.register(jwtAuth, policy)
  else app.register(jwtAuth, policy)
  add(app)
  await app.ready()
  return app
}

for (const awaited of [false, true]) {
  t.test(`register ${awaited ? 'awaited' : 'not awaited'}: every route gets its policy`, async (t) => {
    const app = await build(t, awaited)
    for (const url of ['/report', '/orders', '/route', '/admin', '/child']) {
      const res = await app.inject({ url })
      t.equal(res.statusCode, 401, `${url}: no token`)
      t.equal(res.headers['www-authenticate'], MISSING, `${url}: challenge`)
      t.equal(res.json().code, 'FJG_ERR_TOKEN_MISSING', `${url}: code`)
    }
    t.equal((await app.inject({ method: 'HEAD', url: '/report' })).statusCode, 401, 'HEAD /report: no token')
    t.equal((await app.inject({ method: 'POST', url: '/echo', payload: { ok: true } })).statusCode, 401, 'POST /echo: no token')
    denied(t, await app.inject({ url: '/report', headers: bearer(`${hs({ sub: 'alice' })}x`) }), 'FJG_ERR_TOKEN_SIGNATURE')

    const user = bearer(hs({ sub: 'alice', role: 'user' }))
    t.equal((await app.inject({ url: '/report', headers: user })).body, 'report')
    t.strictSame((await app.inject({ url: '/orders', headers: user })).json(), { user: 'alice' }, '/orders reads request.jwt')
    t.equal((await app.inject({ url: '/route', headers: user })).body, 'route')
    t.strictSame((await app.inject({ url: '/child', headers: user })).json(), { user: 'alice' })
    const admin = await app.inject({ url: '/admin', headers: user })
    t.equal(admin.statusCode, 403, '/admin: its own config.jwt applies')
    t.equal(admin.json().code, 'FJG_ERR_CLAIM_REQUIREMENT')
    t.equal((await app.inject({ url: '/admin', headers: bearer(hs({ sub: 'root', role: 'admin' })) })).body, 'admin')
    // access phase (the default): `require` runs after body parsing and sees the body.
    t.strictSame((await app.inject({ method: 'POST', url: '/echo', headers: user, payload: { ok: true } })).json(), { ok: true })
    t.equal((await app.inject({ method: 'POST', url: '/echo', headers: user, payload: { ok: false } })).json().code, 'FJG_ERR_REQUIRE_FAILED')
    t.equal((await app.inject({ url: '/health' })).body, 'ok', 'jwt: false stays open')
    t.equal((await app.inject({ url: '/nowhere' })).statusCode, 404, 'an unknown route is still a 404')
  })

  t.test(`register ${awaited ? 'awaited' : 'not awaited'}, phase preaccess: refused before the body is parsed`, async (t) => {
    const app = await build(t, awaited, { ...POLICY, phase: 'preaccess' }, (a) => {
      a.post('/upload', async () => 'stored')
    })
    const res = await app.inject({ method: 'POST', url: '/upload', headers: { 'content-type': 'application/json' }, payload: '{not json' })
    t.equal(res.statusCode, 401, 'no token: 401, not the 400 of the body parser')
    t.equal(res.json().code, 'FJG_ERR_TOKEN_MISSING')
  })
}

t.test('an invalid config.jwt: awaited, adding the route throws naming it; not awaited, the route fails closed', async (t) => {
  const bad = (a: FastifyInstance): void => {
    a.get('/bad', { config: { jwt: { leeway: 'abc' } as unknown as JwtPolicy } }, async () => 'served')
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, POLICY)
  t.throws(() => bad(app), { code: 'FJG_ERR_OPTION_INVALID', message: /^GET \/bad: Invalid jwt policy: config\.jwt\.leeway: must be number/ })

  const lazy = await build(t, false, POLICY, bad)
  const res = await lazy.inject({ url: '/bad', headers: bearer(hs({ sub: 'alice' })) })
  t.equal(res.statusCode, 500, 'never served')
  t.strictSame(res.json(), { statusCode: 500, error: 'Internal Server Error', code: 'FJG_ERR_OPTION_INVALID', message: 'The route\'s jwt policy is invalid' })
})

t.test('an inner jwt-auth not awaited, under an outer one: its routes get both policies', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, POLICY)
  app.register(async (service) => {
    service.register(jwtAuth, { ...POLICY, requireClaims: [{ claim: 'role', op: 'eq', value: 'billing' }] })
    service.get('/billing', async () => 'billing')
  })
  await app.ready()
  t.equal((await app.inject({ url: '/billing' })).statusCode, 401, 'no token')
  const user = await app.inject({ url: '/billing', headers: bearer(hs({ sub: 'alice', role: 'user' })) })
  t.equal(user.statusCode, 403, 'the inner requirement applies although the outer policy saw the route')
  t.equal(user.json().code, 'FJG_ERR_CLAIM_REQUIREMENT')
  t.equal((await app.inject({ url: '/billing', headers: bearer(hs({ sub: 'bob', role: 'billing' })) })).body, 'billing')
})
