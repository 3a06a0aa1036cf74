import t from 'tap'
import Fastify from 'fastify'
import { jwtAuth, compilePolicy, mergePolicy } from '../src/internal.js'
import { bearer, build, hs, hsRaw, registerError, SECRET } from './helpers/app.js'

const now = (): number => Math.floor(Date.now() / 1000)

t.test('option errors name the option and the value, at registration', async (t) => {
  let err = await registerError({ secret: SECRET, leeway: 'abc' })
  t.equal(err.code, 'FJG_ERR_OPTION_INVALID')
  t.equal(err.message, 'Invalid jwt policy: leeway: must be number, got "abc"')
  err = await registerError({ secret: SECRET, lewway: 5 })
  t.equal(err.message, 'Invalid jwt policy: lewway: unknown key')
  err = await registerError({ secret: SECRET, requireClaims: [{ claim: 'role', op: 'like', value: 'x' }] })
  t.match(err.message, /requireClaims\[0\]\.op: must be one of "eq", "!eq"/)
  err = await registerError({ secret: SECRET, requireClaims: [{ claim: 'n', op: 'gt', value: 'x' }] })
  t.match(err.message, /requireClaims\[0\]\.value: 'gt' compares numbers, got "x"/)
  err = await registerError({ secret: SECRET, token: 'body:x' })
  t.match(err.message, /token: must be "header:authorization" \(Bearer\), "header:<name>", "cookie:<name>", "query:<name>", or a list tried in order, got "body:x"/)
  err = await registerError({ secret: SECRET, algorithms: ['none'] })
  t.match(err.message, /algorithms\[0\]: must be one of "HS256"/, '"none" is not an algorithm we know')
  err = await registerError({})
  t.match(err.message, /no key to verify tokens with/)
  err = await registerError({ secret: SECRET, algorithms: ['RS256'] })
  t.match(err.message, /algorithms: no key can verify RS256/)
  err = await registerError({ secret: SECRET, realm: 'a"b' })
  t.match(err.message, /realm: must not contain quotes/)
  err = await registerError({ secret: SECRET, phase: 'content' })
  t.match(err.message, /phase: must be one of "access", "preaccess"/)
  err = await registerError({ secret: SECRET, claimsToHeaders: { 'bad header': 'sub' } })
  t.match(err.message, /claimsToHeaders: "bad header" is not a valid header name/)
  err = await registerError({ secret: SECRET, require: 'yes' })
  t.match(err.message, /require: must be a function/)
  err = await registerError({ secret: SECRET, keys: [{ file: 'a', jwks: 'http://x' }] })
  t.match(err.message, /keys\[0\]: needs exactly one of "file", "jwk", "jwks", "keyval", "issuer", got file and jwks/)
  err = await registerError({ secret: '' })
  t.match(err.message, /secret: must NOT have fewer than 1 characters/)
  t.notMatch(err.message, /got/, 'a secret is never repeated in a message')
  err = await registerError({ secret: 12345678 })
  t.notMatch(err.message, /12345678/, 'not even a wrong-typed one')
  err = await registerError({ secret: SECRET, token: 'header:x-user', claimsToHeaders: { 'x-user': 'sub' } })
  t.match(err.message, /"x-user" is both a token source and a forwarded header/)
  err = await registerError({ secret: SECRET, leeway: -1, maxTokenSize: 1 })
  t.match(err.message, /leeway: must be >= 0, got -1; maxTokenSize: must be >= 64, got 1/, 'every problem at once')
  t.same((err as Error & { problems?: string[] }).problems, ['leeway: must be >= 0, got -1', 'maxTokenSize: must be >= 64, got 1'], 'and as a list, one line each')
})

t.test('a route config.jwt error names the route', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, { secret: SECRET })
  t.throws(() => app.get('/x', { config: { jwt: { leeway: 'no' as any } } }, async () => 'x'), /GET \/x: Invalid jwt policy: config\.jwt\.leeway: must be number/)
})

t.test('issuer and audience', async (t) => {
  const app = await build(t, { secret: SECRET, issuer: ['https://a.example', 'https://b.example'], audience: 'api://orders' })
  const ok = (p: Record<string, unknown>) => app.inject({ url: '/', headers: bearer(hs(p)) })
  t.equal((await ok({ iss: 'https://a.example', aud: 'api://orders' })).statusCode, 200)
  t.equal((await ok({ iss: 'https://b.example', aud: ['x', 'api://orders'] })).statusCode, 200, 'aud as an array')
  const badIss = await ok({ iss: 'https://evil.example', aud: 'api://orders' })
  t.equal(badIss.statusCode, 401)
  t.equal(badIss.json().code, 'FJG_ERR_TOKEN_ISSUER')
  t.equal(badIss.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token issuer is not allowed"')
  t.equal((await ok({ aud: 'api://orders' })).json().code, 'FJG_ERR_TOKEN_ISSUER', 'missing iss')
  t.equal((await ok({ iss: 'https://a.example', aud: ['x'] })).json().code, 'FJG_ERR_TOKEN_AUDIENCE')
  t.equal((await ok({ iss: 'https://a.example' })).json().code, 'FJG_ERR_TOKEN_AUDIENCE', 'missing aud')
  t.equal((await ok({ iss: 'https://a.example', aud: [1] })).json().code, 'FJG_ERR_TOKEN_AUDIENCE')
})

t.test('exp and nbf, with and without leeway', async (t) => {
  const strict = await build(t, { secret: SECRET })
  const lenient = await build(t, { secret: SECRET, leeway: 30 })
  const expired = hs({ exp: now() - 10 })
  const r1 = await strict.inject({ url: '/', headers: bearer(expired) })
  t.equal(r1.statusCode, 401)
  t.same(r1.json(), { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_EXPIRED', message: 'The token has expired' })
  t.equal(r1.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token has expired"')
  t.equal((await lenient.inject({ url: '/', headers: bearer(expired) })).statusCode, 200, 'within leeway')
  t.equal((await lenient.inject({ url: '/', headers: bearer(hs({ exp: now() - 60 })) })).statusCode, 401, 'beyond leeway')
  const future = hs({ nbf: now() + 10 })
  const r2 = await strict.inject({ url: '/', headers: bearer(future) })
  t.equal(r2.statusCode, 401, 'a future nbf is a 401, not a 500')
  t.equal(r2.json().code, 'FJG_ERR_TOKEN_INACTIVE')
  t.equal((await lenient.inject({ url: '/', headers: bearer(future) })).statusCode, 200)
  t.equal((await strict.inject({ url: '/', headers: bearer(hs({ exp: undefined })) })).statusCode, 200, 'no exp: accepted (RFC 7519 §4.1.4 makes it optional; see README)')
  const typed = await strict.inject({ url: '/', headers: bearer(hsRaw({ sub: 'u', exp: 'tomorrow' })) })
  t.equal(typed.statusCode, 401)
  t.equal(typed.json().code, 'FJG_ERR_TOKEN_CLAIM_TYPE')
})

t.test('validateExp: false and validateSig: false', async (t) => {
  const noExp = await build(t, { secret: SECRET, validateExp: false })
  t.equal((await noExp.inject({ url: '/', headers: bearer(hs({ exp: now() - 1000 })) })).statusCode, 200)
  const noSig = await build(t, { validateSig: false, issuer: 'https://a.example' })
  const forged = hs({ iss: 'https://a.example' }).replace(/\.[^.]+$/, '.AAAA')
  t.equal((await noSig.inject({ url: '/', headers: bearer(forged) })).statusCode, 200, 'signature not checked')
  t.equal((await noSig.inject({ url: '/', headers: bearer(hs({ iss: 'https://b.example' })) })).statusCode, 401, 'claims still checked')
  t.equal((await noSig.inject({ url: '/', headers: bearer(hs({ iss: 'https://a.example', exp: now() - 5 })) })).json().code, 'FJG_ERR_TOKEN_EXPIRED')
})

t.test('per-route override and jwt: false; routes registered once', async (t) => {
  const app = await build(t, { secret: SECRET, requireClaims: [{ claim: 'role', op: 'eq', value: 'user' }] }, (app) => {
    app.get('/open', { config: { jwt: false } }, async (request) => ({ jwt: request.jwt }))
    app.get('/admin', { config: { jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] } } }, async () => 'admin')
    app.get('/aud', { config: { jwt: { audience: 'x' } } }, async () => 'aud')
  })
  const user = hs({ role: 'user' })
  const admin = hs({ role: 'admin' })
  const open = await app.inject({ url: '/open' })
  t.equal(open.statusCode, 200)
  t.same(open.json(), { jwt: null }, 'request.jwt is null where no check ran')
  t.equal((await app.inject({ url: '/', headers: bearer(user) })).statusCode, 200)
  t.equal((await app.inject({ url: '/', headers: bearer(admin) })).statusCode, 403)
  t.equal((await app.inject({ url: '/admin', headers: bearer(admin) })).statusCode, 200, 'the route replaces requireClaims')
  t.equal((await app.inject({ url: '/admin', headers: bearer(user) })).statusCode, 403)
  t.equal((await app.inject({ url: '/aud', headers: bearer(hs({ role: 'user', aud: 'x' })) })).statusCode, 200, 'merged key by key: inherited requireClaims kept')
  t.equal((await app.inject({ url: '/aud', headers: bearer(hs({ role: 'admin', aud: 'x' })) })).statusCode, 403)
  t.equal((await app.inject({ url: '/aud', headers: bearer(user) })).json().code, 'FJG_ERR_TOKEN_AUDIENCE')
})

t.test('mergePolicy', async (t) => {
  t.same(mergePolicy({ secret: 'a', leeway: 1 }, { leeway: 2 }), { secret: 'a', leeway: 2 })
  t.equal(mergePolicy({ secret: 'a' }, false), null)
  t.same(mergePolicy(false, { secret: 'b' }), { secret: 'b' })
  t.same(mergePolicy({ secret: 'a', requireClaims: [{ claim: 'x', op: 'exists' }] }, { requireClaims: [] }), { secret: 'a', requireClaims: [] }, 'arrays are replaced')
})

t.test('both phases', async (t) => {
  for (const phase of ['access', 'preaccess'] as const) {
    let parsed = 0
    let routeHook = 0
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(jwtAuth, { secret: SECRET, phase })
    // Count body parsing: preaccess (onRequest) denies before it, access (preHandler) after it, as nginx phases.
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      parsed++
      done(null, JSON.parse(body as string))
    })
    app.post('/', {
      // Route-level hooks of the same phase run after the check, and see request.jwt.
      onRequest: (request, _reply, done) => { if (phase === 'preaccess') routeHook += request.jwt === null ? 100 : 1; done() },
      preHandler: (request, _reply, done) => { routeHook += request.jwt === null ? 100 : 1; done() }
    }, async (request) => ({ body: request.body, sub: request.jwt?.payload.sub }))
    const ok = await app.inject({ method: 'POST', url: '/', headers: bearer(hs({ sub: 's' })), payload: { a: 1 } })
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { body: { a: 1 }, sub: 's' })
    t.equal(routeHook, phase === 'preaccess' ? 2 : 1, `${phase}: route hooks run after the check`)
    t.equal(parsed, 1)
    parsed = 0
    routeHook = 0
    const denied = await app.inject({ method: 'POST', url: '/', payload: { a: 1 } })
    t.equal(denied.statusCode, 401)
    t.equal(routeHook, 0, `${phase}: nothing of the route runs after a denial`)
    t.equal(parsed, phase === 'preaccess' ? 0 : 1, `${phase}: body parsed ${phase === 'preaccess' ? 'never' : 'before the check'}`)
  }
})

t.test('optional', async (t) => {
  const app = await build(t, { secret: SECRET, optional: true, claimsToHeaders: { 'x-user': 'sub' } })
  const none = await app.inject({ url: '/', headers: { 'x-user': 'spoofed' } })
  t.equal(none.statusCode, 200)
  t.equal(none.json().jwt, null)
  t.equal(none.json().headers['x-user'], undefined, 'forwarded headers stripped even without a token')
  const bad = await app.inject({ url: '/', headers: bearer('x.y.z') })
  t.equal(bad.statusCode, 401, 'a bad token is still 401')
  const good = await app.inject({ url: '/', headers: bearer(hs({ sub: 'u1' })) })
  t.equal(good.json().headers['x-user'], 'u1')
})

t.test('require function', async (t) => {
  const app = await build(t, {
    secret: SECRET,
    require: (request) => request.jwt?.payload.tenant === request.headers['x-tenant']
  }, (app) => {
    app.get('/async', { config: { jwt: { require: async (request) => request.jwt?.payload.sub === 'a' } } }, async () => 'ok')
    app.get('/throws', { config: { jwt: { require: () => { throw new Error('boom') } } } }, async () => 'ok')
  })
  t.equal((await app.inject({ url: '/', headers: { ...bearer(hs({ tenant: 't1' })), 'x-tenant': 't1' } })).statusCode, 200)
  const no = await app.inject({ url: '/', headers: { ...bearer(hs({ tenant: 't1' })), 'x-tenant': 't2' } })
  t.equal(no.statusCode, 403)
  t.equal(no.json().code, 'FJG_ERR_REQUIRE_FAILED')
  t.equal(no.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The request is not allowed"')
  t.equal((await app.inject({ url: '/async', headers: bearer(hs({ sub: 'a' })) })).statusCode, 200)
  t.equal((await app.inject({ url: '/async', headers: bearer(hs({ sub: 'b' })) })).statusCode, 403)
  t.equal((await app.inject({ url: '/throws', headers: bearer(hs({ sub: 'a' })) })).statusCode, 403, 'a throwing require fails closed, no 5xx')
})

t.test('claims and JOSE headers to request headers; inbound copies removed', async (t) => {
  const app = await build(t, {
    secret: SECRET,
    claimsToHeaders: { 'X-User-Id': 'sub', 'x-role': 'realm.access.role', 'x-groups': 'groups', 'x-level': 'lvl', 'x-absent': 'nope', 'x-evil': 'evil' },
    joseHeadersToHeaders: { 'x-key-id': 'kid', 'x-alg': 'alg' },
    payloadHeader: 'x-jwt-payload'
  })
  const token = hs({ sub: 'u1', realm: { access: { role: 'editor' } }, groups: ['a', 'b'], lvl: 3, evil: 'a\r\nx-admin: 1' }, { kid: 'k1' })
  const res = await app.inject({
    url: '/',
    headers: { ...bearer(token), 'x-user-id': 'spoofed', 'x-absent': 'spoofed', 'x-jwt-payload': 'spoofed', 'x-key-id': 'spoofed' }
  })
  t.equal(res.statusCode, 200)
  const h = res.json().headers
  t.equal(h['x-user-id'], 'u1')
  t.equal(h['x-role'], 'editor')
  t.equal(h['x-groups'], '["a","b"]')
  t.equal(h['x-level'], '3')
  t.equal(h['x-absent'], undefined, 'absent claim: no header, and the spoofed one is gone')
  t.equal(h['x-evil'], undefined, 'CR/LF: omitted')
  t.equal(h['x-admin'], undefined)
  t.equal(h['x-key-id'], 'k1')
  t.equal(h['x-alg'], 'HS256')
  const payload = JSON.parse(Buffer.from(h['x-jwt-payload'], 'base64url').toString())
  t.equal(payload.sub, 'u1')
  t.notMatch(h['x-jwt-payload'], /=/, 'unpadded')
  t.same(res.json().jwt.payload.sub, 'u1')
  t.equal(res.json().jwt.token, token, 'request.jwt is { token, header, payload }')
  const denied = await app.inject({ url: '/', headers: { 'x-user-id': 'spoofed' } })
  t.equal(denied.statusCode, 401)
})

t.test('forwardToken: false removes the token from the request', async (t) => {
  const app = await build(t, { secret: SECRET, forwardToken: false, token: ['header:authorization', 'cookie:jwt'] })
  const token = hs()
  const h = (await app.inject({ url: '/', headers: bearer(token) })).json().headers
  t.equal(h.authorization, undefined)
  const c = (await app.inject({ url: '/', headers: { cookie: `a=1; jwt=${token}; b=2` } })).json().headers
  t.equal(c.cookie, 'a=1; b=2')
  const kept = await build(t, { secret: SECRET })
  t.equal((await kept.inject({ url: '/', headers: bearer(token) })).json().headers.authorization, `Bearer ${token}`, 'kept by default')
})

t.test('verified-token cache: bounded, never outlives exp, can be turned off', async (t) => {
  const c = compilePolicy({ secret: SECRET, cache: { size: 2, ttl: 60 } })
  const a = c.verify(hs({ sub: 'a' }))
  const t1 = hs({ sub: 'b' })
  const first = c.verify(t1)
  t.ok(Object.isFrozen(first), 'frozen on its first sight too')
  const second = c.verify(t1)
  t.not(second, first, 'first sight: verified, not cached')
  t.equal(c.verify(t1), second, 'admitted on the second sight: a hit returns the same frozen object')
  t.equal(c.verify(t1), c.verify(t1), 'a hit returns the same frozen object')
  t.ok(Object.isFrozen(c.verify(t1)))
  t.ok(Object.isFrozen((c.verify(t1) as any).payload))
  t.ok(a)
  // exp one second away: cached, then refused once it passes.
  const soon = hs({ exp: now() + 1 })
  t.ok(c.verify(soon))
  t.ok(c.verify(soon))
  await new Promise((resolve) => setTimeout(resolve, 2100))
  t.throws(() => c.verify(soon), { code: 'FJG_ERR_TOKEN_EXPIRED' }, 'a cached entry never outlives exp')
  const off = compilePolicy({ secret: SECRET, cache: false })
  const t2 = hs()
  t.not(off.verify(t2), off.verify(t2), 'no cache: verified each time')
})

t.test('registered in two encapsulated contexts, each with its own policy', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(async (a) => {
    await a.register(jwtAuth, { secret: SECRET, realm: 'a' })
    a.get('/a', async (request) => ({ sub: request.jwt?.payload.sub }))
  })
  await app.register(async (b) => {
    await b.register(jwtAuth, { secret: 'another-secret-for-the-b-context-0123456789', realm: 'b' })
    b.get('/b', async (request) => ({ sub: request.jwt?.payload.sub }))
  })
  app.get('/open', async (request) => ({ jwt: request.jwt ?? null }))
  await app.ready()
  const token = hs({ sub: 'u' })
  t.equal((await app.inject({ url: '/a', headers: bearer(token) })).statusCode, 200)
  const b = await app.inject({ url: '/b', headers: bearer(token) })
  t.equal(b.statusCode, 401, 'the other context checks with its own key')
  t.match(b.headers['www-authenticate'], /^Bearer realm="b", error="invalid_token"/)
  t.same((await app.inject({ url: '/open' })).json(), { jwt: null }, 'a route outside both has no check')
})

t.test('registered twice in one app: both policies apply, one status lists both', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, { secret: SECRET, requireClaims: [{ claim: 'a', op: 'exists' }] })
  await app.register(jwtAuth, { secret: SECRET, requireClaims: [{ claim: 'b', op: 'exists' }] })
  app.get('/', async () => 'ok')
  await app.ready()
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ a: 1, b: 1 })) })).statusCode, 200)
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ a: 1 })) })).statusCode, 403)
  t.equal((await app.inject({ url: '/', headers: bearer(hs({ b: 1 })) })).statusCode, 403)
  t.equal(app.jwtAuth.keyStatus().length, 2)
})
