import t from 'tap'
import Fastify from 'fastify'
import jwtAuth from '../src/index.js'
import { SECRET, bearer, hs } from './helpers/app.js'

// A denial is an answer the plugin sends (status, WWW-Authenticate, the JSON
// body), not an error it throws: a host's setErrorHandler does not see it.
// A host that wants its own body shape reshapes it in a preSerialization hook,
// as the README shows; status and WWW-Authenticate stay the plugin's.

t.test('a preSerialization hook reshapes 401 and 403 bodies; status and challenge stay', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  let handlerSaw = 0
  app.setErrorHandler(async (err) => { handlerSaw++; throw err })
  app.addHook('preSerialization', async (_request, reply, payload) => {
    const body = payload as { code?: unknown, message?: string } | null
    if (typeof body?.code !== 'string' || !body.code.startsWith('FJG_ERR_')) return payload
    return { error: { status: reply.statusCode, reason: body.code, detail: body.message } }
  })
  await app.register(jwtAuth, { secret: SECRET, requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] })
  app.get('/admin', async () => ({ ok: true }))

  const missing = await app.inject('/admin')
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(missing.json(), { error: { status: 401, reason: 'FJG_ERR_TOKEN_MISSING', detail: 'No token was provided' } })

  const forbidden = await app.inject({ url: '/admin', headers: bearer(hs({ role: 'user' })) })
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.headers['www-authenticate'], /^Bearer realm="api", error="insufficient_scope"/)
  t.same(forbidden.json(), { error: { status: 403, reason: 'FJG_ERR_CLAIM_REQUIREMENT', detail: forbidden.json().error.detail } })
  t.match(forbidden.json().error.detail, /role/)

  const ok = await app.inject({ url: '/admin', headers: bearer(hs({ role: 'admin' })) })
  t.same([ok.statusCode, ok.json()], [200, { ok: true }], 'other answers untouched')
  t.equal(handlerSaw, 0, 'the error handler saw none of them')
})
