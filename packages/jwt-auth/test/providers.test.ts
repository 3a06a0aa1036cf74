// Issue 13, point 7: `providers`. Two identity providers, each a real JWKS
// server on loopback; the token's iss picks one, whose keys alone verify it and
// whose policy keys override the route's for that token.
import t from 'tap'
import { type FastifyInstance } from 'fastify'
import { compilePolicy, explainToken, SharedResources, type JwtPolicy } from '../src/internal.js'
import { build, denied, loggedApp, registerError } from './helpers/app.js'
import { generateKeySet, sign, type TestKey } from './helpers/keys.js'
import { jwksServer } from './helpers/jwks-server.js'

const keys = generateKeySet()
const WELL_KNOWN = '/.well-known/openid-configuration'
const A = 'https://a.example'
const B = 'https://partner.example'
const issued: string[] = []
const token = (key: TestKey, payload: Record<string, unknown>, kid?: string | null): string => {
  const tok = sign(key, 'RS256', { sub: 'u1', ...payload }, kid === undefined ? {} : { kid })
  issued.push(tok)
  return tok
}
const bearer = (tok: string): Record<string, string> => ({ authorization: `Bearer ${tok}` })

async function code (app: FastifyInstance, tok: string): Promise<number | string> {
  const res = await app.inject({ url: '/', headers: bearer(tok) })
  return res.statusCode === 200 ? 200 : res.json().code
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** A publishes rsa (kid rsa-1), B publishes rsa2 (kid rsa-2), each on its own server. */
async function servers (t: Test): Promise<{ a: Awaited<ReturnType<typeof jwksServer>>, b: Awaited<ReturnType<typeof jwksServer>> }> {
  const a = await jwksServer(t, { '/jwks': { json: { keys: [keys.rsa.jwk] } } })
  const b = await jwksServer(t, { '/jwks': { json: { keys: [keys.rsa2.jwk] } } })
  return { a, b }
}

t.test('the iss picks the provider; its keys alone verify the token', async (t) => {
  const { a, b } = await servers(t)
  const { app, logs } = await loggedApp(t, {
    providers: [
      { issuer: A, keys: [{ jwks: a.url('/jwks'), cooldown: 0 }] },
      { issuer: B, keys: [{ jwks: b.url('/jwks'), cooldown: 0 }] }
    ]
  }, issued)
  t.equal(await code(app, token(keys.rsa, { iss: A })), 200, 'A signs for A')
  t.equal(await code(app, token(keys.rsa2, { iss: B })), 200, 'B signs for B')
  // B's key claiming A: with B's kid (A has none such), without a kid, with A's kid.
  t.equal(await code(app, token(keys.rsa2, { iss: A })), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'B signs for A, kid rsa-2')
  t.equal(await code(app, token(keys.rsa2, { iss: A }, null)), 'FJG_ERR_TOKEN_SIGNATURE', 'B signs for A, no kid')
  t.equal(await code(app, token(keys.rsa2, { iss: A }, 'rsa-1')), 'FJG_ERR_TOKEN_SIGNATURE', 'B signs for A, A\'s kid')
  t.equal(await code(app, token(keys.rsa, { iss: B }, null)), 'FJG_ERR_TOKEN_SIGNATURE', 'A signs for B')
  // An issuer no provider is for, no iss, a non-string iss: refused before any key.
  const before = a.route('/jwks').hits + b.route('/jwks').hits
  denied(t, await app.inject({ url: '/', headers: bearer(token(keys.rsa, { iss: 'https://evil.example' })) }), 'FJG_ERR_TOKEN_ISSUER', 'The token issuer is not allowed')
  t.equal(await code(app, token(keys.rsa, {})), 'FJG_ERR_TOKEN_ISSUER', 'no iss')
  t.equal(await code(app, token(keys.rsa, { iss: [A] })), 'FJG_ERR_TOKEN_ISSUER', 'iss not a string')
  t.equal(a.route('/jwks').hits + b.route('/jwks').hits, before, 'no key fetch for an unknown issuer')
  // A malformed token is still malformed, not an unknown issuer.
  t.equal(await code(app, 'a.b'), 'FJG_ERR_TOKEN_MALFORMED')
  t.equal(await code(app, `x.${Buffer.from('[1]').toString('base64url')}.y`), 'FJG_ERR_TOKEN_MALFORMED')
  const denial = logs.find((l) => l.jwt?.reason === 'FJG_ERR_TOKEN_ISSUER')
  t.equal(denial?.jwt.iss, '"https://evil.example"', 'the denial log names the claimed iss')
})

t.test('a provider\'s policy keys override the route\'s for its tokens', async (t) => {
  const { a, b } = await servers(t)
  const policy: JwtPolicy = {
    audience: 'api://orders',
    requireClaims: [{ claim: 'scope', op: 'contains', value: ['orders:read'] }],
    claimsToHeaders: { 'x-user': 'sub', 'x-iss': 'iss' },
    providers: [
      // A inherits the route's audience and requirement.
      { issuer: A, keys: [{ jwks: a.url('/jwks') }] },
      // B has its own audience, requirement and challenge.
      {
        issuer: B,
        keys: [{ jwks: b.url('/jwks') }],
        audience: 'partner-api',
        requireClaims: [{ claim: 'partner', op: 'exists' }],
        challenge: { scope: 'partner:read' }
      }
    ]
  }
  const app = await build(t, policy, (app) => app.get('/h', async (request) => ({ user: request.headers['x-user'], iss: request.headers['x-iss'] })))
  t.equal(await code(app, token(keys.rsa, { iss: A, aud: 'api://orders', scope: 'orders:read' })), 200, 'A with the route\'s keys')
  t.equal(await code(app, token(keys.rsa, { iss: A, aud: 'partner-api', scope: 'orders:read' })), 'FJG_ERR_TOKEN_AUDIENCE', 'A: route audience')
  t.equal(await code(app, token(keys.rsa, { iss: A, aud: 'api://orders' })), 'FJG_ERR_CLAIM_REQUIREMENT', 'A: route requirement')
  t.equal(await code(app, token(keys.rsa2, { iss: B, aud: 'partner-api', partner: 'p1' })), 200, 'B: its own audience, no scope needed')
  t.equal(await code(app, token(keys.rsa2, { iss: B, aud: 'api://orders', partner: 'p1', scope: 'orders:read' })), 'FJG_ERR_TOKEN_AUDIENCE', 'B: the route audience is replaced')
  const res = await app.inject({ url: '/', headers: bearer(token(keys.rsa2, { iss: B, aud: 'partner-api' })) })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'FJG_ERR_CLAIM_REQUIREMENT')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The token does not satisfy the requirement on claim partner", scope="partner:read"', 'B\'s challenge')
  const resA = await app.inject({ url: '/', headers: bearer(token(keys.rsa, { iss: A, aud: 'api://orders' })) })
  t.equal(resA.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The token does not satisfy the requirement on claim scope"', 'A: no challenge parameters')
  const missing = await app.inject({ url: '/' })
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"', 'no token: the route\'s answer')
  // The route's claimsToHeaders carry the claims of whichever provider verified the token; a client copy is dropped.
  const h = await app.inject({ url: '/h', headers: { ...bearer(token(keys.rsa2, { iss: B, aud: 'partner-api', partner: 'p', sub: 'bob' })), 'x-user': 'mallory' } })
  t.strictSame(h.json(), { user: 'bob', iss: B })
})

t.test('a provider with only an issuer uses OpenID discovery', async (t) => {
  const idp = await jwksServer(t)
  idp.route(WELL_KNOWN).json = { issuer: idp.origin, jwks_uri: idp.url('/certs') }
  idp.route('/certs').json = { keys: [keys.rsa2.jwk] }
  const { b } = await servers(t)
  const { app } = await loggedApp(t, { providers: [{ issuer: idp.origin }, { issuer: B, keys: [{ jwks: b.url('/jwks') }] }] }, issued)
  t.equal(await code(app, token(keys.rsa2, { iss: idp.origin })), 200, 'keys from the discovered jwks_uri')
  t.equal(idp.route(WELL_KNOWN).hits, 1, 'discovered once')
  t.equal(await code(app, token(keys.rsa, { iss: idp.origin }, 'rsa-2')), 'FJG_ERR_TOKEN_SIGNATURE', 'another key for the discovered issuer')
})

t.test('the verified-token cache is per provider', async (t) => {
  const { a, b } = await servers(t)
  // The same key set for both: only the policy keys differ.
  const { app } = await loggedApp(t, {
    providers: [
      { issuer: A, keys: [{ jwks: a.url('/jwks') }] },
      { issuer: B, keys: [{ jwks: a.url('/jwks') }], requireClaims: [{ claim: 'partner', op: 'exists' }] }
    ]
  }, issued)
  const tokA = token(keys.rsa, { iss: A })
  t.equal(await code(app, tokA), 200)
  t.equal(await code(app, tokA), 200, 'cached under A')
  // A token with B's iss from the same key: B's own requirement applies, whatever A has cached.
  t.equal(await code(app, token(keys.rsa, { iss: B })), 'FJG_ERR_CLAIM_REQUIREMENT')
  t.equal(b.route('/jwks').hits, 0)
})

t.test('providers are validated at start, naming providers[i]', async (t) => {
  const bad = async (policy: unknown, message: string): Promise<void> => {
    const err = await registerError(policy)
    t.equal(err.code, 'FJG_ERR_OPTION_INVALID', message)
    t.match(err.message, message)
  }
  const k = { jwk: keys.rsa.jwk }
  await bad({ providers: [{ issuer: A, keys: [k] }, { issuer: A, keys: [k] }] }, 'providers[1].issuer: "https://a.example" is already the issuer of providers[0]')
  await bad({ providers: [{ issuer: 'urn:partner' }] }, 'providers[0]: needs "keys" or "secret": its issuer "urn:partner" is not an http(s) URL for OpenID discovery')
  await bad({ providers: [{ issuer: A, keys: [k], token: 'cookie:t' }] }, 'providers[0].token: not allowed in a provider: it is one per route')
  await bad({ providers: [{ issuer: A, keys: [k], claimsToHeaders: { 'x-a': 'sub' } }] }, 'providers[0].claimsToHeaders: not allowed in a provider')
  await bad({ providers: [{ issuer: A, keys: [k], frobnicate: 1 }] }, 'providers[0].frobnicate: unknown key')
  await bad({ providers: [{ keys: [k] }] }, 'providers[0]: must have required property \'issuer\'')
  await bad({ keys: [k], providers: [{ issuer: A, keys: [k] }] }, 'keys: not beside "providers"')
  await bad({ issuer: A, providers: [{ issuer: A, keys: [k] }] }, 'issuer: not beside "providers"')
  await bad({ providers: [{ issuer: A, keys: [{ jwk: keys.rsa.jwk, issuer: B }] }] }, 'providers[0].keys[0].issuer: "https://partner.example" is not this provider\'s issuer')
  await bad({ providers: [{ issuer: A, keys: [{ file: '/nonexistent/k.pem' }] }] }, 'providers[0].keys[0].file: cannot read')
  await bad({ providers: [{ issuer: A, keys: [k], algorithms: ['ES256'] }] }, 'providers[0].algorithms: no key can verify ES256')
  await bad({ providers: [] }, 'providers: must NOT have fewer than 1 items')
})

t.test('explain says which provider was picked', async (t) => {
  const shared = new SharedResources()
  t.teardown(() => shared.close())
  const c = compilePolicy({
    providers: [
      { issuer: A, keys: [{ jwk: keys.rsa.jwk }] },
      { issuer: B, keys: [{ jwk: keys.rsa2.jwk }], audience: 'partner-api' }
    ]
  }, { shared })
  const ok = await explainToken(c, token(keys.rsa2, { iss: B, aud: 'partner-api' }))
  t.equal(ok.error, null)
  t.strictSame(ok.steps.find((s) => s.name === 'provider'), { name: 'provider', pass: true, detail: ['providers[1]: issuer "https://partner.example"'] })
  t.strictSame(ok.steps.find((s) => s.name === 'aud'), { name: 'aud', pass: true, detail: ['"partner-api"; allowed: partner-api'] }, 'the provider\'s audience')
  const unknown = await explainToken(c, token(keys.rsa, { iss: 'https://evil.example' }))
  t.equal(unknown.error?.code, 'FJG_ERR_TOKEN_ISSUER')
  t.strictSame(unknown.steps.find((s) => s.name === 'provider'), { name: 'provider', pass: false, detail: ['iss "https://evil.example": no provider; providers: https://a.example, https://partner.example'] })
  const forged = await explainToken(c, token(keys.rsa2, { iss: A }, null))
  t.equal(forged.error?.code, 'FJG_ERR_TOKEN_SIGNATURE')
  t.equal(forged.answer?.status, 401)
})
