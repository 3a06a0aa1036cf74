import t from 'tap'
import Fastify, { type FastifyError, type FastifyReply } from 'fastify'
import jwtAuth, { compilePolicy, explainToken } from '../src/index.js'
import { SECRET, bearer, hs } from './helpers/app.js'

// A denial is sent as its error (`reply.send(err)`), with the status and
// WWW-Authenticate set on the reply first: Fastify's error handler writes the
// body. The default one writes `{ statusCode, code, error, message }`; a
// host's `setErrorHandler` may reshape it, as the README shows. Whatever that
// handler does, the request never reaches the route's handler.

const POLICY = { secret: SECRET, requireClaims: [{ claim: 'role', op: 'eq' as const, value: 'admin' }] }

t.test('a host setErrorHandler reshapes 401 and 403 bodies; status and challenge stay', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const seen: Array<[string, number, boolean]> = []
  // The README's handler.
  app.setErrorHandler((err: FastifyError, _request, reply) => {
    if (typeof err.code === 'string' && err.code.startsWith('FJG_ERR_') && (reply.statusCode === 401 || reply.statusCode === 403)) {
      seen.push([err.code, err.statusCode as number, err instanceof Error])
      return reply.send({ error: { status: reply.statusCode, reason: err.code, detail: err.message } })
    }
    return reply.send(err)
  })
  await app.register(jwtAuth, POLICY)
  let handled = 0
  app.get('/admin', async () => { handled++; return { ok: true } })

  const missing = await app.inject('/admin')
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal(missing.headers['content-type'], 'application/json; charset=utf-8')
  t.strictSame(missing.json(), { error: { status: 401, reason: 'FJG_ERR_TOKEN_MISSING', detail: 'No token was provided' } })

  const expired = await app.inject({ url: '/admin', headers: bearer(hs({ role: 'admin', exp: 1 })) })
  t.equal(expired.statusCode, 401)
  t.equal(expired.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token has expired"')
  t.strictSame(expired.json(), { error: { status: 401, reason: 'FJG_ERR_TOKEN_EXPIRED', detail: 'The token has expired' } })

  const forbidden = await app.inject({ url: '/admin', headers: bearer(hs({ role: 'user' })) })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.headers['www-authenticate'],
    'Bearer realm="api", error="insufficient_scope", error_description="The token does not satisfy the requirement on claim role"')
  t.strictSame(forbidden.json(), { error: { status: 403, reason: 'FJG_ERR_CLAIM_REQUIREMENT', detail: 'The token does not satisfy the requirement on claim role' } })

  t.strictSame(seen, [
    ['FJG_ERR_TOKEN_MISSING', 401, true],
    ['FJG_ERR_TOKEN_EXPIRED', 401, true],
    ['FJG_ERR_CLAIM_REQUIREMENT', 403, true]
  ], 'the handler got each denial as a coded error with its status')
  t.equal(handled, 0, 'no denied request reached the route')

  const ok = await app.inject({ url: '/admin', headers: bearer(hs({ role: 'admin' })) })
  t.same([ok.statusCode, ok.json()], [200, { ok: true }], 'other answers untouched')
  t.equal(handled, 1)
})

t.test('without a host handler: Fastify\'s default body, the one explain prints', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, POLICY)
  app.get('/admin', async () => ({ ok: true }))
  const compiled = compilePolicy(POLICY)
  for (const [label, headers, status] of [
    ['expired', bearer(hs({ role: 'admin', exp: 1 })), 401],
    ['bad signature', bearer(hs({ role: 'admin' }).slice(0, -4) + 'AAAA'), 401],
    ['requirement', bearer(hs({ role: 'user' })), 403]
  ] as const) {
    const res = await app.inject({ url: '/admin', headers })
    const token = headers.authorization.slice(7)
    const explained = (await explainToken(compiled, token)).answer
    t.equal(res.statusCode, status, `${label}: status`)
    t.strictSame(res.json(), explained?.body, `${label}: the body explain prints`)
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], `${label}: exactly Fastify's error shape`)
    t.equal(res.headers['www-authenticate'], explained?.wwwAuthenticate, `${label}: the challenge explain prints`)
  }
})

t.test('a host handler that rethrows, or throws its own error: still the 401 and its challenge', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  let handled = 0
  app.register(async (child) => {
    child.setErrorHandler(async (err) => { throw err })
    await child.register(jwtAuth, POLICY)
    child.get('/rethrow', async () => { handled++; return 'reached' })
  })
  app.register(async (child) => {
    child.setErrorHandler(() => { throw new Error('the host handler broke') })
    await child.register(jwtAuth, POLICY)
    child.get('/broken', async () => { handled++; return 'reached' })
  })
  await app.ready()

  const rethrown = await app.inject('/rethrow')
  t.equal(rethrown.statusCode, 401)
  t.equal(rethrown.headers['www-authenticate'], 'Bearer realm="api"')
  t.strictSame(rethrown.json(), { statusCode: 401, code: 'FJG_ERR_TOKEN_MISSING', error: 'Unauthorized', message: 'No token was provided' })

  const broken = await app.inject({ url: '/broken', headers: bearer(hs({ role: 'user' })) })
  t.equal(broken.statusCode, 403, 'the status the plugin set stays')
  t.match(broken.headers['www-authenticate'], /^Bearer realm="api", error="insufficient_scope"/)
  t.strictSame(broken.json(), { statusCode: 403, error: 'Forbidden', message: 'the host handler broke' }, 'the host\'s own error, under the plugin\'s status')
  t.equal(handled, 0, 'fail closed: the route was never reached')
})

t.test('a host handler that sends nothing: the request still goes no further', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  let handled = 0
  let parked: FastifyReply | null = null
  let entered: () => void = () => {}
  const inHandler = new Promise<void>((resolve) => { entered = resolve })
  app.setErrorHandler((_err, _request, reply) => {
    parked = reply
    entered()
  })
  await app.register(jwtAuth, POLICY)
  app.get('/admin', async () => { handled++; return 'reached' })
  await app.ready()

  const pending = app.inject({ url: '/admin', headers: bearer(hs({ role: 'user' })) })
  await inHandler
  // Let every queued step of the lifecycle run: none of them is the route.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(handled, 0, 'the route was not reached while the error handler held the reply')
  t.equal((parked as FastifyReply | null)?.sent, false, 'nothing was sent')
  ;(parked as unknown as FastifyReply).send({ held: true })
  const res = await pending
  t.equal(res.statusCode, 403, 'the denial\'s status')
  t.strictSame(res.json(), { held: true })
  t.equal(handled, 0)
})

t.test('a preSerialization hook sees a denial once the host error handler sends it as an object', async (t) => {
  // Fastify serializes an error without the preSerialization hooks
  // (error-handler.js): a hook that reshaped denials needs a handler that
  // sends the body as a plain object, then reshapes it as before.
  const app = Fastify()
  t.teardown(() => app.close())
  app.setErrorHandler((err: FastifyError, _request, reply) => {
    reply.send({ statusCode: reply.statusCode, code: err.code, error: reply.statusCode === 403 ? 'Forbidden' : 'Unauthorized', message: err.message })
  })
  app.addHook('preSerialization', async (_request, reply, payload) => {
    const body = payload as { code?: unknown, message?: string } | null
    if (typeof body?.code !== 'string' || !body.code.startsWith('FJG_ERR_')) return payload
    return { error: { status: reply.statusCode, reason: body.code, detail: body.message } }
  })
  await app.register(jwtAuth, POLICY)
  app.get('/admin', async () => ({ ok: true }))

  const missing = await app.inject('/admin')
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"')
  t.strictSame(missing.json(), { error: { status: 401, reason: 'FJG_ERR_TOKEN_MISSING', detail: 'No token was provided' } })

  const forbidden = await app.inject({ url: '/admin', headers: bearer(hs({ role: 'user' })) })
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.headers['www-authenticate'], /^Bearer realm="api", error="insufficient_scope"/)
  t.strictSame(forbidden.json(), { error: { status: 403, reason: 'FJG_ERR_CLAIM_REQUIREMENT', detail: 'The token does not satisfy the requirement on claim role' } })

  const ok = await app.inject({ url: '/admin', headers: bearer(hs({ role: 'admin' })) })
  t.same([ok.statusCode, ok.json()], [200, { ok: true }], 'other answers untouched')
})

t.test('one log line per denial from the plugin, Fastify\'s own at info, no stack, no error level', async (t) => {
  const lines: Array<Record<string, any>> = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(JSON.parse(l)) } } } })
  t.teardown(() => app.close())
  await app.register(jwtAuth, POLICY)
  app.get('/admin', async () => ({ ok: true }))
  const token = hs({ role: 'admin' }).slice(0, -4) + 'AAAA'
  const res = await app.inject({ url: '/admin', headers: bearer(token) })
  t.equal(res.statusCode, 401)
  const ours = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('jwt: denied'))
  t.equal(ours.length, 1, 'one line of the plugin')
  t.match(ours[0], { level: 30, jwt: { reason: 'FJG_ERR_TOKEN_SIGNATURE', status: 401, route: '/admin' } })
  const fastify = lines.filter((l) => l.err !== undefined)
  t.equal(fastify.length, 1, 'Fastify\'s default error handler logs the error once')
  t.match(fastify[0], { level: 30, err: { type: 'FastifyError', code: 'FJG_ERR_TOKEN_SIGNATURE', message: 'The token signature is invalid', statusCode: 401 } })
  t.equal(fastify[0]?.err.stack ?? '', '', 'no stack: a denial is an answer, not a fault')
  t.notOk(lines.some((l) => l.level >= 50), 'nothing at error level')
  t.notOk(JSON.stringify(lines).includes(token.slice(token.lastIndexOf('.') + 1)), 'no token')
})
