// Issue 13, point 8: `Ed25519` (RFC 9864) as an algorithm name and a JWK `alg`
// beside `EdDSA`, and `ES256K` (ECDSA over secp256k1, RFC 8812) end to end.
// Tokens are made with node:crypto (fast-jwt signs neither).
import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { type FastifyInstance } from 'fastify'
import { denied, loggedApp, registerError } from './helpers/app.js'
import { jwksServer } from './helpers/jwks-server.js'

const issued: string[] = []
const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ed = generateKeyPairSync('ed25519')
const ed448 = generateKeyPairSync('ed448')
const jwkOf = (k: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...k.export({ format: 'jwk' }), ...extra })

/** A compact JWS signed with node:crypto. */
function token (alg: string, key: KeyObject, kid: string | null, payload: Record<string, unknown> = {}): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${enc({ alg, typ: 'JWT', ...(kid === null ? {} : { kid }) })}.${enc({ sub: 'u1', iat: now, exp: now + 300, ...payload })}`
  const hash = alg.startsWith('ES') ? 'sha256' : null
  const sig = cryptoSign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
  const tok = `${input}.${sig}`
  issued.push(tok)
  return tok
}

async function code (app: FastifyInstance, tok: string): Promise<number | string> {
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${tok}` } })
  return res.statusCode === 200 ? 200 : res.json().code
}

t.test('ES256K: inline JWK, PEM file and a JWKS URL; the curve decides', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fjg-es256k-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pem = join(dir, 'k1.pem')
  writeFileSync(pem, k1.publicKey.export({ type: 'spki', format: 'pem' }) as string)
  const srv = await jwksServer(t, { '/jwks.json': { json: { keys: [jwkOf(k1.publicKey, { kid: 'k1-url', alg: 'ES256K' })] } } })
  const { app } = await loggedApp(t, {
    keys: [{ jwk: jwkOf(k1.publicKey, { kid: 'k1-jwk' }) }, { file: pem }, { jwks: srv.url('/jwks.json') }, { jwk: jwkOf(p256.publicKey, { kid: 'p256' }) }]
  }, issued)
  t.equal(await code(app, token('ES256K', k1.privateKey, 'k1-jwk')), 200, 'inline JWK')
  t.equal(await code(app, token('ES256K', k1.privateKey, null)), 200, 'PEM file (kid-less fallback)')
  t.equal(await code(app, token('ES256K', k1.privateKey, 'k1-url')), 200, 'JWKS URL with alg ES256K')
  // The curve is bound to its algorithm both ways.
  t.equal(await code(app, token('ES256', k1.privateKey, 'k1-jwk')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'a secp256k1 key under ES256')
  // The P-256 key is no candidate; the kid-less secp256k1 key (the PEM) is tried and fails.
  t.equal(await code(app, token('ES256K', p256.privateKey, 'p256')), 'FJG_ERR_TOKEN_SIGNATURE', 'a P-256 key under ES256K')
  const good = token('ES256K', k1.privateKey, 'k1-jwk')
  const [h, p, s] = good.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  sig[10] = (sig[10] as number) ^ 1
  denied(t, await app.inject({ url: '/', headers: { authorization: `Bearer ${h}.${p}.${sig.toString('base64url')}` } }), 'FJG_ERR_TOKEN_SIGNATURE')
  denied(t, await app.inject({ url: '/', headers: { authorization: `Bearer ${h}.${p}.${Buffer.alloc(64).toString('base64url')}` } }), 'FJG_ERR_TOKEN_SIGNATURE')
  denied(t, await app.inject({ url: '/', headers: { authorization: `Bearer ${h}.${p}.${sig.subarray(0, 63).toString('base64url')}` } }), 'FJG_ERR_TOKEN_SIGNATURE')
  const err = await registerError({ keys: [{ jwk: jwkOf(k1.publicKey, { alg: 'ES256' }) }] })
  t.equal(err.message, 'Invalid jwt policy: keys[0].jwk: "alg" "ES256" does not fit a EC key')
})

t.test('Ed25519: the RFC 9864 name beside EdDSA, as a token alg and a JWK alg', async (t) => {
  const { app } = await loggedApp(t, {
    keys: [
      { jwk: jwkOf(ed.publicKey, { kid: 'ed-any' }) },
      { jwk: jwkOf(ed.publicKey, { kid: 'ed-new', alg: 'Ed25519' }) },
      { jwk: jwkOf(ed.publicKey, { kid: 'ed-old', alg: 'EdDSA' }) },
      { jwk: jwkOf(ed448.publicKey, { kid: 'ed448' }) }
    ]
  }, issued)
  t.equal(await code(app, token('Ed25519', ed.privateKey, 'ed-any')), 200, 'Ed25519 on a key without alg')
  t.equal(await code(app, token('EdDSA', ed.privateKey, 'ed-any')), 200, 'EdDSA on the same key')
  t.equal(await code(app, token('Ed25519', ed.privateKey, 'ed-new')), 200, 'Ed25519 on a key pinned to Ed25519')
  t.equal(await code(app, token('EdDSA', ed.privateKey, 'ed-new')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', '...which refuses EdDSA')
  t.equal(await code(app, token('Ed25519', ed.privateKey, 'ed-old')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'a key pinned to EdDSA refuses Ed25519')
  t.equal(await code(app, token('EdDSA', ed448.privateKey, 'ed448')), 200, 'Ed448 under EdDSA')
  t.equal(await code(app, token('Ed25519', ed448.privateKey, 'ed448')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'Ed448 is not Ed25519')

  const only = await loggedApp(t, { keys: [{ jwk: jwkOf(ed.publicKey) }], algorithms: ['Ed25519'] }, issued)
  t.equal(await code(only.app, token('Ed25519', ed.privateKey, null)), 200, 'algorithms: ["Ed25519"] is accepted')
  t.equal(await code(only.app, token('EdDSA', ed.privateKey, null)), 'FJG_ERR_TOKEN_ALGORITHM', 'and it does not allow EdDSA')
  const bad = await registerError({ keys: [{ jwk: jwkOf(ed448.publicKey, { alg: 'Ed25519' }) }] })
  t.equal(bad.message, 'Invalid jwt policy: keys[0].jwk: "alg" "Ed25519" does not fit a OKP key')
  const none = await registerError({ keys: [{ jwk: jwkOf(p256.publicKey) }], algorithms: ['Ed25519'] })
  t.equal(none.message, 'Invalid jwt policy: algorithms: no key can verify Ed25519')
})
