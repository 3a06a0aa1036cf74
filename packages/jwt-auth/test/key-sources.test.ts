// Key files and inline keys: the formats that load, and every mistake refused
// at registration with FJG_ERR_OPTION_INVALID, a message that names the option
// path and never repeats a secret. Then `algorithms`: derived from the keys by
// default, and an alg no key can verify is an options error.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import jwtAuth, { type JwtPolicy } from '../src/index.js'
import { generateKeySet, sign, writeKeyFiles, type Alg, type TestKey } from './helpers/keys.js'
import { denied, get, loggedApp, registerError } from './helpers/app.js'

/** The type of a subtest's `t` (tap does not export it under a short name). */
type T = Parameters<Parameters<typeof t.test>[0]>[0]

const keys = generateKeySet()
const files = writeKeyFiles(keys)
const dir = mkdtempSync(join(tmpdir(), 'fjg-key-sources-'))
t.teardown(() => {
  rmSync(files.dir, { recursive: true, force: true })
  rmSync(dir, { recursive: true, force: true })
})

// Random-looking, so that no 6-character window of it occurs in a message by chance.
const SECRET = 'Zq8vN3xK7pLm2Rt9Wy4Hc6BdQf1J'
const jwkOf = (k: TestKey): Record<string, unknown> => ({ ...k.jwk })
const pkcs8 = (k: TestKey): string => k.privateKey?.export({ type: 'pkcs8', format: 'pem' }) as string

function file (name: string, content: string | object): string {
  const path = join(dir, name)
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}

async function build (t: T, policy: JwtPolicy): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, policy)
  app.get('/', async (request) => ({ kid: request.jwt?.header.kid ?? null, alg: request.jwt?.header.alg }))
  await app.ready()
  return app
}

/** Asserts the exact options error, and that no secret fragment made it into the message. */
async function refused (t: T, policy: unknown, message: string, secrets: string[] = []): Promise<void> {
  const err = await registerError(policy)
  t.equal(err.code, 'FJG_ERR_OPTION_INVALID')
  t.equal(err.message, `Invalid jwt policy: ${message}`)
  for (const s of secrets) {
    // Any 6 characters of the secret in a row would be a leak.
    for (let i = 0; i + 6 <= s.length; i++) t.notOk(err.message.includes(s.slice(i, i + 6)), `no "${s.slice(i, i + 6)}" in the message`)
  }
}

t.test('key file formats that load', async (t) => {
  t.test('PEM: SPKI, PKCS#1 "RSA PUBLIC KEY", several blocks, text before the block', async (t) => {
    const rsaPub = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pub1 = file('pub.pkcs1.pem', rsaPub.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string)
    const signer: TestKey = { ...keys.rsa, signingKey: rsaPub.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }
    let app = await build(t, { keys: [{ file: pub1 }] })
    t.equal((await get(app, sign(signer, 'RS256'))).statusCode, 200, 'PKCS#1 public key')

    // Two blocks in one file: both keys load (without a kid: each is a fallback).
    const both = file('both.pem', `${keys.rsa.publicPem}\n${keys.p256.publicPem}`)
    app = await build(t, { keys: [{ file: both }] })
    t.equal((await get(app, sign(keys.rsa, 'PS256'))).statusCode, 200, 'first block')
    t.equal((await get(app, sign(keys.p256, 'ES256'))).statusCode, 200, 'second block')

    // RFC 7468 §2: explanatory text before the boundary (openssl pkcs12 output).
    const withText = file('bag.pem', `Bag Attributes\n    friendlyName: api\nsubject=/CN=api\n${keys.p384.publicPem}`)
    app = await build(t, { keys: [{ file: withText }] })
    t.equal((await get(app, sign(keys.p384, 'ES384'))).statusCode, 200, 'text before the PEM block')
  })

  t.test('keyval JSON: kid → PEM public key or HMAC secret; the kid selects the key', async (t) => {
    const app = await build(t, { keys: [{ file: files.keyval }] })
    for (const [key, alg] of [[keys.hmac, 'HS512'], [keys.rsa, 'RS512'], [keys.p521, 'ES512'], [keys.ed25519, 'EdDSA']] as Array<[TestKey, Alg]>) {
      const res = await get(app, sign(key, alg))
      t.equal(res.statusCode, 200, alg)
      t.strictSame(res.json(), { kid: key.kid, alg })
    }
    // The rsa key under the kid of rsa2: only rsa2's key is tried.
    denied(t, await get(app, sign(keys.rsa, 'RS256', {}, { kid: keys.rsa2.kid })), 'FJG_ERR_TOKEN_SIGNATURE', 'The token signature is invalid')
  })

  t.test('JWKS: keys with use "enc" or key_ops without "verify" are skipped, the others load', async (t) => {
    const jwks = file('mixed.jwks.json', {
      keys: [
        { ...jwkOf(keys.rsa), use: 'enc' },
        { ...jwkOf(keys.p256), key_ops: ['encrypt'] },
        { ...jwkOf(keys.p384), use: 'sig', key_ops: ['verify'] },
        { ...jwkOf(keys.ed25519), alg: 'EdDSA' }
      ]
    })
    const app = await build(t, { keys: [{ file: jwks }] })
    t.equal((await get(app, sign(keys.p384, 'ES384'))).statusCode, 200)
    t.equal((await get(app, sign(keys.ed25519, 'EdDSA'))).statusCode, 200)
    // The skipped keys' algorithms are not even allowed: no key could verify them.
    denied(t, await get(app, sign(keys.rsa, 'RS256')), 'FJG_ERR_TOKEN_ALGORITHM', 'The token algorithm is not allowed')
    denied(t, await get(app, sign(keys.p256, 'ES256')), 'FJG_ERR_TOKEN_ALGORITHM', 'The token algorithm is not allowed')
  })

  t.test('a JWKS with a skipped key beside a key of the same type: its kid is unknown', async (t) => {
    const jwks = file('enc-rsa.jwks.json', { keys: [{ ...jwkOf(keys.rsa), use: 'enc' }, jwkOf(keys.rsa2)] })
    const app = await build(t, { keys: [{ file: jwks }] })
    t.equal((await get(app, sign(keys.rsa2, 'RS256'))).statusCode, 200)
    denied(t, await get(app, sign(keys.rsa, 'RS256')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'No key matches the token')
  })

  t.test('every source is combined: secret, inline jwk, JWK file, PEM file', async (t) => {
    const app = await build(t, {
      secret: SECRET,
      keys: [{ jwk: jwkOf(keys.p256) }, { file: files.jwk.ed25519 as string }, { file: files.pem.rsa as string }]
    })
    const hs = { ...keys.hmac, signingKey: Buffer.from(SECRET) }
    t.equal((await get(app, sign(hs, 'HS256', {}, { kid: null }))).statusCode, 200, 'secret')
    t.equal((await get(app, sign(keys.p256, 'ES256'))).statusCode, 200, 'inline jwk')
    t.equal((await get(app, sign(keys.ed25519, 'EdDSA'))).statusCode, 200, 'jwk file')
    t.equal((await get(app, sign(keys.rsa, 'PS384', {}, { kid: null }))).statusCode, 200, 'pem file')
  })
})

t.test('key option errors at registration: FJG_ERR_OPTION_INVALID naming the option path', async (t) => {
  t.test('missing file', async (t) => {
    const path = join(dir, 'nope.json')
    await refused(t, { keys: [{ jwk: jwkOf(keys.rsa) }, { file: path }] }, `keys[1].file: cannot read '${path}': ENOENT`)
  })

  t.test('bad JSON: the message gives the place, never the text (a key file holds secrets)', async (t) => {
    const unquoted = file('bad-keyval.json', `{"hmac-1": ${SECRET}}`)
    await refused(t, { keys: [{ file: unquoted }] }, `keys[0].file: '${unquoted}' is neither PEM nor valid JSON`, [SECRET])
    const comma = file('comma.json', `{"hmac-1": "${SECRET}",}`)
    await refused(t, { keys: [{ file: comma }] }, `keys[0].file: '${comma}' is neither PEM nor valid JSON (error at position ${SECRET.length + 14})`, [SECRET])
    const raw = file('raw-secret.txt', SECRET)
    await refused(t, { keys: [{ file: raw }] }, `keys[0].file: '${raw}' is neither PEM nor valid JSON`, [SECRET])
  })

  t.test('JSON that is no key document', async (t) => {
    const arr = file('array.json', [jwkOf(keys.rsa)])
    await refused(t, { keys: [{ file: arr }] }, 'keys[0].file: a key document must be a JSON object (JWK, JWKS or keyval)')
    const notList = file('keys-object.json', { keys: { a: jwkOf(keys.rsa) } })
    await refused(t, { keys: [{ file: notList }] }, 'keys[0].file: a JWKS must be an object with a "keys" array')
    const empty = file('empty.jwks.json', { keys: [] })
    await refused(t, { keys: [{ file: empty }] }, `keys[0].file: '${empty}' holds no signature key`)
    const pemless = file('nothing.pem', '-----BEGIN PUBLIC KEY-----\nnot base64 at all\n')
    await refused(t, { keys: [{ file: pemless }] }, 'keys[0].file: no PEM block found')
    const keyvalNumber = file('keyval-number.json', { 'kid-1': 42 })
    // A keyval value that is no key is skipped (issue 10, point 9); with nothing left, the file is refused.
    await refused(t, { keys: [{ file: keyvalNumber }] }, `keys[0].file: '${keyvalNumber}' holds no signature key (skipped: "kid-1": a keyval value must be a string (PEM or secret))`)
  })

  // Issue 10, point 9 (deliberate change): a bad key in a JWKS file is skipped
  // with a coded warning, as from a URL; a set left with no key is refused.
  t.test('a JWKS file with a bad key: the key is skipped with a coded warning, a set of bad keys is refused', async (t) => {
    const jwks = file('bad-member.jwks.json', { keys: [jwkOf(keys.p256), { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'BBBB', kid: 'broken' }] })
    const { app, logs } = await loggedApp(t, { keys: [{ file: jwks }] }, [])
    const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${sign(keys.p256, 'ES256')}` } })
    t.equal(res.statusCode, 200, 'the good key loads')
    t.same(logs.filter((l) => l.msg === 'jwt: keys skipped in the key set').map((l) => l.jwks),
      [{ source: jwks, skipped: ['keys[1]: cannot import the EC JWK: Invalid JWK EC key'], code: 'FJG_WARN_KEY_SKIPPED' }])
    const noKty = file('no-kty.jwks.json', { keys: [{ kid: 'x', n: 'AQAB' }] })
    await refused(t, { keys: [{ file: noKty }] }, `keys[0].file: '${noKty}' holds no signature key (skipped: keys[0]: unsupported "kty" undefined)`)
    const octSecret = 'Yh3+Kp9/Lw2=Vn5'
    const badOct = file('bad-oct.jwks.json', { keys: [{ kty: 'oct', k: octSecret }] })
    await refused(t, { keys: [{ file: badOct }] },
      `keys[0].file: '${badOct}' holds no signature key (skipped: keys[0]: "k" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits))`, [octSecret])
  })

  t.test('private keys are refused: PEM, JWK, in a JWKS, in keyval', async (t) => {
    const p8 = file('p256.key.pem', pkcs8(keys.p256))
    await refused(t, { keys: [{ file: p8 }] }, 'keys[0].file: the PEM holds a private key (PRIVATE KEY); give the public key or certificate')
    const sec1 = file('p256.sec1.pem', keys.p256.privateKey!.export({ type: 'sec1', format: 'pem' }) as string)
    await refused(t, { keys: [{ file: sec1 }] }, 'keys[0].file: the PEM holds a private key (EC PRIVATE KEY); give the public key or certificate')
    const pkcs1 = file('rsa.pkcs1.key.pem', keys.rsa.privateKey!.export({ type: 'pkcs1', format: 'pem' }) as string)
    await refused(t, { keys: [{ file: pkcs1 }] }, 'keys[0].file: the PEM holds a private key (RSA PRIVATE KEY); give the public key or certificate')
    // A private key after a public one in the same file is refused too.
    const mixed = file('pub-then-priv.pem', `${keys.rsa.publicPem}${pkcs8(keys.rsa)}`)
    await refused(t, { keys: [{ file: mixed }] }, 'keys[0].file: the PEM holds a private key (PRIVATE KEY); give the public key or certificate')

    const privJwk = keys.ed25519.privateKey!.export({ format: 'jwk' }) as Record<string, unknown>
    await refused(t, { keys: [{ jwk: privJwk }] }, 'keys[0].jwk: the JWK holds a private key ("d"); give the public key only', [privJwk.d as string])
    const privFile = file('rsa.private.jwk.json', keys.rsa.privateKey!.export({ format: 'jwk' }))
    await refused(t, { keys: [{ file: privFile }] }, 'keys[0].file: the JWK holds a private key ("d"); give the public key only')
    const privSet = file('private.jwks.json', { keys: [jwkOf(keys.p384), keys.p521.privateKey!.export({ format: 'jwk' })] })
    await refused(t, { keys: [{ file: privSet }] }, 'keys[0].file: keys[1]: the JWK holds a private key ("d"); give the public key only')
    const privKeyval = file('private-keyval.json', { k1: pkcs8(keys.p256) })
    await refused(t, { keys: [{ file: privKeyval }] }, 'keys[0].file: "k1": the PEM holds a private key (PRIVATE KEY); give the public key or certificate')
  })

  t.test('a key that is not for signatures', async (t) => {
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.rsa), use: 'enc' } }] }, 'keys[0].jwk: the JWK is not a signature key (use/key_ops)')
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.p256), key_ops: ['encrypt', 'wrapKey'] } }] }, 'keys[0].jwk: the JWK is not a signature key (use/key_ops)')
    const encOnly = file('enc-only.jwks.json', { keys: [{ ...jwkOf(keys.rsa), use: 'enc' }] })
    await refused(t, { keys: [{ file: encOnly }] }, `keys[0].file: '${encOnly}' holds no signature key`)
  })

  t.test('unsupported curves and key types', async (t) => {
    // secp256k1 is supported since issue 13 point 8 (ES256K): P-224 stands for an unsupported curve.
    const p224 = generateKeyPairSync('ec', { namedCurve: 'secp224r1' })
    const p224pem = file('p224.pem', p224.publicKey.export({ type: 'spki', format: 'pem' }) as string)
    await refused(t, { keys: [{ file: p224pem }] }, "keys[0].file: unsupported EC curve 'secp224r1'")
    const x25519 = generateKeyPairSync('x25519')
    await refused(t, { keys: [{ jwk: x25519.publicKey.export({ format: 'jwk' }) as Record<string, unknown> }] }, "keys[0].jwk: unsupported key type 'x25519'")
    await refused(t, { keys: [{ jwk: { kty: 'RSA-PSS', n: 'AQAB', e: 'AQAB' } }] }, 'keys[0].jwk: unsupported "kty" "RSA-PSS"')
    // An RSASSA-PSS SPKI loaded fine but then failed every token: refused at start.
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 1024 })
    const pssPem = file('pss.pem', pss.publicKey.export({ type: 'spki', format: 'pem' }) as string)
    await refused(t, { keys: [{ file: pssPem }] },
      "keys[0].file: unsupported key type 'rsa-pss' (an RSASSA-PSS SPKI); give the RSA public key as an ordinary SPKI or PKCS#1 PEM, or a JWK")
  })

  t.test('a JWK "alg" that does not fit its key', async (t) => {
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.p256), alg: 'RS256' } }] }, 'keys[0].jwk: "alg" "RS256" does not fit a EC key')
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.p256), alg: 'ES384' } }] }, 'keys[0].jwk: "alg" "ES384" does not fit a EC key')
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.rsa), alg: 'HS256' } }] }, 'keys[0].jwk: "alg" "HS256" does not fit a RSA key')
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.ed25519), alg: 'ES256' } }] }, 'keys[0].jwk: "alg" "ES256" does not fit a OKP key')
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.rsa), alg: 'none' } }] }, 'keys[0].jwk: "alg" "none" does not fit a RSA key')
    const k = keys.hmac.jwk.k as string
    await refused(t, { keys: [{ jwk: { ...jwkOf(keys.hmac), alg: 'RS256' } }] }, 'keys[0].jwk: "alg" "RS256" does not fit a oct key', [k])
    const inFile = file('alg-mismatch.jwk.json', { ...jwkOf(keys.rsa), alg: 'ES512' })
    await refused(t, { keys: [{ file: inFile }] }, 'keys[0].file: "alg" "ES512" does not fit a RSA key')
  })

  t.test('every problem is named at once, and secrets given inline are never repeated', async (t) => {
    const missing = join(dir, 'missing.pem')
    await refused(t, { keys: [{ file: missing }, { jwk: { ...jwkOf(keys.rsa), use: 'enc' } }, { jwk: { ...jwkOf(keys.p256), alg: 'PS256' } }] }, [
      `keys[0].file: cannot read '${missing}': ENOENT`,
      'keys[1].jwk: the JWK is not a signature key (use/key_ops)',
      'keys[2].jwk: "alg" "PS256" does not fit a EC key'
    ].join('; '))
    await refused(t, { secret: { base64: '!!!!' } }, 'secret: an HMAC secret must not be empty')
    await refused(t, { secret: 12345678 }, 'secret: must be string,object')
    await refused(t, { secret: { base64: SECRET, utf8: SECRET } }, 'secret.utf8: unknown key', [SECRET])
    await refused(t, { keys: [{ jwk: SECRET }] }, 'keys[0].jwk: must be object', [SECRET])
    await refused(t, { keys: [{ file: files.jwks, jwk: jwkOf(keys.rsa) }] }, 'keys[0]: needs exactly one of "file", "jwk", "jwks", "keyval", "issuer", got file and jwk')
  })
})

t.test('algorithms: derived from the keys when not given', async (t) => {
  const NOT_ALLOWED = 'The token algorithm is not allowed'
  t.test('a secret: HS256/384/512 only', async (t) => {
    const app = await build(t, { secret: SECRET })
    const hs = { ...keys.hmac, signingKey: Buffer.from(SECRET) }
    for (const alg of ['HS256', 'HS384', 'HS512'] as Alg[]) t.equal((await get(app, sign(hs, alg))).statusCode, 200, alg)
    denied(t, await get(app, sign(keys.rsa, 'RS256')), 'FJG_ERR_TOKEN_ALGORITHM', NOT_ALLOWED)
    denied(t, await get(app, sign(keys.p256, 'ES256')), 'FJG_ERR_TOKEN_ALGORITHM', NOT_ALLOWED)
  })
  t.test('an RSA PEM: RS* and PS*, never HS*', async (t) => {
    const app = await build(t, { keys: [{ file: files.pem.rsa as string }] })
    for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as Alg[]) t.equal((await get(app, sign(keys.rsa, alg))).statusCode, 200, alg)
    denied(t, await get(app, sign(keys.hmac, 'HS256')), 'FJG_ERR_TOKEN_ALGORITHM', NOT_ALLOWED)
    denied(t, await get(app, sign(keys.ed25519, 'EdDSA')), 'FJG_ERR_TOKEN_ALGORITHM', NOT_ALLOWED)
  })
  t.test('an EC key: the one algorithm of its curve', async (t) => {
    const app = await build(t, { keys: [{ file: files.pem.p384 as string }] })
    t.equal((await get(app, sign(keys.p384, 'ES384'))).statusCode, 200)
    denied(t, await get(app, sign(keys.p256, 'ES256')), 'FJG_ERR_TOKEN_ALGORITHM', NOT_ALLOWED)
    denied(t, await get(app, sign(keys.p521, 'ES512')), 'FJG_ERR_TOKEN_ALGORITHM', NOT_ALLOWED)
  })
  t.test('a JWK with "alg": that algorithm only', async (t) => {
    const app = await build(t, { keys: [{ jwk: { ...jwkOf(keys.rsa), alg: 'PS384' } }] })
    t.equal((await get(app, sign(keys.rsa, 'PS384'))).statusCode, 200)
    for (const alg of ['RS256', 'PS256', 'PS512'] as Alg[]) denied(t, await get(app, sign(keys.rsa, alg)), 'FJG_ERR_TOKEN_ALGORITHM', NOT_ALLOWED)
  })
})

t.test('algorithms given: a narrower list is obeyed; an alg no key can verify is an options error', async (t) => {
  const app = await build(t, { keys: [{ file: files.jwks }], algorithms: ['RS256', 'EdDSA'] })
  t.equal((await get(app, sign(keys.rsa, 'RS256'))).statusCode, 200)
  t.equal((await get(app, sign(keys.ed25519, 'EdDSA'))).statusCode, 200)
  for (const [key, alg] of [[keys.rsa, 'PS256'], [keys.hmac, 'HS256'], [keys.p256, 'ES256']] as Array<[TestKey, Alg]>) {
    denied(t, await get(app, sign(key, alg)), 'FJG_ERR_TOKEN_ALGORITHM', 'The token algorithm is not allowed')
  }

  await refused(t, { secret: SECRET, algorithms: ['HS256', 'RS256'] }, 'algorithms: no key can verify RS256')
  await refused(t, { keys: [{ file: files.pem.p256 as string }], algorithms: ['ES384', 'ES512'] },
    'algorithms: no key can verify ES384; algorithms: no key can verify ES512')
  // The key's own "alg" counts: an RSA key pinned to RS256 cannot verify PS256.
  await refused(t, { keys: [{ jwk: { ...jwkOf(keys.rsa), alg: 'RS256' } }], algorithms: ['PS256'] }, 'algorithms: no key can verify PS256')
  // "none" is not an algorithm at all.
  await refused(t, { secret: SECRET, algorithms: ['HS256', 'none'] },
    'algorithms[1]: must be one of "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "ES256K", got "none"')
})

t.test('candidate keys per kid and alg: remembered per key set, bounded whatever kids tokens name', async (t) => {
  const { compilePolicy } = await import('../src/internal.js')
  // Two RSA keys with kids and one without: the kid-less one is every unknown kid's fallback.
  const kidless = { ...jwkOf(keys.rsa2) }
  delete kidless.kid
  const c = compilePolicy({ keys: [{ jwk: jwkOf(keys.rsa) }, { jwk: kidless }, { jwk: jwkOf(keys.p256) }] })
  const store = c.keyStore as NonNullable<typeof c.keyStore>
  const kids = (list: readonly { kid: string | null }[]): Array<string | null> => list.map((e) => e.kid)
  t.strictSame(kids(store.find('rsa-1', 'RS256')), ['rsa-1'], 'a known kid: its key')
  t.strictSame(kids(store.find(null, 'RS256')), ['rsa-1', null], 'no kid: every key of the alg')
  t.strictSame(kids(store.find('ec-256', 'RS256')), [null], 'a kid whose key has another alg: the kid-less keys')
  t.strictSame(kids(store.find('ec-256', 'ES256')), ['ec-256'])
  t.equal(store.find('rsa-1', 'RS256'), store.find('rsa-1', 'RS256'), 'the same list again, not a new one')
  t.ok(Object.isFrozen(store.find('rsa-1', 'RS256')), 'and nobody can change it')
  const forged = Array.from({ length: 1000 }, (_, i) => kids(store.find(`forged-${i}`, 'RS256')))
  t.ok(forged.every((k) => k.length === 1 && k[0] === null), 'an unknown kid: the kid-less keys')
  // 1000 unknown kids share one entry: what is remembered is bounded by the key set.
  const found = (store as unknown as { unbound: { found: Map<string, Map<unknown, unknown>> } }).unbound.found
  t.equal(found.get('RS256')?.size, 4, 'RS256: rsa-1, no kid, ec-256 and one entry for every unknown kid')
})
