// TLS toward remote key sources (issue 12 point 2): a JWKS endpoint on HTTPS
// with a private CA made by openssl for this run, mutual TLS, servername, and
// the option errors that name `keys[i].tls.<name>`.
import { createServer, type ServerOptions } from 'node:https'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import Fastify from 'fastify'
import jwtAuth, { type JwtPolicy, type KeySourceStatus } from '../src/index.js'
import { generateKeySet, sign } from './helpers/keys.js'
import { makePki, type Pki } from './helpers/pki.js'

const keys = generateKeySet()
const TOKEN = sign(keys.p256, 'ES256', { sub: 'u1' })
const NO_WARN = { jwks: keys.p256.jwk }

interface T { teardown (fn: () => unknown): void }

/** An HTTPS server answering the JWKS of p256 at /jwks.json (and a discovery document at /.well-known/openid-configuration). */
async function httpsJwks (t: T, pki: Pki, extra: ServerOptions = {}): Promise<{ origin: string, clients: string[] }> {
  const server = pki.server('jwks')
  const clients: string[] = []
  const srv = createServer({ cert: server.cert, key: server.key, ...extra }, (req, res) => {
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate()
    if (typeof peer?.subject?.CN === 'string') clients.push(peer.subject.CN)
    res.setHeader('content-type', 'application/json')
    if (req.url === '/.well-known/openid-configuration') return res.end(JSON.stringify({ issuer: origin, jwks_uri: `${origin}/jwks.json` }))
    res.end(JSON.stringify({ keys: [NO_WARN.jwks] }))
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const origin = `https://127.0.0.1:${(srv.address() as AddressInfo).port}`
  t.teardown(() => new Promise((resolve) => { srv.closeAllConnections(); srv.close(resolve) }))
  return { origin, clients }
}

async function app (t: T, policy: JwtPolicy, token = TOKEN): Promise<{ status: number, code?: string, keys: KeySourceStatus[] }> {
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(jwtAuth, policy)
  a.get('/', async () => 'ok')
  await a.ready()
  const res = await a.inject({ url: '/', headers: { authorization: `Bearer ${token}` } })
  return { status: res.statusCode, ...(res.statusCode === 200 ? {} : { code: res.json().code }), keys: a.jwtAuth.keyStatus() }
}

t.test('a JWKS on HTTPS signed by a private CA: refused without `ca`, used with it', async (t) => {
  const pki = makePki(t)
  const srv = await httpsJwks(t, pki)
  const without = await app(t, { keys: [{ jwks: `${srv.origin}/jwks.json`, timeout: 2000 }] })
  t.same({ status: without.status, code: without.code }, { status: 401, code: 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE' })
  t.equal(without.keys[0]?.usable, false)
  t.equal(without.keys[0]?.lastError, 'fetch failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE')

  const withCa = await app(t, { keys: [{ jwks: `${srv.origin}/jwks.json`, tls: { ca: pki.ca.certFile } }] })
  t.equal(withCa.status, 200)
  t.equal(withCa.keys[0]?.usable, true)
})

t.test('discovery over HTTPS: the same TLS for the discovery document and the jwks_uri', async (t) => {
  const pki = makePki(t)
  const srv = await httpsJwks(t, pki)
  const r = await app(t, { keys: [{ issuer: srv.origin, tls: { ca: pki.ca.certFile } }] }, sign(keys.p256, 'ES256', { sub: 'u1', iss: srv.origin }))
  t.equal(r.status, 200)
})

t.test('mutual TLS: the endpoint requires a client certificate; `cert` and `key` give it', async (t) => {
  const pki = makePki(t)
  const client = pki.client('gateway')
  const srv = await httpsJwks(t, pki, { requestCert: true, rejectUnauthorized: true, ca: pki.ca.cert })
  const without = await app(t, { keys: [{ jwks: `${srv.origin}/jwks.json`, timeout: 2000, tls: { ca: pki.ca.certFile } }] })
  t.same({ status: without.status, code: without.code }, { status: 401, code: 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE' })
  t.not(without.keys[0]?.lastError, null)
  const withCert = await app(t, { keys: [{ jwks: `${srv.origin}/jwks.json`, tls: { ca: pki.ca.certFile, cert: client.certFile, key: client.keyFile } }] })
  t.equal(withCert.status, 200)
  t.same(srv.clients, ['gateway'], 'the JWKS server saw the client certificate')
})

t.test('servername: a name the certificate does not hold is refused; localhost (in it) is accepted', async (t) => {
  const pki = makePki(t)
  const srv = await httpsJwks(t, pki)
  const wrong = await app(t, { keys: [{ jwks: `${srv.origin}/jwks.json`, timeout: 2000, tls: { ca: pki.ca.certFile, servername: 'keys.example.com' } }] })
  t.same({ status: wrong.status, code: wrong.code }, { status: 401, code: 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE' })
  t.match(wrong.keys[0]?.lastError, /ERR_TLS_CERT_ALTNAME_INVALID/)
  const right = await app(t, { keys: [{ jwks: `${srv.origin}/jwks.json`, tls: { ca: pki.ca.certFile, servername: 'localhost' } }] })
  t.equal(right.status, 200)
})

t.test('rejectUnauthorized: false fetches from an untrusted certificate, with a coded warning', async (t) => {
  const pki = makePki(t)
  const srv = await httpsJwks(t, pki)
  const warnings: Array<{ code?: string, message: string }> = []
  const onWarning = (w: Error & { code?: string }): void => { warnings.push({ code: w.code, message: w.message }) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const r = await app(t, { keys: [{ jwks: `${srv.origin}/jwks.json`, tls: { rejectUnauthorized: false } }] })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(r.status, 200)
  t.same(warnings.filter((w) => w.code === 'FJG_WARN_KEY_TLS_UNVERIFIED').map((w) => w.message),
    [`keys[0].tls.rejectUnauthorized: false — the certificate of ${srv.origin}/jwks.json is NOT verified; anyone on the path can serve keys`])
})

t.test('option errors name keys[i].tls.<name>: missing file, not PEM, key of another certificate', async (t) => {
  const pki = makePki(t)
  const other = pki.client('other')
  const client = pki.client('gateway')
  const notPem = join(pki.dir, 'not.pem')
  writeFileSync(notPem, 'hello')
  const a = Fastify()
  t.teardown(() => a.close())
  const err = await a.register(jwtAuth, {
    keys: [
      { jwks: 'https://127.0.0.1:9/a', tls: { ca: join(pki.dir, 'missing.crt') } },
      { jwks: 'https://127.0.0.1:9/b', tls: { ca: notPem } },
      { jwks: 'https://127.0.0.1:9/c', tls: { cert: client.certFile, key: other.keyFile } },
      { jwks: 'https://127.0.0.1:9/d', tls: { cert: client.certFile } }
    ]
  }).ready().then(() => null, (e: Error) => e)
  t.ok(err !== null)
  const message = (err as Error).message
  t.match(message, `keys[0].tls.ca: cannot read ${join(pki.dir, 'missing.crt')}: ENOENT`)
  t.match(message, `keys[1].tls.ca: ${notPem} is not a PEM file`)
  t.match(message, /keys\[2\]\.tls: .*(key values mismatch|KEY_VALUES_MISMATCH)/)
  t.match(message, 'keys[3].tls: "cert" and "key" go together (a client certificate needs its key)')
  t.equal((err as { code?: string }).code, 'FJG_ERR_OPTION_INVALID')
})
