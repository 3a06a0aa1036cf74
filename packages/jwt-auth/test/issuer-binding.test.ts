// Issue 10, point 6: keys are bound to their issuer. Before the fix a route
// with keys from issuers A and B and `issuer: [A, B]` accepted a token that
// claimed `iss: A` and was signed with B's key: whoever holds B's key could
// mint A's subjects. Real JWKS and discovery servers on loopback.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { type FastifyInstance } from 'fastify'
import { denied, loggedApp } from './helpers/app.js'
import { generateKeySet, sign, type TestKey } from './helpers/keys.js'
import { jwksServer } from './helpers/jwks-server.js'

const keys = generateKeySet()
const WELL_KNOWN = '/.well-known/openid-configuration'
const issued: string[] = []
const token = (key: TestKey, payload: Record<string, unknown>, kid?: string | null): string => {
  const tok = sign(key, key === keys.p256 ? 'ES256' : 'RS256', { sub: 'u1', ...payload }, kid === undefined ? {} : { kid })
  issued.push(tok)
  return tok
}

async function code (app: FastifyInstance, tok: string): Promise<number | string> {
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${tok}` } })
  return res.statusCode === 200 ? 200 : res.json().code
}

/** Two identity providers with discovery: A publishes rsa (kid rsa-1), B publishes rsa2 (kid rsa-2). */
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

async function providers (t: Test): Promise<{ a: Awaited<ReturnType<typeof jwksServer>>, b: Awaited<ReturnType<typeof jwksServer>>, A: string, B: string }> {
  const a = await jwksServer(t)
  const b = await jwksServer(t)
  a.route(WELL_KNOWN).json = { issuer: a.origin, jwks_uri: a.url('/certs') }
  a.route('/certs').json = { keys: [keys.rsa.jwk] }
  b.route(WELL_KNOWN).json = { issuer: b.origin, jwks_uri: b.url('/certs') }
  b.route('/certs').json = { keys: [keys.rsa2.jwk] }
  return { a, b, A: a.origin, B: b.origin }
}

t.test('discovery sources: a token claiming A signed with B is refused', async (t) => {
  const { A, B } = await providers(t)
  const { app } = await loggedApp(t, { keys: [{ issuer: A, cooldown: 0 }, { issuer: B, cooldown: 0 }], issuer: [A, B] }, issued)
  t.equal(await code(app, token(keys.rsa, { iss: A })), 200, 'A signs for A')
  t.equal(await code(app, token(keys.rsa2, { iss: B })), 200, 'B signs for B')
  // The attack, with B's own kid (A has no such kid) and without a kid (A's keys tried).
  t.equal(await code(app, token(keys.rsa2, { iss: A })), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'B signs for A, kid rsa-2')
  t.equal(await code(app, token(keys.rsa2, { iss: A }, null)), 'FJG_ERR_TOKEN_SIGNATURE', 'B signs for A, no kid')
  t.equal(await code(app, token(keys.rsa2, { iss: A }, 'rsa-1')), 'FJG_ERR_TOKEN_SIGNATURE', 'B signs for A, A\'s kid')
  t.equal(await code(app, token(keys.rsa, { iss: B })), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'A signs for B')
  // No key is for another issuer, or for a token without iss: refused before any crypto.
  denied(t, await app.inject({ url: '/', headers: { authorization: `Bearer ${token(keys.rsa, { iss: 'https://evil.example' })}` } }),
    'FJG_ERR_TOKEN_ISSUER', 'The token issuer is not allowed')
  t.equal(await code(app, token(keys.rsa, {})), 'FJG_ERR_TOKEN_ISSUER', 'no iss')
  t.equal(await code(app, token(keys.rsa, { iss: [A] })), 'FJG_ERR_TOKEN_ISSUER', 'iss not a string')
})

t.test('jwks, file, jwk and secret sources take `issuer`; unbound keys serve the other issuers', async (t) => {
  const { a, b, A, B } = await providers(t)
  const dir = mkdtempSync(join(tmpdir(), 'fjg-binding-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'c.jwks.json')
  writeFileSync(file, JSON.stringify({ keys: [keys.p256.jwk] }))
  const C = 'urn:example:issuer-c'
  const D = 'issuer-d'
  const unbound = { ...keys.ed25519.jwk }
  const { app } = await loggedApp(t, {
    keys: [
      { jwks: a.url('/certs'), issuer: A, cooldown: 0 },
      { keyval: b.url('/keyval'), issuer: B, cooldown: 0 },
      { file, issuer: C },
      { jwk: keys.rsa2.jwk, issuer: D },
      { jwk: unbound }
    ],
    secret: { base64: (keys.hmac.signingKey as Buffer).toString('base64'), issuer: 'hmac-issuer' }
  }, issued)
  b.route('/keyval').json = { 'rsa-2': keys.rsa2.publicPem }
  t.equal(await code(app, token(keys.rsa, { iss: A })), 200, 'jwks bound to A')
  t.equal(await code(app, token(keys.rsa2, { iss: B })), 200, 'keyval bound to B')
  t.equal(await code(app, token(keys.p256, { iss: C })), 200, 'file bound to C')
  t.equal(await code(app, token(keys.rsa2, { iss: D })), 200, 'jwk bound to D')
  t.equal(await code(app, token(keys.p256, { iss: A }, 'ec-256')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'C\'s key for A (A has no EC key)')
  t.equal(await code(app, token(keys.rsa2, { iss: C }, null)), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'D\'s RSA key for C (C has no RSA key)')

  const ed = (payload: Record<string, unknown>): string => {
    const tok = sign(keys.ed25519, 'EdDSA', { sub: 'u1', ...payload })
    issued.push(tok)
    return tok
  }
  t.equal(await code(app, ed({ iss: 'https://other.example' })), 200, 'the unbound key, another issuer')
  t.equal(await code(app, ed({})), 200, 'the unbound key, no iss')
  // An unbound key never speaks for a bound issuer.
  t.equal(await code(app, ed({ iss: A })), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'the unbound key for A')
  t.equal(await code(app, ed({ iss: C })), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'the unbound key for C')

  const hs = (payload: Record<string, unknown>): string => {
    const tok = sign(keys.hmac, 'HS256', { sub: 'u1', ...payload }, { kid: null })
    issued.push(tok)
    return tok
  }
  t.equal(await code(app, hs({ iss: 'hmac-issuer' })), 200, 'the secret bound to its issuer')
  t.equal(await code(app, hs({ iss: A })), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'the secret for A')
  t.equal(await code(app, hs({})), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'the secret for no issuer')
})

t.test('the binding is validated with the policy', async (t) => {
  const { registerError } = await import('./helpers/app.js')
  const err = await registerError({ keys: [{ jwk: keys.rsa.jwk, issuer: '' }] })
  t.match(err.message, /keys\[0\]\.issuer: must NOT have fewer than 1 characters/)
  const err2 = await registerError({ keys: [{ issuer: 'not-a-url' }] })
  t.equal(err2.code, 'FJG_ERR_OPTION_KEY')
  t.match(err2.message, /keys\[0\]\.issuer: "issuer" must be an absolute http\(s\) URL/)
})
