// Issue 2, point 3: the security defaults, each with its own test. Every case
// goes through a real Fastify app and asserts the exact 401 answer. Tokens
// that a signer would refuse to make are built by hand with node:crypto.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import { rmSync } from 'node:fs'
import jwtAuth, { type JwtPolicy } from '../src/index.js'
import { generateKeySet, rawToken, sign, writeKeyFiles, type Alg, type TestKey } from './helpers/keys.js'
import { denied, get } from './helpers/app.js'

/** The type of a subtest's `t` (tap does not export it under a short name). */
type T = Parameters<Parameters<typeof t.test>[0]>[0]

const keys = generateKeySet()
const files = writeKeyFiles(keys)
t.teardown(() => rmSync(files.dir, { recursive: true, force: true }))

const SECRET = 'Jc4nT8qWz2Lr6Yv0Hb5Xk9Mf3Ds7Pg1A'
const now = (): number => Math.floor(Date.now() / 1000)

const MALFORMED = 'FJG_ERR_TOKEN_MALFORMED'
const SIGNATURE = 'FJG_ERR_TOKEN_SIGNATURE'
const ALGORITHM = 'FJG_ERR_TOKEN_ALGORITHM'
const KEY_UNKNOWN = 'FJG_ERR_TOKEN_KEY_UNKNOWN'
// `denied` (helpers/app.ts) defaults the message for these codes and FJG_ERR_TOKEN_CRIT.

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

/** HS256 over the exact segments given (objects are JSON-encoded, strings taken as they are). */
function hs256 (header: unknown, payload: unknown, secret: string | Buffer = SECRET): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** HMAC over a signing input given as text (for hand-made segments). */
function hmacOver (input: string, secret: string | Buffer = SECRET): string {
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ sub: 'alice', exp: now() + 300, ...extra })

async function build (t: T, policy: JwtPolicy): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, policy)
  app.get('/', async (request) => ({ sub: request.jwt?.payload.sub ?? null, kid: request.jwt?.header.kid ?? null }))
  await app.ready()
  return app
}

const malformed = (why: string): string => `The token is malformed: ${why}`

t.test('"none" is never accepted, in any spelling, with an empty or a fake signature', async (t) => {
  const app = await build(t, { secret: SECRET })
  t.equal((await get(app, hs256({ alg: 'HS256' }, claims()))).statusCode, 200, 'the app accepts its own tokens')
  for (const alg of ['none', 'None', 'NONE', 'nOnE', ' none', 'none ']) {
    denied(t, await get(app, rawToken({ alg, typ: 'JWT' }, claims(), '')), ALGORITHM)
    denied(t, await get(app, rawToken({ alg }, claims(), 'ZmFrZQ')), ALGORITHM)
    // With a real HMAC over the input: still "none", still refused.
    denied(t, await get(app, hs256({ alg }, claims())), ALGORITHM)
  }
  // Not even when signatures are not checked at all.
  const unchecked = await build(t, { validateSig: false })
  denied(t, await get(unchecked, rawToken({ alg: 'none' }, claims(), '')), ALGORITHM)
})

t.test('an HMAC token is never checked against an asymmetric key (algorithm confusion)', async (t) => {
  const pem = keys.rsa.publicPem as string
  const der = createPublicKey(pem).export({ type: 'spki', format: 'der' })
  // Every spelling of the public key an attacker could use as the HMAC secret.
  const forged = (kid: string | null): string[] => [pem, pem.trim(), der, JSON.stringify(keys.rsa.jwk), keys.rsa.jwk.n as string]
    .map((secret) => hs256({ alg: 'HS256', ...(kid === null ? {} : { kid }) }, claims(), secret))

  t.test('RSA key only: HS256 is not even an allowed algorithm', async (t) => {
    for (const policy of [{ keys: [{ file: files.pem.rsa as string }] }, { keys: [{ jwk: keys.rsa.jwk }] }]) {
      const app = await build(t, policy)
      for (const token of forged(null).concat(forged(keys.rsa.kid))) denied(t, await get(app, token), ALGORITHM)
    }
  })
  t.test('RSA key beside an HMAC secret: HS tokens are checked against the secret only', async (t) => {
    const app = await build(t, { secret: SECRET, keys: [{ jwk: keys.rsa.jwk }, { file: files.pem.p256 as string }] })
    t.equal((await get(app, hs256({ alg: 'HS256' }, claims()))).statusCode, 200, 'a real HS256 token')
    for (const token of forged(null).concat(forged(keys.rsa.kid))) denied(t, await get(app, token), SIGNATURE)
  })
  t.test('a JWKS with kids: the RSA key\'s kid on an HS token finds no HMAC key', async (t) => {
    const app = await build(t, { keys: [{ file: files.jwks }] })
    for (const token of forged(keys.rsa.kid)) denied(t, await get(app, token), KEY_UNKNOWN)
  })
})

t.test('a JWK "alg" pins the key: a key with alg RS256 refuses a PS256 token from the same key', async (t) => {
  const pinned = { ...keys.rsa.jwk, alg: 'RS256' }
  let app = await build(t, { keys: [{ jwk: pinned }] })
  t.equal((await get(app, sign(keys.rsa, 'RS256'))).statusCode, 200)
  for (const alg of ['PS256', 'RS384', 'RS512', 'PS512'] as Alg[]) denied(t, await get(app, sign(keys.rsa, alg)), ALGORITHM)

  // PS256 allowed by another (unpinned) RSA key: the pinned key is still never used for it.
  app = await build(t, { keys: [{ jwk: pinned }, { jwk: keys.rsa2.jwk }] })
  t.equal((await get(app, sign(keys.rsa2, 'PS256'))).statusCode, 200, 'the unpinned key verifies PS256')
  denied(t, await get(app, sign(keys.rsa, 'PS256')), KEY_UNKNOWN) // kid rsa-1: its only key is pinned to RS256
  denied(t, await get(app, sign(keys.rsa, 'PS256', {}, { kid: null })), SIGNATURE) // no kid: only rsa2 may verify PS256
  t.equal((await get(app, sign(keys.rsa, 'RS256', {}, { kid: null }))).statusCode, 200, 'RS256 still verifies with the pinned key')
})

t.test('kid-strict key selection, with kid-less keys as the fallback', async (t) => {
  t.test('a kid selects only the keys with that kid', async (t) => {
    const app = await build(t, { keys: [{ jwk: keys.rsa.jwk }, { jwk: keys.rsa2.jwk }] })
    const ok = await get(app, sign(keys.rsa, 'RS256', {}, { kid: 'rsa-1' }))
    t.equal(ok.statusCode, 200)
    t.strictSame(ok.json(), { sub: null, kid: 'rsa-1' })
    t.equal((await get(app, sign(keys.rsa2, 'RS256', {}, { kid: 'rsa-2' }))).statusCode, 200)
    // Signed by A under B's kid, and the other way round: B (resp. A) alone is tried.
    denied(t, await get(app, sign(keys.rsa, 'RS256', {}, { kid: 'rsa-2' })), SIGNATURE)
    denied(t, await get(app, sign(keys.rsa2, 'RS256', {}, { kid: 'rsa-1' })), SIGNATURE)
    // A kid nobody has, and only kid'd keys: no key at all.
    denied(t, await get(app, sign(keys.rsa, 'RS256', {}, { kid: 'rsa-3' })), KEY_UNKNOWN)
    denied(t, await get(app, sign(keys.rsa, 'RS256', {}, { kid: '' })), KEY_UNKNOWN)
    // No kid: every key of the algorithm is a candidate.
    t.equal((await get(app, sign(keys.rsa2, 'RS256', {}, { kid: null }))).statusCode, 200)
  })
  t.test('a kid no key has falls back to the keys without a kid', async (t) => {
    // rsa as a PEM (no kid), rsa2 with kid rsa-2.
    const app = await build(t, { keys: [{ file: files.pem.rsa as string }, { jwk: keys.rsa2.jwk }] })
    const res = await get(app, sign(keys.rsa, 'RS256', {}, { kid: 'rotated-away' }))
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { sub: null, kid: 'rotated-away' })
    // rsa2 is not a fallback key: its token under an unknown kid is not checked against it.
    denied(t, await get(app, sign(keys.rsa2, 'RS256', {}, { kid: 'rotated-away' })), SIGNATURE)
    // A kid that exists selects its key only: the kid-less key is not tried then.
    denied(t, await get(app, sign(keys.rsa, 'RS256', {}, { kid: 'rsa-2' })), SIGNATURE)
  })
  t.test('a kid that is not a string is malformed', async (t) => {
    const app = await build(t, { secret: SECRET })
    for (const kid of [1, null, ['a'], { a: 1 }, true]) {
      denied(t, await get(app, hs256({ alg: 'HS256', kid }, claims())), MALFORMED, malformed('"kid" is not a string'))
    }
  })
})

t.test('an unknown "crit" entry makes the token invalid', async (t) => {
  const app = await build(t, { secret: SECRET, keys: [{ jwk: keys.p256.jwk }] })
  for (const header of [
    { alg: 'HS256', crit: ['x-ext'], 'x-ext': true },
    { alg: 'HS256', crit: ['b64'], b64: false }, // RFC 7797: not supported, so not understood
    { alg: 'HS256', crit: ['exp'], exp: now() + 60 },
    { alg: 'HS256', crit: [] },
    { alg: 'HS256', crit: 'x-ext' }
  ]) {
    denied(t, await get(app, hs256(header, claims())), 'FJG_ERR_TOKEN_CRIT')
  }
  denied(t, await get(app, sign(keys.p256, 'ES256', claims(), { header: { crit: ['x-ext'], 'x-ext': 1 } })), 'FJG_ERR_TOKEN_CRIT')
})

t.test('non-canonical base64url is malformed', async (t) => {
  const app = await build(t, { secret: SECRET })
  const NON_CANONICAL = malformed('not canonical base64url')

  // A payload whose segment has unused bits in its last character (length not 0 mod 4),
  // and a header segment likewise; the HMAC signature (32 bytes, 43 chars) always has 2.
  let payload = claims({ n: '' })
  while (b64(payload).length % 4 !== 2) payload = claims({ n: `${payload.n as string}x` })
  let header: Record<string, unknown> = { alg: 'HS256', x: '' }
  while (b64(header).length % 4 !== 3) header = { alg: 'HS256', x: `${header.x as string}y` }
  const good = hs256(header, payload)
  t.equal((await get(app, good)).statusCode, 200, 'the canonical token is accepted')
  const [h, p, s] = good.split('.') as [string, string, string]

  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  /** Sets unused low bits of the last character: same bytes, another spelling. */
  const setUnusedBits = (seg: string, bits: number): string => {
    const v = ALPHABET.indexOf(seg[seg.length - 1] as string)
    const spelled = seg.slice(0, -1) + ALPHABET[v | bits]
    t.strictSame(Buffer.from(spelled, 'base64url'), Buffer.from(seg, 'base64url'), 'decodes to the same bytes')
    t.not(spelled, seg)
    return spelled
  }

  t.test('trailing bits set', async (t) => {
    denied(t, await get(app, `${setUnusedBits(h, 0x01)}.${p}.${s}`), MALFORMED, NON_CANONICAL)
    denied(t, await get(app, `${h}.${setUnusedBits(p, 0x08)}.${s}`), MALFORMED, NON_CANONICAL)
    denied(t, await get(app, `${h}.${p}.${setUnusedBits(s, 0x02)}`), MALFORMED, NON_CANONICAL)
  })
  t.test('padding "="', async (t) => {
    denied(t, await get(app, `${h}=.${p}.${s}`), MALFORMED, NON_CANONICAL)
    denied(t, await get(app, `${h}.${p}==.${s}`), MALFORMED, NON_CANONICAL)
    denied(t, await get(app, `${h}.${p}.${s}=`), MALFORMED, NON_CANONICAL)
  })
  t.test('"+" and "/" (the base64 alphabet, not base64url)', async (t) => {
    // "???" and "~~~" encode to "Pz8_" and "fn5-": a segment with both characters.
    const token = hs256({ alg: 'HS256' }, claims({ q: '???~~~' }))
    t.equal((await get(app, token)).statusCode, 200)
    const [th, tp, ts] = token.split('.') as [string, string, string]
    t.match(tp, /-/)
    t.match(tp, /_/)
    const std = tp.replace(/-/g, '+').replace(/_/g, '/')
    denied(t, await get(app, `${th}.${std}.${ts}`), MALFORMED, NON_CANONICAL)
    // Re-signed over the standard-alphabet spelling: still not base64url.
    denied(t, await get(app, hmacOver(`${th}.${std}`)), MALFORMED, NON_CANONICAL)
  })
  t.test('a length of 1 mod 4 (no whole byte in the last character)', async (t) => {
    const h4 = b64({ alg: 'HS256', x: 'ab' }) // 36 characters: 0 mod 4
    t.equal(h4.length % 4, 0)
    denied(t, await get(app, hmacOver(`${h4}A.${p}`)), MALFORMED, NON_CANONICAL)
    denied(t, await get(app, `${h}.${p}.${s}AA`), MALFORMED, NON_CANONICAL) // 43 + 2 = 45
  })
  t.test('characters outside the alphabet', async (t) => {
    for (const bad of [`${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`, `${h}.${p.slice(0, 5)}\t${p.slice(5)}.${s}`, `${h}.${p}.${s.slice(0, -1)}é`, `${h}.${p}!.${s}`]) {
      denied(t, await get(app, bad), MALFORMED, NON_CANONICAL)
    }
  })
})

t.test('a token over the size cap is refused before decoding', async (t) => {
  /** A valid HS256 token of exactly `length` characters (a header field absorbs the rounding). */
  const tokenOfLength = (length: number): string => {
    const base = hs256({ alg: 'HS256' }, claims({ pad: '' })).length
    for (let pad = 0; pad < 4; pad++) {
      // Each 3 payload bytes are 4 characters: start just below the target.
      for (let n = Math.max(0, Math.floor((length - base) * 3 / 4) - 8); n < length; n++) {
        const token = hs256({ alg: 'HS256', x: 'y'.repeat(pad) }, claims({ pad: 'z'.repeat(n) }))
        if (token.length === length) return token
        if (token.length > length) break
      }
    }
    throw new Error(`no token of length ${length}`)
  }

  t.test('default: 16 KiB', async (t) => {
    const app = await build(t, { secret: SECRET })
    t.equal((await get(app, tokenOfLength(16384))).statusCode, 200, 'exactly 16384 characters')
    denied(t, await get(app, tokenOfLength(16385)), 'FJG_ERR_TOKEN_TOO_LARGE', 'The token is larger than 16384 bytes')
    // Not even a JWS: the size is checked first.
    denied(t, await get(app, 'x'.repeat(100_000)), 'FJG_ERR_TOKEN_TOO_LARGE', 'The token is larger than 16384 bytes')
  })
  t.test('maxTokenSize', async (t) => {
    const app = await build(t, { secret: SECRET, maxTokenSize: 1024 })
    t.equal((await get(app, tokenOfLength(1024))).statusCode, 200)
    denied(t, await get(app, tokenOfLength(1025)), 'FJG_ERR_TOKEN_TOO_LARGE', 'The token is larger than 1024 bytes')
    const big = await build(t, { secret: SECRET, maxTokenSize: 65536 })
    t.equal((await get(big, tokenOfLength(40_000))).statusCode, 200, 'a larger cap lets larger tokens in')
  })
})

t.test('jku, x5u, jwk and x5c in the header are never used', async (t) => {
  // The attacker's own key, published on a server the gateway can reach.
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'ec-256' }
  const evil: TestKey = { ...keys.p256, signingKey: attacker.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }
  let hits = 0
  const server = createServer((_req, res) => {
    hits++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [attackerJwk] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`
  const attackerCert = 'MIIBszCCAVmgAwIBAgIUY29uZnVzZWQtZGVwdXR5LXRlc3QwCgYIKoZIzj0EAwIw'

  const app = await build(t, { keys: [{ jwk: keys.p256.jwk }] })
  t.equal((await get(app, sign(keys.p256, 'ES256'))).statusCode, 200, 'the trusted key works')
  for (const header of [{ jwk: attackerJwk }, { jku: url }, { x5u: url }, { x5c: [attackerCert] }, { jku: url, jwk: attackerJwk, x5u: url, x5c: [attackerCert] }]) {
    const forged = sign(evil, 'ES256', claims(), { header })
    t.has(JSON.parse(Buffer.from(forged.slice(0, forged.indexOf('.')), 'base64url').toString()), header, 'the header carries the fields')
    // Under the trusted key's kid, and with none.
    denied(t, await get(app, forged), SIGNATURE)
    denied(t, await get(app, sign(evil, 'ES256', claims(), { kid: null, header })), SIGNATURE)
    // Under a kid of its own: nobody has it, and nothing is fetched to find it.
    denied(t, await get(app, sign(evil, 'ES256', claims(), { kid: 'attacker', header: { ...header, kid: 'attacker' } })), KEY_UNKNOWN)
  }
  t.equal(hits, 0, 'the jku/x5u server was never asked')
})

t.test('ECDSA: r or s zero, and signatures of the wrong length, are refused', async (t) => {
  const app = await build(t, { keys: [{ file: files.jwks }] })
  for (const [key, alg, size] of [[keys.p256, 'ES256', 32], [keys.p384, 'ES384', 48], [keys.p521, 'ES512', 66]] as Array<[TestKey, Alg, number]>) {
    const token = sign(key, alg, claims())
    t.equal((await get(app, token)).statusCode, 200, `${alg}: the real signature`)
    const [h, p, s] = token.split('.') as [string, string, string]
    const sig = Buffer.from(s, 'base64url')
    t.equal(sig.length, 2 * size)
    const r = sig.subarray(0, size)
    const sv = sig.subarray(size)
    const zero = Buffer.alloc(size)
    const one = Buffer.concat([Buffer.alloc(size - 1), Buffer.from([1])])
    const cases: Record<string, Buffer> = {
      'r = s = 0 (CVE-2022-21449)': Buffer.alloc(2 * size),
      'r = 0': Buffer.concat([zero, sv]),
      's = 0': Buffer.concat([r, zero]),
      'r = 0, s = 1': Buffer.concat([zero, one]),
      'one byte short': sig.subarray(0, 2 * size - 1),
      'one byte long': Buffer.concat([sig, Buffer.from([0])]),
      'r only': r,
      'DER instead of R || S': derOf(r, sv),
      'twice as long': Buffer.concat([sig, sig])
    }
    for (const [name, bytes] of Object.entries(cases)) {
      const res = await get(app, `${h}.${p}.${bytes.toString('base64url')}`)
      t.equal(res.statusCode, 401, `${alg}: ${name}`)
      denied(t, res, SIGNATURE)
    }
  }
})

/** ECDSA signature as DER SEQUENCE { INTEGER r, INTEGER s }, the form JWS does not use. */
function derOf (r: Buffer, s: Buffer): Buffer {
  const int = (b: Buffer): Buffer => {
    let i = 0
    while (i < b.length - 1 && b[i] === 0) i++
    let v = b.subarray(i)
    if ((v[0] as number) & 0x80) v = Buffer.concat([Buffer.from([0]), v])
    return Buffer.concat([Buffer.from([0x02, v.length]), v])
  }
  const body = Buffer.concat([int(r), int(s)])
  const len = body.length < 128 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length])
  return Buffer.concat([Buffer.from([0x30]), len, body])
}

t.test('malformed tokens: 401 with a stable code, never a 5xx', async (t) => {
  const app = await build(t, { secret: SECRET })
  const ok = hs256({ alg: 'HS256' }, claims())
  const [h, p, s] = ok.split('.') as [string, string, string]
  const THREE = malformed('a JWS has three parts')
  const NOT_OBJECT = malformed('the payload is not a JSON object')

  const cases: Array<[string, string, string, string?]> = [
    ['1 part', h, MALFORMED, THREE],
    ['2 parts', `${h}.${p}`, MALFORMED, THREE],
    ['2 parts and a dot', `${h}.${p}.`, SIGNATURE],
    ['4 parts', `${h}.${p}.${s}.${s}`, MALFORMED, THREE],
    ['5 parts (a JWE)', `${h}.${p}.${p}.${p}.${s}`, MALFORMED, THREE],
    ['empty header', `.${p}.${s}`, MALFORMED, THREE],
    ['empty payload', `${h}..${s}`, MALFORMED, malformed('the payload is empty')],
    ['only dots', '..', MALFORMED, THREE],
    ['empty signature', `${h}.${p}.`, SIGNATURE],
    ['bad base64url in the header', `${h.slice(0, 4)}*${h.slice(5)}.${p}.${s}`, MALFORMED, malformed('not canonical base64url')],
    ['bad base64url in the signature', `${h}.${p}.${s.slice(0, -2)}%%`, MALFORMED, malformed('not canonical base64url')],
    ['header not JSON', hs256('{alg:HS256}', claims()), MALFORMED, malformed('the header is not JSON')],
    ['header not UTF-8 JSON', hmacOver(`${Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')}.${p}`), MALFORMED, malformed('the header is not JSON')],
    ['header a JSON array', hs256([{ alg: 'HS256' }], claims()), MALFORMED, malformed('the header is not a JSON object')],
    ['header a JSON number', hs256(42, claims()), MALFORMED, malformed('the header is not a JSON object')],
    ['header a JSON string', hs256('"HS256"', claims()), MALFORMED, malformed('the header is not a JSON object')],
    ['header JSON null', hs256('null', claims()), MALFORMED, malformed('the header is not a JSON object')],
    ['header without alg', hs256({ typ: 'JWT' }, claims()), ALGORITHM],
    ['alg not a string', hs256({ alg: ['HS256'] }, claims()), ALGORITHM],
    ['alg in lower case', hs256({ alg: 'hs256' }, claims()), ALGORITHM],
    ['alg not allowed', hs256({ alg: 'RS256' }, claims()), ALGORITHM],
    ['payload not JSON (signed)', hs256({ alg: 'HS256' }, 'sub=alice'), MALFORMED, NOT_OBJECT],
    ['payload a JSON array (signed)', hs256({ alg: 'HS256' }, [claims()]), MALFORMED, NOT_OBJECT],
    ['payload a JSON number (signed)', hs256({ alg: 'HS256' }, 42), MALFORMED, NOT_OBJECT],
    ['payload a JSON string (signed)', hs256({ alg: 'HS256' }, '"alice"'), MALFORMED, NOT_OBJECT],
    ['payload JSON null (signed)', hs256({ alg: 'HS256' }, 'null'), MALFORMED, NOT_OBJECT],
    ['payload not JSON (unsigned)', `${h}.${b64('garbage')}.${s}`, MALFORMED, NOT_OBJECT],
    ['payload changed', `${h}.${b64(claims({ sub: 'mallory' }))}.${s}`, SIGNATURE],
    ['signature of another secret', hs256({ alg: 'HS256' }, claims(), 'another-secret'), SIGNATURE],
    ['signature truncated', `${h}.${p}.${s.slice(0, 40)}`, SIGNATURE],
    ['exp not a number', hs256({ alg: 'HS256' }, claims({ exp: 'tomorrow' })), 'FJG_ERR_TOKEN_CLAIM_TYPE', 'The token claim exp has an invalid type']
  ]
  for (const [name, token, code, message] of cases) {
    t.test(name, async (t) => denied(t, await get(app, token), code, message))
  }

  t.test('300 random mutations of a valid token: all 401, none 5xx', async (t) => {
    // A fixed-seed generator: a failure can be replayed.
    let seed = 0x2545f491
    const rand = (n: number): number => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}"'
    const statuses = new Map<number, number>()
    for (let i = 0; i < 300; i++) {
      let token = ok
      const op = rand(3)
      const at = rand(token.length)
      if (op === 0) token = token.slice(0, at) + chars[rand(chars.length)] + token.slice(at + 1)
      else if (op === 1) token = token.slice(0, at) + chars[rand(chars.length)] + token.slice(at)
      else token = token.slice(0, at) + token.slice(at + 1)
      if (token === ok) continue
      const res = await get(app, token)
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode !== 401) t.fail(`mutation ${i} answered ${res.statusCode}: ${token}`)
    }
    t.strictSame([...statuses.keys()], [401], 'only 401s')
  })
})
