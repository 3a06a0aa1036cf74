// Type tests of the public API: this file must typecheck (pnpm typecheck), and
// the @ts-expect-error lines must stay errors.
import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import jwtAuth, { type JwtPolicy, type VerifiedJwt } from '../src/index.js'
import { SECRET } from './helpers/app.js'

t.test('types', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const policy: JwtPolicy = {
    secret: SECRET,
    requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }],
    require: (request: FastifyRequest) => request.jwt !== null
  }
  // @ts-expect-error: unknown operator
  const bad: JwtPolicy = { requireClaims: [{ claim: 'x', op: 'like' }] }
  t.ok(bad)
  // @ts-expect-error: leeway is a number of seconds
  const bad2: JwtPolicy = { leeway: '5' }
  t.ok(bad2)
  const bound: JwtPolicy = { secret: SECRET, certificateBound: 'if-present' }
  t.ok(bound)
  // @ts-expect-error: certificateBound is true, false or "if-present"
  const bad3: JwtPolicy = { certificateBound: 'always' }
  t.ok(bad3)
  // Issue 13 points 7 and 9: providers and decrypt.
  const multi: JwtPolicy = {
    providers: [{ issuer: 'https://a.example' }, { issuer: 'urn:b', secret: SECRET, audience: 'b', requireClaims: [{ claim: 'x', op: 'exists' }] }],
    decrypt: { keys: [{ file: 'enc.pem' }, { jwk: { kty: 'oct', k: 'x' } }], algorithms: ['RSA-OAEP-256', 'dir', 'A256GCM'], type: 'nested' }
  }
  t.ok(multi)
  // @ts-expect-error: a provider cannot set where the token is read
  const badProvider: JwtPolicy = { providers: [{ issuer: 'https://a.example', token: 'cookie:t' }] }
  t.ok(badProvider)
  // @ts-expect-error: RSA1_5 is not offered
  const badJwe: JwtPolicy = { decrypt: { keys: [{ file: 'k.pem' }], algorithms: ['RSA1_5', 'A256GCM'] } }
  t.ok(badJwe)
  // Issue 13: the policy language.
  const language: JwtPolicy = {
    secret: SECRET,
    spaceDelimitedClaims: ['scope'],
    requireClaims: [
      { claim: 'scope', op: 'contains', value: ['api:write'] },
      { anyOf: [{ claim: 'roles[0]', op: 'match', value: '^adm' }, { anyOf: [{ claim: 'x', op: 'exists' }] }], status: 404 }
    ],
    challenge: { scope: 'api:write', resourceMetadata: 'https://api.example/.well-known/oauth-protected-resource' },
    tokenType: 'at+jwt',
    maxAge: 600
  }
  t.ok(language)
  // @ts-expect-error: an anyOf entry has no claim of its own
  const bad5: JwtPolicy = { requireClaims: [{ anyOf: [], claim: 'x' }] }
  t.ok(bad5)
  // @ts-expect-error: challenge takes scope and resourceMetadata only
  const bad6: JwtPolicy = { challenge: { realm: 'x' } }
  t.ok(bad6)
  await app.register(jwtAuth, policy)
  app.get('/', { config: { jwt: { audience: 'x' } } }, async (request) => {
    const jwt: VerifiedJwt | null = request.jwt
    return { sub: jwt?.payload.sub }
  })
  app.get('/open', { config: { jwt: false } }, async () => 'ok')
  await app.ready()
  t.type(app.jwtAuth.keyStatus(), Array)
})
