// Issue 10, point 9: one rule for a key set from a file and from a URL, HMAC
// keys at least as long as their hash output (RFC 7518 §3.2), canonical
// base64url in every key member. Before the fix the same JWKS was refused from
// a file and loaded from a URL with bad keys skipped, and `"k": "invalid"`
// became a 5-byte HMAC key that verified tokens.
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import fc from 'fast-check'
import { jwkEntry, KeyError } from '../src/keys.js'
import { loggedApp, registerError } from './helpers/app.js'
import { jwksServer } from './helpers/jwks-server.js'
import { generateKeySet, sign } from './helpers/keys.js'

const keys = generateKeySet()
const issued: string[] = []

/** HS* over arbitrary key bytes, with a kid. */
function hmacToken (key: Buffer, kid: string, alg = 'HS256'): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${enc({ alg, typ: 'JWT', kid })}.${enc({ sub: 'forged', iat: now, exp: now + 300 })}`
  const tok = `${input}.${createHmac(`sha${alg.slice(2)}`, key).update(input).digest('base64url')}`
  issued.push(tok)
  return tok
}

const k32 = randomBytes(32)
const k48 = randomBytes(48)
const rsa = keys.rsa.jwk as Record<string, string>
// One document with every kind of bad key beside good ones.
const DOC = {
  keys: [
    { kty: 'oct', k: 'invalid', kid: 'five-bytes' }, // non-canonical (trailing bits) and 5 bytes
    { kty: 'oct', k: randomBytes(5).toString('base64url'), kid: 'short' },
    { kty: 'oct', k: k48.toString('base64url'), kid: 'hs512-short', alg: 'HS512' },
    { kty: 'oct', k: k32.toString('base64url'), kid: 'hs256' },
    { kty: 'oct', k: k48.toString('base64url'), kid: 'hs384' },
    { ...rsa, n: `${rsa.n}=`, kid: 'padded-n' },
    { ...rsa, e: 'AQAB=', kid: 'padded-e' },
    { ...rsa, n: rsa.n.replace(/-/g, '+').replace(/_/g, '/'), kid: 'std-alphabet' },
    { ...keys.p256.jwk, x: `${(keys.p256.jwk.x as string)}=`, kid: 'padded-x' },
    { ...keys.p256.jwk, kid: 'ec-256' },
    { ...keys.ed25519.jwk, kid: 'ed-1' },
    { ...rsa, kid: 'rsa-good' },
    { kty: 'oct', k: randomBytes(64).toString('base64url'), kid: 'hs512' }
  ]
}
const SKIPPED = [
  'keys[0]: "k" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)',
  'keys[1]: an HMAC key of 5 bytes is shorter than the 32-byte hash output of HS256 (RFC 7518 §3.2)',
  'keys[2]: an HMAC key of 48 bytes is shorter than the 64-byte hash output of HS512 (RFC 7518 §3.2)',
  'keys[5]: "n" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)',
  'keys[6]: "e" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)',
  'keys[7]: "n" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)',
  'keys[8]: "x" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)'
]

t.test('the same JWKS from a file and from a URL: the same keys, the same coded warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fjg-hygiene-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'set.jwks.json')
  writeFileSync(file, JSON.stringify(DOC))
  const srv = await jwksServer(t, { '/jwks.json': { json: DOC } })
  const algorithms = ['HS256', 'HS384', 'HS512', 'RS256', 'ES256', 'EdDSA'] as const
  for (const [name, source, where] of [['file', { file }, file], ['url', { jwks: srv.url('/jwks.json'), cooldown: 0 }, `jwks ${srv.url('/jwks.json')}`]] as const) {
    const { app, logs, status } = await loggedApp(t, { keys: [source], algorithms: [...algorithms] }, issued)
    const code = async (tok: string): Promise<number | string> => {
      const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${tok}` } })
      return res.statusCode === 200 ? 200 : res.json().code
    }
    t.same(status()[0]?.kids, ['hs256', 'hs384', 'ec-256', 'ed-1', 'rsa-good', 'hs512'], `${name}: the usable keys`)
    t.same(logs.filter((l) => l.msg === 'jwt: keys skipped in the key set').map((l) => l.jwks), [{ source: where, skipped: SKIPPED, code: 'FJG_WARN_KEY_SKIPPED' }], `${name}: one coded warning naming each key`)
    // The 5-byte "invalid" key verifies nothing, whichever spelling of its bytes.
    t.equal(await code(hmacToken(Buffer.from('invalid', 'base64url'), 'five-bytes')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', `${name}: "k": "invalid" is no key`)
    t.equal(await code(hmacToken(k32, 'hs256')), 200, `${name}: a 32-byte key verifies HS256`)
    t.equal(await code(hmacToken(k32, 'hs256', 'HS384')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', `${name}: a 32-byte key never verifies HS384`)
    t.equal(await code(hmacToken(k48, 'hs384', 'HS384')), 200, `${name}: a 48-byte key verifies HS384`)
    t.equal(await code(hmacToken(k48, 'hs384', 'HS512')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', `${name}: ...and not HS512`)
    t.equal(await code(hmacToken(k48, 'hs512-short', 'HS512')), 'FJG_ERR_TOKEN_KEY_UNKNOWN', `${name}: a key pinned to HS512 with 48 bytes is skipped`)
    const rsaTok = sign(keys.rsa, 'RS256', {}, { kid: 'padded-n' })
    issued.push(rsaTok)
    t.equal(await code(rsaTok), 'FJG_ERR_TOKEN_KEY_UNKNOWN', `${name}: a key with a padded "n" is no key`)
    const rsaGood = sign(keys.rsa, 'RS256', {}, { kid: 'rsa-good' })
    issued.push(rsaGood)
    t.equal(await code(rsaGood), 200, `${name}: the same modulus, canonical`)
    const ecTok = sign(keys.p256, 'ES256')
    issued.push(ecTok)
    t.equal(await code(ecTok), 200, `${name}: the good EC key`)
  }
})

t.test('a bad single key (inline jwk, one-key file) is refused at start, naming the member', async (t) => {
  const err = await registerError({ keys: [{ jwk: { kty: 'oct', k: 'invalid' } }] })
  t.equal(err.message, 'Invalid jwt policy: keys[0].jwk: "k" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)')
  const short = await registerError({ keys: [{ jwk: { kty: 'oct', k: randomBytes(31).toString('base64url') } }] })
  t.equal(short.message, 'Invalid jwt policy: keys[0].jwk: an HMAC key of 31 bytes is shorter than the 32-byte hash output of HS256 (RFC 7518 §3.2)')
  const padded = await registerError({ keys: [{ jwk: { ...keys.p256.jwk, y: `${keys.p256.jwk.y as string}=` } }] })
  t.equal(padded.message, 'Invalid jwt policy: keys[0].jwk: "y" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)')
})

t.test('a short "secret" loads with one coded warning (jwt_secret compatibility)', async (t) => {
  const warnings: Array<{ code?: string, message: string }> = []
  const onWarning = (w: Error & { code?: string }): void => { warnings.push({ code: w.code, message: w.message }) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  await loggedApp(t, { secret: 'too-short' }, issued)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings.filter((w) => w.code === 'FJG_WARN_HMAC_KEY_SHORT'), [{
    code: 'FJG_WARN_HMAC_KEY_SHORT',
    message: '"secret" is 9 bytes, shorter than the 32-byte hash output of HS256 (RFC 7518 §3.2): use at least 32 random bytes'
  }])
})

t.test('property: a JWK member loads only in its one canonical spelling', async (t) => {
  const bytes = fc.uint8Array({ minLength: 32, maxLength: 80 })
  fc.assert(fc.property(bytes, fc.integer({ min: 0, max: 3 }), (raw, how) => {
    const canonical = Buffer.from(raw).toString('base64url')
    const entry = jwkEntry({ kty: 'oct', k: canonical }, 'p')
    if (entry === null || !Buffer.from(canonical, 'base64url').equals(entry.material as Buffer)) return false
    let other: string
    if (how === 0) {
      other = `${canonical}=`
    } else if (how === 1) {
      other = Buffer.from(raw).toString('base64')
      if (other === canonical) return true // no "+", "/" or padding in this one
    } else if (how === 2) {
      // Set an unused low bit of the last character, when there is one.
      if (canonical.length % 4 === 0) return true
      const B = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      other = canonical.slice(0, -1) + (B[B.indexOf(canonical.slice(-1)) + 1] ?? 'A')
    } else {
      other = ` ${canonical}`
    }
    try {
      jwkEntry({ kty: 'oct', k: other }, 'p')
      return false
    } catch (err) {
      return err instanceof KeyError
    }
  }), { numRuns: Number(process.env.FUZZ_RUNS ?? 300) })
  t.pass('every non-canonical spelling refused')
})
