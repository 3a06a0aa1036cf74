// { issuer: url }: OpenID Connect discovery against a real server on loopback.
// Discovery keys are bound to their issuer (issue 10, point 6): every token here carries `iss`.
// The configured issuer is the only URL ever fetched from; its discovery
// document must name exactly that issuer; a token's `iss` never picks a URL.
import t from 'tap'
import { type FastifyInstance } from 'fastify'
import { generateKeySet, sign, type TestKey } from './helpers/keys.js'
import { jwksServer, sleep, until } from './helpers/jwks-server.js'
import { loggedApp } from './helpers/app.js'

const keys = generateKeySet()
const WELL_KNOWN = '/.well-known/openid-configuration'
const issued: string[] = []
const token = (key: TestKey, payload: Record<string, unknown>, kid?: string): string => {
  const tok = sign(key, 'RS256', { sub: 'u1', ...payload }, kid === undefined ? {} : { kid })
  issued.push(tok)
  return tok
}

async function code (app: FastifyInstance, tok: string): Promise<number | string> {
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${tok}` } })
  return res.statusCode === 200 ? 200 : res.json().code
}

t.test('discovery → jwks_uri → keys; the document is fetched once and reused', async (t) => {
  const srv = await jwksServer(t)
  const issuer = srv.origin
  srv.route(WELL_KNOWN).json = { issuer, jwks_uri: srv.url('/protocol/certs'), id_token_signing_alg_values_supported: ['RS256'] }
  srv.route('/protocol/certs').json = { keys: [keys.rsa.jwk] }
  const { app, status } = await loggedApp(t, { keys: [{ issuer, cooldown: 0.1 }], issuer }, issued)
  t.equal(await code(app, token(keys.rsa, { iss: issuer })), 200, 'accepted')
  t.match(status()[0], { source: `issuer ${issuer}/`, kind: 'issuer', kids: ['rsa-1'], lastError: null, fetches: 1 })
  t.equal(srv.route(WELL_KNOWN).hits, 1)
  t.equal(srv.route('/protocol/certs').hits, 1)

  // Rotation through the discovered jwks_uri: the discovery document is not fetched again.
  srv.route('/protocol/certs').json = { keys: [keys.rsa.jwk, keys.rsa2.jwk] }
  await sleep(120)
  t.equal(await code(app, token(keys.rsa2, { iss: issuer })), 200, 'a new kid, fetched on demand')
  t.equal(srv.route(WELL_KNOWN).hits, 1, 'discovery reused')
  t.equal(srv.route('/protocol/certs').hits, 2)

  // The provider moves its keys: the old jwks_uri fails, the next fetch discovers again.
  srv.route('/protocol/certs').status = 410
  srv.route(WELL_KNOWN).json = { issuer, jwks_uri: srv.url('/v2/certs') }
  srv.route('/v2/certs').json = { keys: [keys.rsa.jwk, keys.rsa2.jwk, keys.p256.jwk] }
  await sleep(120)
  t.equal(await code(app, token(keys.rsa, { iss: issuer }, 'new-kid')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'an unknown kid: the old jwks_uri answers 410')
  t.match(status()[0], { lastError: 'HTTP 410', usable: true })
  await sleep(120)
  t.equal(await code(app, token(keys.rsa, { iss: issuer }, 'newer-kid')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'next fetch: discovery again')
  t.equal(srv.route(WELL_KNOWN).hits, 2, 'discovered again after the failure')
  t.equal(srv.route('/v2/certs').hits, 1, 'keys from the new jwks_uri')
  t.match(status()[0], { lastError: null, kids: ['rsa-1', 'rsa-2', 'ec-256'] })
})

t.test('an issuer with a path and a trailing slash: discovery under the path, issuer compared exactly', async (t) => {
  const srv = await jwksServer(t)
  const issuer = `${srv.origin}/realms/acme/`
  srv.route('/realms/acme/.well-known/openid-configuration').json = { issuer, jwks_uri: srv.url('/realms/acme/certs') }
  srv.route('/realms/acme/certs').json = { keys: [keys.rsa.jwk] }
  const { app } = await loggedApp(t, { keys: [{ issuer }], issuer }, issued)
  t.equal(await code(app, token(keys.rsa, { iss: issuer })), 200)
  t.equal(srv.route('/realms/acme/.well-known/openid-configuration').hits, 1)
})

t.test('a discovery document naming another issuer is refused', async (t) => {
  const cases: Array<[string, (issuer: string) => unknown]> = [
    ['another host', () => 'https://evil.example'],
    ['one trailing slash more', (issuer) => `${issuer}/`],
    ['another letter case', (issuer) => issuer.toUpperCase()],
    ['missing', () => undefined]
  ]
  for (const [name, claimed] of cases) {
    t.test(name, async (t) => {
      const srv = await jwksServer(t)
      const issuer = srv.origin
      const docIssuer = claimed(issuer)
      srv.route(WELL_KNOWN).json = { issuer: docIssuer, jwks_uri: srv.url('/certs') }
      srv.route('/certs').json = { keys: [keys.rsa.jwk] }
      const { app, status, logs } = await loggedApp(t, { keys: [{ issuer, cooldown: 0 }] }, issued)
      t.equal(await code(app, token(keys.rsa, { iss: issuer })), 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE', '401: no keys from a mismatched issuer')
      t.equal(status()[0]?.lastError, `discovery: "issuer" is ${JSON.stringify(docIssuer)}, expected exactly ${JSON.stringify(issuer)}`)
      t.equal(srv.route('/certs').hits, 0, 'the jwks_uri of a mismatched document is never fetched')
      t.ok(logs.some((l) => l.level === 50 && /discovery: "issuer" is/.test(l.jwks?.error)), 'logged as an error')
    })
  }
})

t.test('broken discovery documents are errors, not crashes', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no jwks_uri', { issuer: 'ISSUER' }, /^discovery: no "jwks_uri"$/],
    ['jwks_uri not a URL', { issuer: 'ISSUER', jwks_uri: 'not a url' }, /^discovery: "jwks_uri" is not a URL$/],
    ['jwks_uri not http', { issuer: 'ISSUER', jwks_uri: 'file:///etc/passwd' }, /^discovery: "jwks_uri" must be http\(s\)$/],
    ['not an object', ['ISSUER'], /^the discovery document is not a JSON object$/]
  ]
  for (const [name, doc, error] of cases) {
    t.test(name, async (t) => {
      const srv = await jwksServer(t)
      srv.route(WELL_KNOWN).json = JSON.parse(JSON.stringify(doc).replace(/ISSUER/g, srv.origin))
      const { app, status } = await loggedApp(t, { keys: [{ issuer: srv.origin }] }, issued)
      t.match(status()[0]?.lastError, error)
      t.equal(await code(app, token(keys.rsa, { iss: srv.origin })), 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE')
    })
  }
})

t.test("a token's iss never becomes a URL to fetch", async (t) => {
  const idp = await jwksServer(t)
  idp.route(WELL_KNOWN).json = { issuer: idp.origin, jwks_uri: idp.url('/certs') }
  idp.route('/certs').json = { keys: [keys.rsa.jwk] }
  // An attacker's server, with a valid-looking discovery document and its own key.
  const evil = await jwksServer(t)
  evil.route(WELL_KNOWN).json = { issuer: evil.origin, jwks_uri: evil.url('/certs') }
  evil.route('/certs').json = { keys: [keys.rsa2.jwk] }
  const { app } = await loggedApp(t, { keys: [{ issuer: idp.origin, cooldown: 0 }] }, issued)
  const forged = token(keys.rsa2, { iss: evil.origin })
  // No key is bound to the attacker's issuer: refused before any key is tried (issue 10, point 6).
  t.equal(await code(app, forged), 'FJG_ERR_TOKEN_ISSUER', 'no key for the attacker issuer')
  t.equal(await code(app, token(keys.rsa2, { iss: `${evil.origin}/` }, 'rsa-1')), 'FJG_ERR_TOKEN_ISSUER', 'a kid of ours does not help')
  t.equal(await code(app, token(keys.rsa2, { iss: idp.origin }, 'rsa-1')), 'FJG_ERR_TOKEN_SIGNATURE', 'our issuer and kid, the attacker key')
  t.equal(evil.total, 0, 'the server named by the token got no request')
  t.ok(idp.route('/certs').hits >= 1)
})

t.test('discovery and keys share one timeout', async (t) => {
  const srv = await jwksServer(t)
  srv.route(WELL_KNOWN).json = { issuer: srv.origin, jwks_uri: srv.url('/certs') }
  srv.route(WELL_KNOWN).delay = 150
  srv.route('/certs').json = { keys: [keys.rsa.jwk] }
  srv.route('/certs').delay = 150
  const start = Date.now()
  const { app, status } = await loggedApp(t, { keys: [{ issuer: srv.origin, timeout: 250, cacheTtl: 0.5 }] }, issued)
  const ms = Date.now() - start
  t.ok(ms < 700, `ready in ${ms} ms`)
  t.equal(status()[0]?.lastError, 'timed out after 250 ms', '150 + 150 ms is over a 250 ms budget')
  t.equal(await code(app, token(keys.rsa, { iss: srv.origin })), 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE')
  srv.route('/certs').delay = 0
  srv.route(WELL_KNOWN).delay = 0
  await until(() => status()[0]?.usable === true, 3000, 10)
  t.equal(await code(app, token(keys.rsa, { iss: srv.origin })), 200, 'recovered by the retry')
})
