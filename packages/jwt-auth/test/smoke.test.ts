import t from 'tap'
import Fastify from 'fastify'
import { createSigner } from 'fast-jwt'
import jwtAuth from '../src/index.js'

t.test('smoke', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, { secret: 'shhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh', claimsToHeaders: { 'x-user': 'sub' } })
  app.get('/', async (req) => ({ jwt: req.jwt, user: req.headers['x-user'] }))
  const sign = createSigner({ key: 'shhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh', expiresIn: 60000 })
  const ok = await app.inject({ url: '/', headers: { authorization: `Bearer ${sign({ sub: 'u1' })}` } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().user, 'u1')
  const no = await app.inject({ url: '/' })
  t.equal(no.statusCode, 401)
  t.equal(no.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(no.json(), { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_MISSING', message: 'No token was provided' })
})
