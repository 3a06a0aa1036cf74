// certificateBound (RFC 8705 §3) in the embedded plugin, over a real HTTPS
// listener with client certificates made per run by openssl.
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import jwtAuth, { type JwtPolicy } from '../src/index.js'
import { SECRET, hs } from './helpers/app.js'
import { makePki, type Issued } from './helpers/pki.js'

const pki = makePki(t)
const server = pki.server('server')
const alice = pki.client('alice')
const bob = pki.client('bob')
const strangerCa = pki.otherCa('stranger-ca')
const stranger = pki.client('mallory', { by: strangerCa })

interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: any }

function get (url: string, token: string, client: Issued | null): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      ca: pki.ca.cert,
      agent: false,
      headers: { authorization: `Bearer ${token}` },
      ...(client === null ? {} : { cert: client.cert, key: client.key })
    }, (res) => {
      let text = ''
      res.on('data', (c) => { text += String(c) })
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function serve (policy: Partial<JwtPolicy>): Promise<string> {
  // requestCert without rejectUnauthorized: the optional listener, where the plugin decides.
  const app = Fastify({ https: { cert: server.cert, key: server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false } })
  t.teardown(() => app.close())
  await app.register(jwtAuth, { secret: SECRET, ...policy })
  app.get('/', async (request) => ({ sub: request.jwt?.payload.sub ?? null }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/`
}

function refused (t: Test, res: Answer, code: string, message: string): void {
  t.equal(res.status, 401, `${code}: status`)
  t.equal(res.headers['www-authenticate'], `Bearer realm="api", error="invalid_token", error_description="${message}"`)
  t.strictSame(res.body, { statusCode: 401, error: 'Unauthorized', code, message })
}

const MISMATCH = 'The token is bound to another client certificate'
const MISSING = 'The token is bound to a client certificate and none was presented'
const NOT_BOUND = 'The token is not bound to a client certificate'

t.test('certificateBound: true', async (t) => {
  const url = await serve({ certificateBound: true })
  const aliceToken = hs({ sub: 'alice', cnf: { 'x5t#S256': alice.thumbprint } })

  const ok = await get(url, aliceToken, alice)
  t.equal(ok.status, 200, 'the certificate the token is bound to')
  t.strictSame(ok.body, { sub: 'alice' })

  refused(t, await get(url, aliceToken, bob), 'FJG_ERR_TOKEN_CERT_MISMATCH', MISMATCH)
  refused(t, await get(url, aliceToken, null), 'FJG_ERR_TOKEN_CERT_MISSING', MISSING)
  // A certificate with alice's key usage but not issued by the trusted CA is no certificate at all.
  refused(t, await get(url, hs({ sub: 'mallory', cnf: { 'x5t#S256': stranger.thumbprint } }), stranger), 'FJG_ERR_TOKEN_CERT_MISSING', MISSING)
  refused(t, await get(url, hs({ sub: 'plain' }), alice), 'FJG_ERR_TOKEN_NOT_BOUND', NOT_BOUND)
  refused(t, await get(url, hs({ sub: 'dpop', cnf: { jkt: 'abc' } }), alice), 'FJG_ERR_TOKEN_NOT_BOUND', NOT_BOUND)
  refused(t, await get(url, hs({ sub: 'typed', cnf: { 'x5t#S256': 42 } }), alice), 'FJG_ERR_TOKEN_CERT_MISMATCH', MISMATCH)
  // The padded or hex form of the right hash is not the RFC 8705 value.
  refused(t, await get(url, hs({ sub: 'alice', cnf: { 'x5t#S256': alice.thumbprint + '=' } }), alice), 'FJG_ERR_TOKEN_CERT_MISMATCH', MISMATCH)
})

t.test('the binding is checked per request, not cached with the token', async (t) => {
  const url = await serve({ certificateBound: true, cache: { size: 10 } })
  const token = hs({ sub: 'alice', cnf: { 'x5t#S256': alice.thumbprint } })
  t.equal((await get(url, token, alice)).status, 200, 'first use: verified')
  t.equal((await get(url, token, alice)).status, 200, 'second use: verified and cached (admitted on the second sight)')
  refused(t, await get(url, token, bob), 'FJG_ERR_TOKEN_CERT_MISMATCH', MISMATCH)
  refused(t, await get(url, token, null), 'FJG_ERR_TOKEN_CERT_MISSING', MISSING)
  t.equal((await get(url, token, alice)).status, 200, 'the right certificate still passes')
})

t.test('certificateBound: "if-present"', async (t) => {
  const url = await serve({ certificateBound: 'if-present' })
  const plain = await get(url, hs({ sub: 'plain' }), null)
  t.equal(plain.status, 200, 'a bearer token without cnf passes')
  t.strictSame(plain.body, { sub: 'plain' })
  t.equal((await get(url, hs({ sub: 'alice', cnf: { 'x5t#S256': alice.thumbprint } }), alice)).status, 200)
  refused(t, await get(url, hs({ sub: 'alice', cnf: { 'x5t#S256': alice.thumbprint } }), bob), 'FJG_ERR_TOKEN_CERT_MISMATCH', MISMATCH)
  refused(t, await get(url, hs({ sub: 'alice', cnf: { 'x5t#S256': alice.thumbprint } }), null), 'FJG_ERR_TOKEN_CERT_MISSING', MISSING)
})

t.test('a route can switch the binding off; no binding: cnf is not looked at', async (t) => {
  const app = Fastify({ https: { cert: server.cert, key: server.key } })
  t.teardown(() => app.close())
  await app.register(jwtAuth, { secret: SECRET, certificateBound: true })
  app.get('/open', { config: { jwt: { certificateBound: false } } }, async (request) => ({ sub: request.jwt?.payload.sub ?? null }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const res = await get(`https://127.0.0.1:${(app.server.address() as AddressInfo).port}/open`, hs({ sub: 'x', cnf: { 'x5t#S256': alice.thumbprint } }), null)
  t.equal(res.status, 200)
  t.strictSame(res.body, { sub: 'x' })
})

t.test('certificateBound is validated at registration', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(jwtAuth, { secret: SECRET, certificateBound: 'yes' } as any).ready() }, {
    code: 'FJG_ERR_OPTION_INVALID',
    message: 'Invalid jwt policy: certificateBound: must be one of true, false, "if-present", got "yes"'
  })
})
