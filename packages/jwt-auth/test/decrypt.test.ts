// Issue 13, point 9: `decrypt` (JWE, NGINX Plus auth_jwt_type nested |
// encrypted). Tokens are encrypted with jose, the library the plugin decrypts
// with; keys are made fresh with node:crypto and written as files.
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CompactEncrypt } from 'jose'
import { compilePolicy, explainToken, SharedResources, type JwtPolicy } from '../src/internal.js'
import { compileDecrypt } from '../src/decrypt.js'
import { build, denied, loggedApp, registerError } from './helpers/app.js'
import { generateKeySet, sign } from './helpers/keys.js'

const signing = generateKeySet()
const dir = mkdtempSync(join(tmpdir(), 'fjg-jwe-'))

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsaOther = generateKeyPairSync('rsa', { modulusLength: 2048 })
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
const kw = randomBytes(32)
const cek = randomBytes(32)

const rsaPem = join(dir, 'rsa-private.pem')
writeFileSync(rsaPem, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }))
const p384Jwk = join(dir, 'p384.jwk.json')
writeFileSync(p384Jwk, JSON.stringify({ ...p384.privateKey.export({ format: 'jwk' }), kid: 'ec-384', use: 'enc' }))
const p256Jwk = { ...p256.privateKey.export({ format: 'jwk' }), kid: 'ec-256' }
const octJwk = (k: Buffer, kid: string): Record<string, unknown> => ({ kty: 'oct', k: k.toString('base64url'), kid })

const issued: string[] = []
const keep = (tok: string): string => {
  issued.push(tok)
  return tok
}

interface Enc { alg: string, enc: string, kid?: string, [k: string]: unknown }
async function jwe (plaintext: string, key: KeyObject | Uint8Array, header: Enc): Promise<string> {
  return keep(await new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(header).encrypt(key))
}
const jws = (payload: Record<string, unknown> = {}): string => keep(sign(signing.rsa, 'RS256', { sub: 'alice', ...payload }))
const claims = (payload: Record<string, unknown> = {}): string => {
  const now = Math.floor(Date.now() / 1000)
  return JSON.stringify({ sub: 'alice', iat: now, exp: now + 300, ...payload })
}
const bearer = (tok: string): Record<string, string> => ({ authorization: `Bearer ${tok}` })

const nested: JwtPolicy = {
  keys: [{ jwk: signing.rsa.jwk }],
  decrypt: { keys: [{ file: rsaPem }], algorithms: ['RSA-OAEP-256', 'A256GCM'] }
}

t.test('the decrypted-plaintext cache keeps a JWE from its second decryption on; one-shot JWEs do not push it out', async (t) => {
  const problems: string[] = []
  const dec = compileDecrypt({ keys: [{ file: rsaPem }], algorithms: ['RSA-OAEP-256', 'A256GCM'] }, 'decrypt', (f) => f, problems, { cacheSize: 16, cacheTtl: 60_000 })
  t.same(problems, [])
  if (dec === null) return
  const tok = await jwe(jws(), createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
  // A cache hit hands back the object it kept; a decryption makes a new one.
  const first = await dec.open(tok)
  const second = await dec.open(tok)
  const third = await dec.open(tok)
  t.not(second, first, 'first sight: decrypted, not kept')
  t.equal(third, second, 'second sight: kept, the third is a hit')
  t.equal(third.plaintext, first.plaintext)
  // One-shot JWEs pass through without pushing it out.
  for (let i = 0; i < 40; i++) await dec.open(await jwe(jws({ jti: `once-${i}` }), createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' }))
  t.equal(await dec.open(tok), second, 'still kept after 40 one-shot JWEs (2.5 times the cache size)')
  const off = compileDecrypt({ keys: [{ file: rsaPem }], algorithms: ['RSA-OAEP-256', 'A256GCM'] }, 'decrypt', (f) => f, problems, { cacheSize: 0, cacheTtl: 60_000 })
  const a = await off?.open(tok)
  t.not(await off?.open(tok), a, 'cache: 0 (off) keeps nothing')
  await off?.open(tok).then((again) => t.not(again, a))
})

t.test('nested: a JWE holding a JWS goes through the whole policy', async (t) => {
  const { app, logs } = await loggedApp(t, { ...nested, audience: 'api', requireClaims: [{ claim: 'scope', op: 'contains', value: ['read'] }] }, issued)
  const inner = jws({ aud: 'api', scope: 'read write' })
  const tok = await jwe(inner, createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
  t.equal(tok.split('.').length, 5)
  // The inner JWS is admitted to the token cache on its second sight: the third request hits both caches.
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ url: '/', headers: bearer(tok) })
    t.equal(res.statusCode, 200, ['decrypted and verified', 'again (the plaintext from the JWE cache, the JWS verified and now cached)', 'again, from the caches'][i])
    t.equal(res.json().sub, 'alice')
  }
  // The inner token is checked as any token: audience, requirement, signature.
  const wrongAud = await jwe(jws({ aud: 'other', scope: 'read' }), createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' })
  denied(t, await app.inject({ url: '/', headers: bearer(wrongAud) }), 'FJG_ERR_TOKEN_AUDIENCE', 'The token audience is not allowed')
  const noScope = await app.inject({ url: '/', headers: bearer(await jwe(jws({ aud: 'api' }), createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' })) })
  t.equal(noScope.statusCode, 403)
  t.equal(noScope.json().code, 'FJG_ERR_CLAIM_REQUIREMENT')
  const forged = keep(sign(signing.rsa2, 'RS256', { sub: 'mallory', aud: 'api', scope: 'read' }, { kid: 'rsa-1' }))
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe(forged, createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' })) }), 'FJG_ERR_TOKEN_SIGNATURE')
  // A plain JWS, even the inner one of a JWE that was accepted, is refused: the policy requires encryption.
  denied(t, await app.inject({ url: '/', headers: bearer(inner) }), 'FJG_ERR_TOKEN_NOT_ENCRYPTED', 'The token is not encrypted (a JWE is required)')
  // A JWE inside the JWE is not a JWS.
  const twice = await jwe(tok, createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' })
  denied(t, await app.inject({ url: '/', headers: bearer(twice) }), 'FJG_ERR_TOKEN_MALFORMED', 'The token is malformed: a JWS has three parts')
  t.ok(logs.some((l) => l.jwt?.reason === 'FJG_ERR_TOKEN_NOT_ENCRYPTED'))
})

t.test('encrypted: the JWE holds the claims; no signature', async (t) => {
  const policy: JwtPolicy = {
    decrypt: { type: 'encrypted', keys: [{ jwk: p256Jwk }, { file: p384Jwk }], algorithms: ['ECDH-ES', 'ECDH-ES+A256KW', 'A128GCM', 'A256GCM'] },
    issuer: 'https://idp.example',
    claimsToHeaders: { 'x-user': 'sub' }
  }
  const app = await build(t, policy, (app) => app.get('/h', async (request) => ({ user: request.headers['x-user'], header: request.jwt?.header })))
  const p256Pub = createPublicKey(p256.privateKey)
  const p384Pub = createPublicKey(p384.privateKey)
  const ok = await jwe(claims({ iss: 'https://idp.example' }), p256Pub, { alg: 'ECDH-ES', enc: 'A256GCM', kid: 'ec-256' })
  const res = await app.inject({ url: '/', headers: bearer(ok) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().jwt.payload.sub, 'alice')
  t.equal(res.json().jwt.token, ok, 'request.jwt.token is the JWE')
  t.equal((await app.inject({ url: '/', headers: bearer(ok) })).statusCode, 200, 'again: now cached by the whole JWE (admitted on the second sight)')
  t.equal((await app.inject({ url: '/', headers: bearer(ok) })).statusCode, 200, 'cached by the whole JWE')
  const kw384 = await jwe(claims({ iss: 'https://idp.example' }), p384Pub, { alg: 'ECDH-ES+A256KW', enc: 'A128GCM' })
  t.equal((await app.inject({ url: '/', headers: bearer(kw384) })).statusCode, 200, 'P-384, key wrap, no kid: every fitting key is tried')
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe(claims({ iss: 'https://idp.example', exp: 1 }), p256Pub, { alg: 'ECDH-ES', enc: 'A256GCM' })) }), 'FJG_ERR_TOKEN_EXPIRED', 'The token has expired')
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe(claims({ iss: 'https://other.example' }), p256Pub, { alg: 'ECDH-ES', enc: 'A256GCM' })) }), 'FJG_ERR_TOKEN_ISSUER', 'The token issuer is not allowed')
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe(jws(), p256Pub, { alg: 'ECDH-ES', enc: 'A256GCM' })) }), 'FJG_ERR_TOKEN_MALFORMED', 'The token is malformed: the JWE holds a JWS, not claims (use decrypt.type nested)')
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe('[1,2]', p256Pub, { alg: 'ECDH-ES', enc: 'A256GCM' })) }), 'FJG_ERR_TOKEN_MALFORMED', 'The token is malformed: the payload is not a JSON object')
  const h = await app.inject({ url: '/h', headers: { ...bearer(ok), 'x-user': 'mallory' } })
  t.equal(h.json().user, 'alice', 'claims forwarded, the client copy dropped')
  t.equal(h.json().header.alg, 'ECDH-ES', 'request.jwt.header is the JWE protected header')
})

t.test('oct keys: A256KW and dir', async (t) => {
  const { app } = await loggedApp(t, {
    decrypt: { type: 'encrypted', keys: [{ jwk: octJwk(kw, 'kw-1') }, { jwk: octJwk(cek, 'dir-1') }], algorithms: ['A256KW', 'dir', 'A256GCM', 'A128CBC-HS256'] }
  }, issued)
  t.equal((await app.inject({ url: '/', headers: bearer(await jwe(claims(), kw, { alg: 'A256KW', enc: 'A256GCM', kid: 'kw-1' })) })).statusCode, 200, 'A256KW')
  t.equal((await app.inject({ url: '/', headers: bearer(await jwe(claims(), cek, { alg: 'dir', enc: 'A256GCM', kid: 'dir-1' })) })).statusCode, 200, 'dir, A256GCM')
  t.equal((await app.inject({ url: '/', headers: bearer(await jwe(claims(), cek, { alg: 'dir', enc: 'A128CBC-HS256' })) })).statusCode, 200, 'dir, A128CBC-HS256, no kid')
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe(claims(), randomBytes(32), { alg: 'A256KW', enc: 'A256GCM', kid: 'kw-1' })) }), 'FJG_ERR_TOKEN_DECRYPT', 'The token could not be decrypted')
})

t.test('every malformed or refused JWE is a coded 401, never a 5xx', async (t) => {
  const { app } = await loggedApp(t, { ...nested, maxTokenSize: 4096 }, issued)
  const pub = createPublicKey(rsa.privateKey)
  const good = await jwe(jws(), pub, { alg: 'RSA-OAEP-256', enc: 'A256GCM' })
  t.equal((await app.inject({ url: '/', headers: bearer(good) })).statusCode, 200)
  const parts = good.split('.')
  const withPart = (i: number, v: string): string => keep(parts.map((p, j) => j === i ? v : p).join('.'))
  const flip = (s: string): string => (s[0] === 'A' ? 'B' : 'A') + s.slice(1)
  const cases: Array<[string, string, string]> = [
    ['wrong key', await jwe(jws(), createPublicKey(rsaOther.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' }), 'FJG_ERR_TOKEN_DECRYPT'],
    ['alg not allowed', await jwe(jws(), pub, { alg: 'RSA-OAEP', enc: 'A256GCM' }), 'FJG_ERR_TOKEN_ALGORITHM'],
    ['enc not allowed', await jwe(jws(), pub, { alg: 'RSA-OAEP-256', enc: 'A128CBC-HS256' }), 'FJG_ERR_TOKEN_ALGORITHM'],
    ['zip', withPart(0, Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', zip: 'DEF' })).toString('base64url')), 'FJG_ERR_TOKEN_ZIP'],
    ['crit', withPart(0, Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', crit: ['exp'], exp: 1 })).toString('base64url')), 'FJG_ERR_TOKEN_CRIT'],
    ['header not JSON', withPart(0, Buffer.from('{"alg":').toString('base64url')), 'FJG_ERR_TOKEN_MALFORMED'],
    ['header an array', withPart(0, Buffer.from('[]').toString('base64url')), 'FJG_ERR_TOKEN_MALFORMED'],
    ['header member repeated', withPart(0, Buffer.from('{"alg":"RSA-OAEP-256","enc":"A256GCM","enc":"A256GCM"}').toString('base64url')), 'FJG_ERR_TOKEN_MALFORMED'],
    ['header changed (it is the AAD)', withPart(0, Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'x' })).toString('base64url')), 'FJG_ERR_TOKEN_DECRYPT'],
    ['garbage encrypted key', withPart(1, flip(parts[1] as string)), 'FJG_ERR_TOKEN_DECRYPT'],
    ['garbage iv', withPart(2, flip(parts[2] as string)), 'FJG_ERR_TOKEN_DECRYPT'],
    ['short iv', withPart(2, 'AAAA'), 'FJG_ERR_TOKEN_DECRYPT'],
    ['garbage ciphertext', withPart(3, flip(parts[3] as string)), 'FJG_ERR_TOKEN_DECRYPT'],
    ['garbage tag', withPart(4, flip(parts[4] as string)), 'FJG_ERR_TOKEN_DECRYPT'],
    ['non-base64url in the header', withPart(0, '*' + parts[0]), 'FJG_ERR_TOKEN_MALFORMED'],
    ['non-base64url in the key', withPart(1, parts[1] + '='), 'FJG_ERR_TOKEN_MALFORMED'],
    ['non-base64url in the iv', withPart(2, '%%%%'), 'FJG_ERR_TOKEN_MALFORMED'],
    ['non-base64url in the ciphertext', withPart(3, (parts[3] as string).slice(1) + '+'), 'FJG_ERR_TOKEN_MALFORMED'],
    ['non-base64url in the tag', withPart(4, '/' + parts[4]), 'FJG_ERR_TOKEN_MALFORMED'],
    ['empty ciphertext', withPart(3, ''), 'FJG_ERR_TOKEN_MALFORMED'],
    ['empty tag', withPart(4, ''), 'FJG_ERR_TOKEN_MALFORMED'],
    ['six parts', keep(good + '.AAAA'), 'FJG_ERR_TOKEN_NOT_ENCRYPTED'],
    ['oversize', await jwe(jws({ pad: 'x'.repeat(4096) }), pub, { alg: 'RSA-OAEP-256', enc: 'A256GCM' }), 'FJG_ERR_TOKEN_TOO_LARGE']
  ]
  for (const [name, tok, code] of cases) {
    const res = await app.inject({ url: '/', headers: bearer(tok) })
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.equal(res.json().code, code, `${name}: ${code}`)
    t.match(res.headers['www-authenticate'], /^Bearer realm="api", error="invalid_token", error_description="/, `${name}: challenge`)
  }
  const zip = await app.inject({ url: '/', headers: bearer(cases[3]?.[1] as string) })
  t.equal(zip.json().message, 'The token is compressed (zip), which is not accepted')
})

t.test('a JWE sent to a policy without decrypt is refused as today', async (t) => {
  const { app } = await loggedApp(t, { keys: [{ jwk: signing.rsa.jwk }] }, issued)
  const tok = await jwe(jws(), createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' })
  denied(t, await app.inject({ url: '/', headers: bearer(tok) }), 'FJG_ERR_TOKEN_MALFORMED', 'The token is malformed: a JWS has three parts')
})

t.test('nested with providers: the inner token\'s iss picks the provider', async (t) => {
  const { app } = await loggedApp(t, {
    decrypt: { keys: [{ file: rsaPem }], algorithms: ['RSA-OAEP-256', 'A256GCM'] },
    providers: [
      { issuer: 'https://a.example', keys: [{ jwk: signing.rsa.jwk }] },
      { issuer: 'https://b.example', keys: [{ jwk: signing.rsa2.jwk }] }
    ]
  }, issued)
  const pub = createPublicKey(rsa.privateKey)
  t.equal((await app.inject({ url: '/', headers: bearer(await jwe(jws({ iss: 'https://a.example' }), pub, { alg: 'RSA-OAEP-256', enc: 'A256GCM' })) })).statusCode, 200)
  const bForA = keep(sign(signing.rsa2, 'RS256', { iss: 'https://a.example' }, { kid: null }))
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe(bForA, pub, { alg: 'RSA-OAEP-256', enc: 'A256GCM' })) }), 'FJG_ERR_TOKEN_SIGNATURE')
  denied(t, await app.inject({ url: '/', headers: bearer(jws({ iss: 'https://a.example' })) }), 'FJG_ERR_TOKEN_NOT_ENCRYPTED', 'The token is not encrypted (a JWE is required)')
  denied(t, await app.inject({ url: '/', headers: bearer(await jwe(jws({ iss: 'https://c.example' }), pub, { alg: 'RSA-OAEP-256', enc: 'A256GCM' })) }), 'FJG_ERR_TOKEN_ISSUER', 'The token issuer is not allowed')
})

t.test('explain decrypts, then explains the inner token', async (t) => {
  const shared = new SharedResources()
  t.teardown(() => shared.close())
  const c = compilePolicy(nested, { shared })
  const tok = await jwe(jws(), createPublicKey(rsa.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' })
  const ex = await explainToken(c, tok)
  t.equal(ex.error, null)
  t.strictSame(ex.steps[0], { name: 'decrypt', pass: true, detail: ['JWE alg "RSA-OAEP-256", enc "A256GCM"; allowed: RSA-OAEP-256, A256GCM; holds a JWS'] })
  t.equal(ex.payload?.sub, 'alice')
  t.notOk(JSON.stringify(ex).includes(tok), 'the token is not in the explanation')
  const bad = await explainToken(c, await jwe(jws(), createPublicKey(rsaOther.privateKey), { alg: 'RSA-OAEP-256', enc: 'A256GCM' }))
  t.equal(bad.error?.code, 'FJG_ERR_TOKEN_DECRYPT')
  t.strictSame(bad.steps[0], { name: 'decrypt', pass: false, detail: ['The token could not be decrypted; allowed: RSA-OAEP-256, A256GCM'] })
  t.equal(bad.answer?.status, 401)
})

t.test('decrypt is validated at start', async (t) => {
  const bad = async (policy: unknown, message: string): Promise<void> => {
    const err = await registerError(policy)
    t.equal(err.code, 'FJG_ERR_OPTION_INVALID', message)
    t.match(err.message, message)
    t.notMatch(err.message, /"d":/, 'no private key in the message')
  }
  const pubFile = join(dir, 'rsa-public.pem')
  writeFileSync(pubFile, createPublicKey(rsa.privateKey).export({ type: 'spki', format: 'pem' }))
  const k = [{ file: rsaPem }]
  await bad({ decrypt: { keys: k, algorithms: ['RSA-OAEP-256', 'RSA-OAEP'] } }, 'decrypt.algorithms: names no content encryption algorithm')
  await bad({ decrypt: { keys: k, algorithms: ['A256GCM', 'A128GCM'] } }, 'decrypt.algorithms: names no key management algorithm')
  await bad({ decrypt: { keys: k, algorithms: ['A256KW', 'A256GCM'], type: 'encrypted' } }, 'decrypt.algorithms: no key can decrypt A256KW')
  await bad({ decrypt: { keys: k, algorithms: ['RSA1_5', 'A256GCM'], type: 'encrypted' } }, 'decrypt.algorithms[0]: must be one of')
  await bad({ decrypt: { keys: [{ file: pubFile }], algorithms: ['RSA-OAEP', 'A256GCM'], type: 'encrypted' } }, 'decrypt.keys[0].file: \'' + pubFile + '\' holds no PEM private key')
  await bad({ decrypt: { keys: [{ jwk: { ...createPublicKey(rsa.privateKey).export({ format: 'jwk' }) } }], algorithms: ['RSA-OAEP', 'A256GCM'], type: 'encrypted' } }, 'decrypt.keys[0].jwk: a decryption key must be private')
  const short = generateKeyPairSync('rsa', { modulusLength: 1024 })
  await bad({ decrypt: { keys: [{ jwk: { ...short.privateKey.export({ format: 'jwk' }) } }], algorithms: ['RSA-OAEP', 'A256GCM'], type: 'encrypted' } }, 'decrypt.keys[0].jwk: an RSA key of 1024 bits is too short for RSA-OAEP (2048 at least)')
  await bad({ decrypt: { keys: [{ jwk: octJwk(randomBytes(20), 'x') }], algorithms: ['A128KW', 'A256GCM'], type: 'encrypted' } }, 'decrypt.keys[0].jwk: an oct key of 20 bytes fits no JWE algorithm')
  await bad({ decrypt: { keys: [{ jwk: { ...p256Jwk, use: 'sig' } }], algorithms: ['ECDH-ES', 'A256GCM'], type: 'encrypted' } }, 'decrypt.keys[0].jwk: the JWK is for "use": "sig"')
  await bad({ decrypt: { keys: [{ file: rsaPem, jwk: p256Jwk }], algorithms: ['ECDH-ES', 'A256GCM'], type: 'encrypted' } }, 'decrypt.keys[0]: needs exactly one of "file", "jwk"')
  await bad({ keys: [{ jwk: signing.rsa.jwk }], decrypt: { keys: k, algorithms: ['RSA-OAEP', 'A256GCM'], type: 'encrypted' } }, 'keys: verifies nothing with decrypt.type "encrypted"')
  await bad({ payloadHeader: 'x-claims', decrypt: { keys: k, algorithms: ['RSA-OAEP', 'A256GCM'], type: 'encrypted' } }, 'payloadHeader: not available with decrypt.type "encrypted"')
  await bad({ algorithms: ['RS256'], decrypt: { keys: k, algorithms: ['RSA-OAEP', 'A256GCM'], type: 'encrypted' } }, 'algorithms: signature algorithms mean nothing with decrypt.type "encrypted"')
  await bad({ decrypt: { keys: k, algorithms: ['RSA-OAEP', 'A256GCM'] } }, 'no key to verify tokens with')
  await bad({ decrypt: { keys: k, algorithms: ['RSA-OAEP', 'A256GCM'], type: 'encrypted' }, providers: [{ issuer: 'https://a.example', keys: [{ jwk: signing.rsa.jwk }] }] }, 'decrypt.type: "encrypted" tokens are not signed')
  await bad({ decrypt: { keys: k, algorithms: ['RSA-OAEP', 'A256GCM'], zip: true } }, 'decrypt.zip: unknown key')
})
