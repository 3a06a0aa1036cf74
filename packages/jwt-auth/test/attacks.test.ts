// The attack catalogue (issue 7; SECURITY.md lists every case with its test name).
// Tokens are built here with node:crypto, not with fast-jwt's signer: the
// signer refuses half of these shapes, and the verifier under test must not
// share code with the tool that forges its inputs.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify'
import fs, { mkdtempSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { createHmac, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as verifySig, constants } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { jwtAuth, compilePolicy, createHook, type JwtPolicy } from '../src/internal.js'
import { headerValue } from '../src/claims.js'
import { generateKeySet, type Alg, type TestKey } from './helpers/keys.js'

const keys = generateKeySet()
const attacker = keys.rsa2
const dir = mkdtempSync(join(tmpdir(), 'fjg-attacks-'))
// The trusted key set: every key of the set but rsa2, each with a kid.
const jwksFile = join(dir, 'trusted.jwks.json')
writeFileSync(jwksFile, JSON.stringify({ keys: [keys.rsa.jwk, keys.p256.jwk, keys.p384.jwk, keys.p521.jwk, keys.ed25519.jwk, keys.hmac.jwk] }))
const rsaPemFile = join(dir, 'rsa.pem')
writeFileSync(rsaPemFile, keys.rsa.publicPem as string)
// The attacker's public key, on disk: a kid naming this file must not load it.
const attackerPemFile = join(dir, 'attacker.pem')
writeFileSync(attackerPemFile, attacker.publicPem as string)
const SECRET = (keys.hmac.signingKey as Buffer).toString('utf8')

// ---------------------------------------------------------------- token forge

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ sub: 'user-1', exp: now() + 300, ...extra })

/** Raw signature bytes of `input` for `alg`; `secret` overrides the HMAC key. */
function signature (alg: Alg, input: string, key: TestKey, secret?: string | Buffer): Buffer {
  const bits = alg === 'EdDSA' ? '' : alg.slice(2)
  if (alg.startsWith('HS')) return createHmac(`sha${bits}`, secret ?? key.signingKey).update(input).digest()
  const data = Buffer.from(input)
  if (alg === 'EdDSA') return cryptoSign(null, data, key.privateKey!)
  if (alg.startsWith('ES')) return cryptoSign(`sha${bits}`, data, { key: key.privateKey!, dsaEncoding: 'ieee-p1363' })
  if (alg.startsWith('PS')) {
    return cryptoSign(`sha${bits}`, data, { key: key.privateKey!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
  }
  return cryptoSign(`sha${bits}`, data, key.privateKey!)
}

interface Forge { secret?: string | Buffer, sig?: (s: Buffer) => Buffer }
/** A JWS over `header` and `payload` (objects, or raw JSON text used as is). */
function jws (alg: Alg, header: unknown, payload: unknown, key: TestKey, f: Forge = {}): string {
  const input = `${b64(header)}.${b64(payload)}`
  const sig = signature(alg, input, key, f.secret)
  return `${input}.${(f.sig ? f.sig(sig) : sig).toString('base64url')}`
}
const hs256 = (header: unknown, payload: unknown = claims()): string => jws('HS256', header, payload, keys.hmac)

// ------------------------------------------------------------------- harness

const tokensSent = new Set<string>()
const logLines: string[] = []

const warnings: Array<{ code?: string, message: string }> = []
process.on('warning', (w: Error & { code?: string }) => { warnings.push({ code: w.code, message: w.message }) })

/**
 * The request serializer SECURITY.md recommends with a "query:" token source:
 * Fastify logs `req.url` on every request, before any hook runs.
 */
const reqWithoutQuery = (req: { method: string, url: string }): Record<string, string> => {
  const q = req.url.indexOf('?')
  return { method: req.method, url: q === -1 ? req.url : req.url.slice(0, q) }
}

interface AppOpts { server?: FastifyServerOptions }
async function build (tt: Test, policy: JwtPolicy, opts: AppOpts = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...opts.server,
    logger: { level: 'info', serializers: { req: reqWithoutQuery as any }, stream: { write: (line: string) => { logLines.push(line) } } }
  })
  await app.register(jwtAuth, policy)
  app.get('/', (req) => {
    const forwarded: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-')) forwarded[k] = v
    return { sub: req.jwt?.payload.sub ?? null, authorization: req.headers.authorization ?? null, forwarded }
  })
  tt.teardown(() => app.close())
  return app
}

function get (app: FastifyInstance, token: string, where: 'bearer' | 'cookie' | 'query' = 'bearer', extra: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  tokensSent.add(token)
  if (where === 'cookie') return app.inject({ url: '/', headers: { cookie: `jwt=${token}`, ...extra } })
  if (where === 'query') return app.inject({ url: '/', query: { jwt: token }, headers: extra })
  return app.inject({ url: '/', headers: { authorization: `Bearer ${token}`, ...extra } })
}

/** A test name in plain ASCII: TAP lines must not carry U+2028 or control characters. */
const show = (v: unknown): string => String(JSON.stringify(v)).replace(/[^\x20-\x7e]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden' }
/** Exact status, code, body shape and challenge. */
function denied (tt: Test, res: LightMyRequestResponse, status: 401 | 403, code: string, label = ''): void {
  const body = res.json()
  tt.same({ status: res.statusCode, code: body.code }, { status, code }, `${label} → ${status} ${code}`)
  tt.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${label}: Fastify's error shape`)
  tt.equal(body.error, STATUS_TEXT[status], `${label}: error text`)
  const challenge = res.headers['www-authenticate'] as string
  if (code === 'FJG_ERR_TOKEN_MISSING') tt.equal(challenge, 'Bearer realm="api"', `${label}: challenge`)
  else tt.ok(String(challenge).startsWith(`Bearer realm="api", error="${status === 403 ? 'insufficient_scope' : 'invalid_token'}", error_description="`), `${label}: challenge`)
}

function granted (tt: Test, res: LightMyRequestResponse, sub: string, label = ''): Record<string, any> {
  tt.same({ status: res.statusCode, sub: res.statusCode === 200 ? res.json().sub : res.json().code }, { status: 200, sub }, `${label} → 200 as ${sub}`)
  return res.json()
}

// ======================================================================= alg none

t.test('alg none in every spelling → 401 FJG_ERR_TOKEN_ALGORITHM', async (t) => {
  const policies: Array<[string, JwtPolicy]> = [
    ['secret', { secret: SECRET }],
    ['key file', { keys: [{ file: jwksFile }] }],
    ['validateSig false', { validateSig: false }]
  ]
  const spellings: unknown[] = ['none', 'None', 'NONE', 'nOnE', 'noNe', ' none', 'none ', 'none\u0000', 'n\u043ene', '', null, 0, false, [], {}, ['none'], ['HS256']]
  for (const [name, policy] of policies) {
    const app = await build(t, policy)
    for (const alg of [...spellings, undefined]) {
      const header = alg === undefined ? { typ: 'JWT' } : { alg, typ: 'JWT' }
      for (const sig of ['', 'c2ln', signature('HS256', `${b64(header)}.${b64(claims())}`, keys.hmac).toString('base64url')]) {
        const token = `${b64(header)}.${b64(claims())}.${sig}`
        denied(t, await get(app, token), 401, 'FJG_ERR_TOKEN_ALGORITHM', `${name}: alg ${show(alg)}, sig ${sig.length} chars`)
      }
    }
  }
  // Two parts only: not even a JWS.
  const app = await build(t, { secret: SECRET })
  denied(t, await get(app, `${b64({ alg: 'none' })}.${b64(claims())}`), 401, 'FJG_ERR_TOKEN_MALFORMED', 'unsecured JWT without the last dot')
  await t.rejects(build(t, { secret: SECRET, algorithms: ['none' as Alg] }), { code: 'FJG_ERR_OPTION_INVALID' }, '"none" in algorithms is refused at registration')
})

// ==================================================================== confusion

t.test('HS/RS and HS/ES confusion: the public key as the HMAC secret → 401', async (t) => {
  for (const victim of [keys.rsa, keys.p256, keys.ed25519]) {
    const pem = victim.publicPem as string
    const secrets: Array<[string, string]> = [
      ['PEM', pem],
      ['PEM without the final newline', pem.trimEnd()],
      ['JWK JSON', JSON.stringify(victim.jwk)],
      ['JWK JSON without kid', JSON.stringify({ ...victim.jwk, kid: undefined })]
    ]
    // The victim's key alone, as a PEM file: HS* is not derived from it.
    const pemFile = join(dir, `${victim.name}.victim.pem`)
    writeFileSync(pemFile, pem)
    const alone = await build(t, { keys: [{ file: pemFile }] })
    // Every key with kids (the HMAC key among them): HS* is allowed by the set.
    const mixed = await build(t, { keys: [{ file: jwksFile }] })
    // A secret and the victim key, HS256 listed explicitly.
    const listed = await build(t, { secret: SECRET, keys: [{ file: pemFile }], algorithms: ['HS256', victim === keys.rsa ? 'RS256' : victim === keys.p256 ? 'ES256' : 'EdDSA'] })
    for (const [what, secret] of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
        const noKid = jws(alg, { alg, typ: 'JWT' }, claims(), victim, { secret })
        const withKid = jws(alg, { alg, typ: 'JWT', kid: victim.kid }, claims(), victim, { secret })
        denied(t, await get(alone, noKid), 401, 'FJG_ERR_TOKEN_ALGORITHM', `${victim.name} ${what}, ${alg}, key alone`)
        denied(t, await get(mixed, withKid), 401, 'FJG_ERR_TOKEN_KEY_UNKNOWN', `${victim.name} ${what}, ${alg}, kid of the victim in a JWKS`)
        denied(t, await get(mixed, noKid), 401, 'FJG_ERR_TOKEN_SIGNATURE', `${victim.name} ${what}, ${alg}, no kid, JWKS`)
        if (alg === 'HS256') {
          denied(t, await get(listed, noKid), 401, 'FJG_ERR_TOKEN_SIGNATURE', `${victim.name} ${what}, HS256 listed beside the key`)
          denied(t, await get(listed, withKid), 401, 'FJG_ERR_TOKEN_SIGNATURE', `${victim.name} ${what}, HS256 listed, victim kid → kid-less secret only`)
        }
      }
    }
  }
  await t.rejects(build(t, { keys: [{ file: rsaPemFile }], algorithms: ['HS256'] }), { code: 'FJG_ERR_OPTION_INVALID', message: /no key can verify HS256/ },
    'HS256 with only an RSA key is refused at registration')
  // Control: the same apps accept a genuine token, so the 401s above are the attack being refused.
  const app = await build(t, { keys: [{ file: jwksFile }] })
  granted(t, await get(app, jws('RS256', { alg: 'RS256', kid: 'rsa-1' }, claims(), keys.rsa)), 'user-1', 'control: genuine RS256')
})

// ========================================================================== kid

t.test('kid path traversal and SQL-looking kids are unknown kids, with no file access', async (t) => {
  const app = await build(t, { keys: [{ file: jwksFile }] })
  const kids = [
    '../../etc/passwd', '/etc/passwd', '../../../../../../../../dev/null', '..\\..\\windows\\win.ini',
    attackerPemFile, relative(process.cwd(), attackerPemFile), `file://${attackerPemFile}`, '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    "' OR '1'='1", '1; DROP TABLE keys;--', "\" UNION SELECT 'secret' --", "rsa-1' --", 'rsa-1\u0000', 'RSA-1', 'rsa-1 ',
    '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'x'.repeat(4000)
  ]
  const patched = ['readFileSync', 'readFile', 'openSync', 'open', 'existsSync', 'statSync', 'stat', 'createReadStream', 'accessSync'] as const
  const promises = ['readFile', 'open', 'stat', 'access'] as const
  const calls: string[] = []
  const saved = new Map<string, unknown>()
  const fsAny = fs as unknown as Record<string, (...a: unknown[]) => unknown>
  const fspAny = fs.promises as unknown as Record<string, (...a: unknown[]) => unknown>
  for (const name of patched) {
    const orig = fsAny[name] as (...a: unknown[]) => unknown
    saved.set(name, orig)
    fsAny[name] = function (this: unknown, ...a: unknown[]) { calls.push(`${name} ${String(a[0])}`); return orig.apply(this, a) }
  }
  for (const name of promises) {
    const orig = fspAny[name] as (...a: unknown[]) => unknown
    saved.set(`p.${name}`, orig)
    fspAny[name] = function (this: unknown, ...a: unknown[]) { calls.push(`promises.${name} ${String(a[0])}`); return orig.apply(this, a) }
  }
  try {
    for (const kid of kids) {
      // Signed by the attacker, whose public key sits in a file the kid may name.
      denied(t, await get(app, jws('RS256', { alg: 'RS256', kid }, claims(), attacker)), 401, 'FJG_ERR_TOKEN_KEY_UNKNOWN', `kid ${show(kid.slice(0, 60))}`)
      // Signed with the trusted key: still unknown (a kid is matched exactly).
      denied(t, await get(app, jws('RS256', { alg: 'RS256', kid }, claims(), keys.rsa)), 401, 'FJG_ERR_TOKEN_KEY_UNKNOWN', `kid ${show(kid.slice(0, 60))}, trusted signer`)
    }
  } finally {
    for (const name of patched) fsAny[name] = saved.get(name) as (...a: unknown[]) => unknown
    for (const name of promises) fspAny[name] = saved.get(`p.${name}`) as (...a: unknown[]) => unknown
  }
  t.same(calls, [], 'no file was touched while verifying')
  for (const kid of [1, null, true, ['rsa-1'], { $ne: null }]) {
    denied(t, await get(app, jws('RS256', { alg: 'RS256', kid }, claims(), keys.rsa)), 401, 'FJG_ERR_TOKEN_MALFORMED', `kid ${JSON.stringify(kid)} (not a string)`)
  }
  granted(t, await get(app, jws('RS256', { alg: 'RS256', kid: 'rsa-1' }, claims(), keys.rsa)), 'user-1', 'control: kid rsa-1')
})

// ======================================================== jku / x5u / jwk / x5c

t.test('jku, x5u, jwk and x5c headers are never used to find a key', async (t) => {
  let hits = 0
  const server = http.createServer((_req, res) => {
    hits++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [{ ...attacker.jwk, kid: 'rsa-1' }] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/jwks.json`
  // x5c holds base64 DER; the attacker's SPKI stands in for a certificate (it is never parsed).
  const der = Buffer.from((attacker.publicPem as string).replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64')
  const app = await build(t, { keys: [{ file: jwksFile }] })
  const headers: Array<[string, Record<string, unknown>, string]> = [
    ['jku, victim kid', { jku: url, kid: 'rsa-1' }, 'FJG_ERR_TOKEN_SIGNATURE'],
    ['jku, attacker kid', { jku: url, kid: 'attacker' }, 'FJG_ERR_TOKEN_KEY_UNKNOWN'],
    ['jku, no kid', { jku: url }, 'FJG_ERR_TOKEN_SIGNATURE'],
    ['x5u', { x5u: url, kid: 'rsa-1' }, 'FJG_ERR_TOKEN_SIGNATURE'],
    ['embedded jwk', { jwk: attacker.jwk }, 'FJG_ERR_TOKEN_SIGNATURE'],
    ['embedded jwk with the victim kid', { jwk: { ...attacker.jwk, kid: 'rsa-1' }, kid: 'rsa-1' }, 'FJG_ERR_TOKEN_SIGNATURE'],
    ['embedded jwk, attacker kid', { jwk: attacker.jwk, kid: attacker.kid }, 'FJG_ERR_TOKEN_KEY_UNKNOWN'],
    ['x5c', { x5c: [der], kid: 'rsa-1' }, 'FJG_ERR_TOKEN_SIGNATURE'],
    ['all four', { jku: url, x5u: url, jwk: attacker.jwk, x5c: [der] }, 'FJG_ERR_TOKEN_SIGNATURE']
  ]
  for (const [what, extra, code] of headers) {
    denied(t, await get(app, jws('RS256', { alg: 'RS256', ...extra }, claims(), attacker)), 401, code, what)
  }
  // A genuine token that carries a jku is fine: the header is ignored, not obeyed.
  granted(t, await get(app, jws('RS256', { alg: 'RS256', kid: 'rsa-1', jku: url }, claims(), keys.rsa)), 'user-1', 'genuine token with a jku')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(hits, 0, 'the attacker URL was never fetched')
})

// ========================================================================= crit

t.test('unknown crit → 401 FJG_ERR_TOKEN_CRIT', async (t) => {
  const app = await build(t, { secret: SECRET })
  const cases: Array<Record<string, unknown>> = [
    { crit: ['exp'], exp: 1 }, { crit: ['b64'], b64: false }, { crit: ['x-ext'], 'x-ext': 1 }, { crit: ['x-ext'] },
    { crit: [] }, { crit: 'b64' }, { crit: null }, { crit: [1] }, { crit: {} }, { crit: ['alg'] }
  ]
  for (const extra of cases) {
    denied(t, await get(app, hs256({ alg: 'HS256', typ: 'JWT', ...extra })), 401, 'FJG_ERR_TOKEN_CRIT', JSON.stringify(extra))
  }
  granted(t, await get(app, hs256({ alg: 'HS256', typ: 'JWT', 'x-ext': 1 })), 'user-1', 'control: an unknown non-critical header is ignored')
})

// ======================================================================== ECDSA

// Curve orders n (SEC 2 / FIPS 186-4). The malleability control below only passes if they are right.
const ORDER: Record<'ES256' | 'ES384' | 'ES512', bigint> = {
  ES256: BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551'),
  ES384: BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973'),
  ES512: BigInt('0x01FF' + 'F'.repeat(63) + 'A' + '51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409')
}
const SIZE = { ES256: 32, ES384: 48, ES512: 66 } as const
const toBytes = (n: bigint, size: number): Buffer => Buffer.from(n.toString(16).padStart(size * 2, '0'), 'hex')
const toBig = (b: Buffer): bigint => BigInt('0x' + (b.toString('hex') || '0'))

t.test('ECDSA zero, out-of-range and wrong-length signatures → 401 FJG_ERR_TOKEN_SIGNATURE', async (t) => {
  const app = await build(t, { keys: [{ file: jwksFile }] })
  for (const [alg, key] of [['ES256', keys.p256], ['ES384', keys.p384], ['ES512', keys.p521]] as const) {
    const size = SIZE[alg]
    const n = ORDER[alg]
    const header = { alg, kid: key.kid }
    const forge = (f: (r: Buffer, s: Buffer) => Buffer) => jws(alg, header, claims(), key, { sig: (sig) => f(sig.subarray(0, size), sig.subarray(size)) })
    const cases: Array<[string, string]> = [
      ['r = s = 0', forge(() => Buffer.alloc(2 * size))],
      ['r = 0', forge((_r, s) => Buffer.concat([Buffer.alloc(size), s]))],
      ['s = 0', forge((r) => Buffer.concat([r, Buffer.alloc(size)]))],
      ['r = n', forge((_r, s) => Buffer.concat([toBytes(n, size), s]))],
      ['s = n', forge((r) => Buffer.concat([r, toBytes(n, size)]))],
      ['r = all ones', forge((_r, s) => Buffer.concat([Buffer.alloc(size, 0xff), s]))],
      ['s = all ones', forge((r) => Buffer.concat([r, Buffer.alloc(size, 0xff)]))],
      ['r = 1, s = 1', forge(() => Buffer.concat([toBytes(1n, size), toBytes(1n, size)]))],
      ['one byte short', forge((r, s) => Buffer.concat([r, s]).subarray(1))],
      ['one byte long', forge((r, s) => Buffer.concat([Buffer.alloc(1), r, s]))],
      ['DER instead of R||S', jws(alg, header, claims(), key, {
        sig: () => cryptoSign(`sha${alg.slice(2)}`, Buffer.from('x'), { key: key.privateKey!, dsaEncoding: 'der' })
      })],
      ['signed by another key of the curve', jws(alg, header, claims(), { ...key, privateKey: generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : alg === 'ES384' ? 'P-384' : 'P-521' }).privateKey })]
    ]
    for (const [what, token] of cases) denied(t, await get(app, token), 401, 'FJG_ERR_TOKEN_SIGNATURE', `${alg} ${what}`)
    // Documented, not an attack: ECDSA is malleable, (r, n - s) is a second valid
    // signature of the same claims. Nothing here keys on the token's spelling
    // but the cache, which stores the claims the signature covers.
    const highS = forge((r, s) => Buffer.concat([r, toBytes(n - toBig(s), size)]))
    granted(t, await get(app, highS), 'user-1', `${alg} (r, n - s) verifies (ECDSA malleability, documented)`)
  }
})

t.test('Ed25519 zero, non-canonical and wrong-length signatures → 401 FJG_ERR_TOKEN_SIGNATURE', async (t) => {
  const app = await build(t, { keys: [{ file: jwksFile }] })
  // RFC 8032 §5.1.7: S must be below the group order L; S + L is the same point
  // arithmetic, so a verifier that skips the check accepts a second signature.
  const L = 2n ** 252n + 27742317777372353535851937790883648493n
  const le = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse()
  const header = { alg: 'EdDSA', kid: keys.ed25519.kid }
  const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])
  const cases: Array<[string, (s: Buffer) => Buffer]> = [
    ['all zero', () => Buffer.alloc(64)],
    ['R = identity, S = 0', () => Buffer.concat([identity, Buffer.alloc(32)])],
    ['S + L', (sig) => Buffer.concat([sig.subarray(0, 32), le(BigInt('0x' + Buffer.from(sig.subarray(32)).reverse().toString('hex')) + L)])],
    ['S = L', (sig) => Buffer.concat([sig.subarray(0, 32), le(L)])],
    ['63 bytes', (sig) => sig.subarray(1)],
    ['65 bytes', (sig) => Buffer.concat([sig, Buffer.alloc(1)])]
  ]
  for (const [what, f] of cases) denied(t, await get(app, jws('EdDSA', header, claims(), keys.ed25519, { sig: f })), 401, 'FJG_ERR_TOKEN_SIGNATURE', `EdDSA ${what}`)
  granted(t, await get(app, jws('EdDSA', header, claims(), keys.ed25519)), 'user-1', 'control: EdDSA')
})

// ========================================================================== RSA

t.test('RSA signatures of the wrong length → 401 FJG_ERR_TOKEN_SIGNATURE', async (t) => {
  const app = await build(t, { keys: [{ file: jwksFile }] })
  const modulus = Buffer.from(keys.rsa.jwk.n as string, 'base64url')
  for (const alg of ['RS256', 'PS256', 'RS512', 'PS512'] as const) {
    const header = { alg, kid: 'rsa-1' }
    const cases: Array<[string, (s: Buffer) => Buffer]> = [
      ['first byte dropped', (s) => s.subarray(1)],
      ['last byte dropped', (s) => s.subarray(0, -1)],
      ['leading zero added', (s) => Buffer.concat([Buffer.alloc(1), s])],
      ['trailing zero added', (s) => Buffer.concat([s, Buffer.alloc(1)])],
      ['half', (s) => s.subarray(0, s.length / 2)],
      ['doubled', (s) => Buffer.concat([s, s])],
      ['one byte', () => Buffer.alloc(1)],
      ['all zero, right length', (s) => Buffer.alloc(s.length)],
      ['the modulus itself', () => modulus],
      ['all ones, right length', (s) => Buffer.alloc(s.length, 0xff)]
    ]
    for (const [what, f] of cases) denied(t, await get(app, jws(alg, header, claims(), keys.rsa, { sig: f })), 401, 'FJG_ERR_TOKEN_SIGNATURE', `${alg} ${what}`)
    denied(t, await get(app, `${b64(header)}.${b64(claims())}.`), 401, 'FJG_ERR_TOKEN_SIGNATURE', `${alg} empty signature`)
    granted(t, await get(app, jws(alg, header, claims(), keys.rsa)), 'user-1', `control: ${alg}`)
  }
})

t.test('an RSA signature with its leading zero byte dropped → 401 (OpenSSL 3 accepts it for PSS)', async (t) => {
  const app = await build(t, { keys: [{ file: jwksFile }] })
  for (const alg of ['PS256', 'RS256'] as const) {
    // About one signature in 256 starts with a zero byte: sign until one does.
    let token = ''
    let sig = Buffer.alloc(1, 1)
    for (let i = 0; i < 5000 && sig[0] !== 0; i++) {
      token = jws(alg, { alg, kid: 'rsa-1' }, claims({ jti: String(i) }), keys.rsa)
      sig = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')
    }
    t.equal(sig[0], 0, `${alg}: found a signature with a leading zero byte`)
    granted(t, await get(app, token), 'user-1', `${alg}: control, the full-length signature`)
    const input = token.slice(0, token.lastIndexOf('.'))
    const short = `${input}.${sig.subarray(1).toString('base64url')}`
    const platform = verifySig(`sha${alg.slice(2)}`, Buffer.from(input), alg === 'PS256'
      ? { key: createPublicKey(keys.rsa.publicPem as string), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : createPublicKey(keys.rsa.publicPem as string), sig.subarray(1))
    t.comment(`${alg}: node:crypto (OpenSSL ${process.versions.openssl}) ${platform ? 'accepts' : 'refuses'} the 255-byte signature`)
    denied(t, await get(app, short), 401, 'FJG_ERR_TOKEN_SIGNATURE', `${alg}: leading zero dropped`)
  }
})

// ============================================================ base64url spelling

t.test('non-canonical base64url → 401 FJG_ERR_TOKEN_MALFORMED', async (t) => {
  const app = await build(t, { secret: SECRET })
  // Find a genuine token whose signature holds '-' or '_' (most do), to respell them.
  let good = ''
  for (let i = 0; !/[-_]/.test(good.slice(good.lastIndexOf('.') + 1)); i++) good = hs256({ alg: 'HS256' }, claims({ jti: String(i) }))
  granted(t, await get(app, good), 'user-1', 'control: the genuine token')
  const [h, p, s] = good.split('.') as [string, string, string]
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  // HS256: 32 bytes = 43 characters, the last one carries 2 unused bits.
  const lastBits = s.slice(0, -1) + B64[B64.indexOf(s[s.length - 1] as string) | 1]
  t.same(Buffer.from(lastBits, 'base64url'), Buffer.from(s, 'base64url'), 'the respelled signature decodes to the same bytes')
  // A header whose base64url length leaves unused bits in its last character.
  let hdr = { alg: 'HS256', typ: 'JWT', x: '' }
  while (b64(hdr).length % 4 === 0) hdr = { ...hdr, x: hdr.x + 'a' }
  const hTok = hs256(hdr).split('.') as [string, string, string]
  const hLast = hTok[0].slice(0, -1) + B64[B64.indexOf(hTok[0][hTok[0].length - 1] as string) | 1]
  const cases: Array<[string, string]> = [
    ['unused bits set in the signature', `${h}.${p}.${lastBits}`],
    ['unused bits set in the header', `${hLast}.${hTok[1]}.${hTok[2]}`],
    ['padding on the signature', `${h}.${p}.${s}=`],
    ['padding on the header', `${h}=.${p}.${s}`],
    ['padding on the payload', `${h}.${p}==.${s}`],
    ['standard alphabet (+ /)', `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`],
    ['a newline inside', `${h}.${p.slice(0, 4)}\n${p.slice(4)}.${s}`],
    ['a tab inside', `${h}.${p}.${s.slice(0, 5)}\t${s.slice(5)}`],
    ['a non-ASCII letter inside', `${h}.${p}.${s.slice(0, 5)}é${s.slice(5)}`],
    ['length 1 mod 4', `${h}.${p}.${s}AA`],
    ['four parts', `${h}.${p}.${s}.${s}`],
    ['five parts (JWE shape)', `${h}..${p}.${s}.${s}`],
    ['empty header', `.${p}.${s}`],
    ['empty payload', `${h}..${s}`]
  ]
  for (const [what, token] of cases) {
    // A header cannot carry a newline or a non-Latin-1 character: those go by query only.
    if (!/[\n\té]/.test(token)) denied(t, await get(app, token), 401, 'FJG_ERR_TOKEN_MALFORMED', what)
  }
  const q = await build(t, { secret: SECRET, token: 'query:jwt' })
  for (const [what, token] of cases) denied(t, await get(q, token, 'query'), 401, 'FJG_ERR_TOKEN_MALFORMED', `query source: ${what}`)
})

// ======================================================== duplicate JSON members

t.test('duplicate JSON members', async (t) => {
  const app = await build(t, { secret: SECRET, claimsToHeaders: { 'x-user-id': 'sub' }, requireClaims: [{ claim: 'role', op: 'eq', value: 'user' }] })
  // RFC 7515 §5.2 lets a verifier reject a header with a repeated member; we do:
  // the header is read before the signature is checked and picks alg and key.
  const headers: Array<[string, string]> = [
    ['two alg, none first', '{"alg":"none","alg":"HS256"}'],
    ['two alg, none last', '{"alg":"HS256","alg":"none"}'],
    ['two alg, same value', '{"alg":"HS256","alg":"HS256"}'],
    ['two alg, one escaped', '{"alg":"HS256","\\u0061lg":"HS256"}'],
    ['two kid', '{"alg":"HS256","kid":"hmac-1","kid":"x"}'],
    ['two crit', '{"alg":"HS256","crit":["x"],"crit":null}'],
    ['two typ', '{"alg":"HS256","typ":"JWT","typ":"JWT"}'],
    ['two __proto__', '{"alg":"HS256","__proto__":{},"__proto__":{}}']
  ]
  for (const [what, header] of headers) {
    denied(t, await get(app, hs256(header, claims({ role: 'user' }))), 401, 'FJG_ERR_TOKEN_MALFORMED', `header: ${what}`)
  }
  // A repeated name inside a nested header value is not a header member.
  granted(t, await get(app, hs256('{"alg":"HS256","x":{"a":1,"a":2},"y":"\\"a\\":"}', claims({ role: 'user' }))), 'user-1', 'nested duplicates and quoted colons in the header are fine')
  // The payload is covered by the signature and parsed once (JSON.parse: the
  // last member wins); every consumer in our stack reads that one parse.
  const exp = now() + 300
  const res = await get(app, hs256({ alg: 'HS256' }, `{"sub":"user-1","role":"admin","sub":"user-2","role":"user","exp":${exp}}`))
  const body = granted(t, res, 'user-2', 'payload: two sub, the last wins')
  t.equal(body.forwarded['x-user-id'], 'user-2', 'payload: the forwarded header agrees with request.jwt')
  denied(t, await get(app, hs256({ alg: 'HS256' }, `{"sub":"user-1","role":"user","role":"admin","exp":${exp}}`)), 403, 'FJG_ERR_CLAIM_REQUIREMENT', 'payload: requirements see the last role')
})

// ======================================================================== sizes

t.test('a 1 MB token → 401 FJG_ERR_TOKEN_TOO_LARGE, never decoded', async (t) => {
  const app = await build(t, { secret: SECRET, token: ['header:authorization', 'cookie:jwt', 'query:jwt'] })
  const big = `${b64({ alg: 'HS256', kid: 'probe-kid-1mb' })}.${b64({ sub: 'probe-sub-1mb', pad: 'x'.repeat(1024 * 1024) })}.c2ln`
  const from = Buffer.from
  let decodes = 0
  ;(Buffer as unknown as { from: (...a: unknown[]) => Buffer }).from = function (...a: unknown[]) {
    if (a[1] === 'base64url' || a[1] === 'base64') decodes++
    return (from as (...x: unknown[]) => Buffer).apply(Buffer, a)
  }
  const before = logLines.length
  let results: LightMyRequestResponse[]
  try {
    results = [await get(app, big), await get(app, big, 'cookie'), await get(app, big, 'query'), await get(app, 'a'.repeat(1024 * 1024))]
  } finally {
    Buffer.from = from
  }
  for (const res of results) denied(t, res, 401, 'FJG_ERR_TOKEN_TOO_LARGE', '1 MB')
  t.equal(results[0]!.json().message, 'The token is larger than 16384 bytes')
  t.equal(decodes, 0, 'no base64 decode happened')
  const logged = logLines.slice(before).join('')
  t.notMatch(logged, /probe-kid-1mb|probe-sub-1mb/, 'the log did not decode it either')

  // The cap is the policy's: exactly at the cap passes, one over does not, and
  // the log never decodes a token over the cap either.
  const token = hs256({ alg: 'HS256', kid: 'probe-kid-cap' }, claims({ sub: 'probe-sub-cap' }))
  const at = await build(t, { secret: SECRET, maxTokenSize: token.length })
  granted(t, await get(at, token), 'probe-sub-cap', 'a token exactly at the cap')
  const under = await build(t, { secret: SECRET, maxTokenSize: token.length - 1 })
  const mark = logLines.length
  denied(t, await get(under, token), 401, 'FJG_ERR_TOKEN_TOO_LARGE', 'one byte over the cap')
  t.notMatch(logLines.slice(mark).join(''), /probe-kid-cap|probe-sub-cap/, 'the log did not decode a token over a custom cap')
})

t.test('thousands of claims', async (t) => {
  const many: Record<string, unknown> = { sub: 'user-1', exp: now() + 300 }
  for (let i = 0; i < 20000; i++) many[`c${i}`] = i
  const app = await build(t, {
    secret: SECRET,
    maxTokenSize: 1024 * 1024,
    requireClaims: [{ claim: 'c19999', op: 'eq', value: 19999 }, { claim: 'c0', op: 'in', value: [0, 1] }],
    claimsToHeaders: { 'x-last': 'c19999' },
    payloadHeader: 'x-payload'
  })
  const started = process.hrtime.bigint()
  const body = granted(t, await get(app, hs256({ alg: 'HS256' }, many)), 'user-1', '20 000 claims')
  t.equal(body.forwarded['x-last'], '19999')
  t.equal(JSON.parse(Buffer.from(body.forwarded['x-payload'], 'base64url').toString()).c12345, 12345, 'the whole payload is forwarded')
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'in well under 2 s')
  // Within the default 16 KiB cap: as many short claims as fit.
  const fit: Record<string, unknown> = { sub: 'user-1', exp: now() + 300 }
  for (let i = 0; i < 1000; i++) fit[`k${i}`] = 1
  const def = await build(t, { secret: SECRET, requireClaims: [{ claim: 'k999', op: 'exists' }] })
  granted(t, await get(def, hs256({ alg: 'HS256' }, fit)), 'user-1', '1000 claims under the default cap')
})

t.test('deeply nested claims: no stack overflow, no 5xx', async (t) => {
  const nested = (depth: number, open: string, close: string): string => open.repeat(depth) + close.repeat(depth)
  const exp = now() + 300
  // 3000 levels of arrays fit in the default 16 KiB cap (about 8 KB).
  const arrays = `{"sub":"user-1","exp":${exp},"deep":${nested(3000, '[', ']')}}`
  const forwarding = await build(t, { secret: SECRET, claimsToHeaders: { 'x-deep': 'deep', 'x-user-id': 'sub' } })
  const body = granted(t, await get(forwarding, hs256({ alg: 'HS256' }, arrays)), 'user-1', 'claimsToHeaders on a 3000-deep claim')
  t.equal(body.forwarded['x-deep'], undefined, 'a claim too deep to serialize is not forwarded')
  t.equal(body.forwarded['x-user-id'], 'user-1', 'the other headers are')

  // Deeper, with a raised cap: the verified-token cache (on by default) must
  // not recurse into the payload either.
  for (const cache of [undefined, false] as const) {
    const app = await build(t, {
      secret: SECRET,
      maxTokenSize: 4 * 1024 * 1024,
      ...(cache === false ? { cache } : {}),
      requireClaims: [{ claim: 'deep', op: 'exists' }, { claim: 'deep.a', op: '!exists' }],
      claimsToHeaders: { 'x-deep': 'deep' }
    })
    for (const depth of [20000, 200000]) {
      granted(t, await get(app, hs256({ alg: 'HS256' }, `{"sub":"user-1","exp":${exp},"deep":${nested(depth, '[', ']')}}`)), 'user-1', `${depth}-deep arrays, cache ${cache === false ? 'off' : 'on'}`)
    }
  }
  // A requireClaims path 1000 segments deep, into 1000 nested objects.
  const path = Array(1000).fill('a').join('.')
  const objects = `{"sub":"user-1","exp":${exp},"a":${'{"a":'.repeat(999)}42${'}'.repeat(999)}}`
  const deepPath = await build(t, { secret: SECRET, maxTokenSize: 64 * 1024, requireClaims: [{ claim: path, op: 'eq', value: 42 }, { claim: path + '.a', op: '!exists' }] })
  granted(t, await get(deepPath, hs256({ alg: 'HS256' }, objects)), 'user-1', 'a 1000-segment path')
  denied(t, await get(deepPath, hs256({ alg: 'HS256' }, objects.replace('42}', '43}'))), 403, 'FJG_ERR_CLAIM_REQUIREMENT', 'a 1000-segment path, wrong value')
  // Without signature checks the payload is the attacker's: still no 5xx.
  const unsigned = await build(t, { validateSig: false, maxTokenSize: 4 * 1024 * 1024, claimsToHeaders: { 'x-deep': 'deep' } })
  const deepObjects = `{"sub":"user-1","deep":${'{"a":'.repeat(100000)}null${'}'.repeat(100000)}}`
  granted(t, await get(unsigned, `${b64({ alg: 'HS256' })}.${b64(deepObjects)}.c2ln`), 'user-1', 'validateSig false, 100 000-deep objects')
})

// ==================================================================== headers

t.test('Unicode claims are forwarded exactly; CR/LF and controls are not forwarded', async (t) => {
  const app = await build(t, { secret: SECRET, claimsToHeaders: { 'x-name': 'name', 'x-list': 'list', 'x-user-id': 'sub' } })
  const names = ['José', 'Øyvind Åsen', '日本語の名前', '👩‍💻 dev', 'مرحبا', 'e\u0301', '\u2028\u2029', '\u0085', '\ufeffbom', '\u010a\u010d', 'tab\there']
  for (const name of names) {
    const body = granted(t, await get(app, hs256({ alg: 'HS256' }, claims({ name, list: [name, 1] }))), 'user-1', `name ${show(name)}`)
    t.equal(body.forwarded['x-name'], name, `${show(name)} forwarded as is`)
    t.equal(body.forwarded['x-list'], JSON.stringify([name, 1]), `${show(name)} in a list, as JSON`)
  }
  const unsafe = ['a\r\nx-admin: 1', 'a\nx-admin: 1', 'a\rb', '\r\n\r\nGET / HTTP/1.1', 'nul\u0000', 'del\u007f', 'esc\u001b[31m', 'vt\u000b']
  for (const name of unsafe) {
    // A client-sent copy is removed first, so an unsafe claim leaves nothing behind.
    const body = granted(t, await get(app, hs256({ alg: 'HS256' }, claims({ name, list: [name] })), 'bearer', { 'x-name': 'spoofed', 'x-list': 'spoofed' }), 'user-1', `name ${show(name)}`)
    t.equal(body.forwarded['x-name'], undefined, `${show(name)} not forwarded, spoofed copy removed`)
    // In a list the claim is JSON text, where JSON.stringify escapes C0 controls
    // (CR LF become the characters \\r \\n); DEL is not escaped, so it is refused.
    const json = JSON.stringify([name])
    t.equal(body.forwarded['x-list'], name.includes('\u007f') ? undefined : json, `${show(name)} in a list: escaped JSON or nothing`)
    t.notOk(/[\r\n]/.test(String(body.forwarded['x-list'])) || String(body.forwarded['x-list']).includes('\u0000'), `${show(name)} in a list: no raw CR, LF or NUL`)
    t.equal(body.forwarded['x-admin'], undefined, 'no header was smuggled')
    t.equal(body.forwarded['x-user-id'], 'user-1', 'the safe header is still set')
  }
  // Platform assumption behind letting text above 0x7f through: Node refuses a
  // header value above 0xff instead of truncating it (U+010A would become LF).
  t.throws(() => http.validateHeaderValue('x-name', '\u010a'), { code: 'ERR_INVALID_CHAR' }, 'Node refuses U+010A on the wire')
  t.equal(headerValue('x'.repeat(1e6) + '\n'), null, 'a 1 MB value with a LF at the end is caught')
})

// Raw HTTP/1.1 over a real socket: inject cannot send a header twice.
function raw (port: number, head: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => { data += d })
    socket.on('error', reject)
    socket.on('end', () => {
      const status = Number(data.slice(9, 12))
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) })
    })
    socket.end(head.replace(/\n/g, '\r\n') + '\r\n')
  })
}

t.test('duplicate Authorization headers over a real socket', async (t) => {
  const userTok = hs256({ alg: 'HS256' }, claims({ sub: 'user-1' }))
  const adminForged = jws('HS256', { alg: 'HS256' }, claims({ sub: 'admin' }), keys.hmac, { secret: 'wrong-secret' })
  tokensSent.add(userTok).add(adminForged)
  const app = await build(t, { secret: SECRET, claimsToHeaders: { 'x-user-id': 'sub' } })
  const rawSeen: string[][] = []
  app.addHook('onRequest', (req, _reply, done) => { rawSeen.push(req.raw.rawHeaders); done() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port
  const send = (...auth: string[]) => raw(port, `GET / HTTP/1.1\nHost: x\n${auth.map((a) => `Authorization: ${a}\n`).join('')}Connection: close\n`)

  // Node keeps the first Authorization and discards the rest (http.IncomingMessage
  // docs). We verify that first one, and only it ever reaches request.headers,
  // claimsToHeaders and an upstream: what is checked is what is forwarded.
  let res = await send(`Bearer ${userTok}`, `Bearer ${adminForged}`)
  t.equal(rawSeen.at(-1)!.filter((h) => h.toLowerCase() === 'authorization').length, 2, 'both headers arrived on the wire')
  t.equal(res.status, 200, 'valid first, forged second → 200')
  const body = JSON.parse(res.body)
  t.same([body.sub, body.forwarded['x-user-id'], body.authorization], ['user-1', 'user-1', `Bearer ${userTok}`], 'as the first token, which is the only one the app sees')
  res = await send(`Bearer ${adminForged}`, `Bearer ${userTok}`)
  t.same([res.status, JSON.parse(res.body).code], [401, 'FJG_ERR_TOKEN_SIGNATURE'], 'forged first, valid second → 401')
  res = await send('Basic dXNlcjpwYXNz', `Bearer ${userTok}`)
  t.same([res.status, JSON.parse(res.body).code], [401, 'FJG_ERR_TOKEN_MISSING'], 'Basic first, Bearer second → 401 missing (the second is never read)')
  res = await send(`Bearer ${'a'.repeat(20 * 1024)}`)
  t.equal(res.status, 431, 'a header over Node\'s 16 KiB limit is refused by Node with 431, before us')

  // With joinDuplicateHeaders the two values arrive as one "a, b": malformed.
  const joined = await build(t, { secret: SECRET }, { server: { http: { joinDuplicateHeaders: true } } as FastifyServerOptions })
  await joined.listen({ port: 0, host: '127.0.0.1' })
  const jport = (joined.server.address() as net.AddressInfo).port
  res = await raw(jport, `GET / HTTP/1.1\nHost: x\nAuthorization: Bearer ${userTok}\nAuthorization: Bearer ${adminForged}\nConnection: close\n`)
  t.same([res.status, JSON.parse(res.body).code], [401, 'FJG_ERR_TOKEN_MALFORMED'], 'joinDuplicateHeaders: "Bearer a, Bearer b" → 401 malformed')

  // A custom token header sent twice is joined by Node with ", ": malformed.
  const custom = await build(t, { secret: SECRET, token: 'header:x-token' })
  await custom.listen({ port: 0, host: '127.0.0.1' })
  const cport = (custom.server.address() as net.AddressInfo).port
  res = await raw(cport, `GET / HTTP/1.1\nHost: x\nX-Token: ${userTok}\nX-Token: ${userTok}\nConnection: close\n`)
  t.same([res.status, JSON.parse(res.body).code], [401, 'FJG_ERR_TOKEN_MALFORMED'], 'x-token twice → 401 malformed')
  // Two Cookie headers are joined with "; ": the first jwt cookie wins.
  const cookie = await build(t, { secret: SECRET, token: 'cookie:jwt' })
  await cookie.listen({ port: 0, host: '127.0.0.1' })
  const kport = (cookie.server.address() as net.AddressInfo).port
  res = await raw(kport, `GET / HTTP/1.1\nHost: x\nCookie: jwt=${userTok}\nCookie: jwt=${adminForged}\nConnection: close\n`)
  t.same([res.status, JSON.parse(res.body).sub], [200, 'user-1'], 'two Cookie headers: the first jwt cookie wins')
  res = await raw(kport, `GET / HTTP/1.1\nHost: x\nCookie: jwt=${adminForged}; jwt=${userTok}\nConnection: close\n`)
  t.same([res.status, JSON.parse(res.body).code], [401, 'FJG_ERR_TOKEN_SIGNATURE'], 'two jwt cookies in one header: the first wins, no retry')
})

t.test('a token in two sources at once: the first source that has one wins', async (t) => {
  const a = hs256({ alg: 'HS256' }, claims({ sub: 'from-header' }))
  const b = hs256({ alg: 'HS256' }, claims({ sub: 'from-cookie' }))
  const bad = a.slice(0, -2) + (a.endsWith('AA') ? 'BA' : 'AA')
  const app = await build(t, { secret: SECRET, token: ['header:authorization', 'cookie:jwt'] })
  const send = (auth: string | null, cookie: string | null) => {
    const headers: Record<string, string> = {}
    if (auth !== null) headers.authorization = auth
    if (cookie !== null) headers.cookie = `jwt=${cookie}`
    tokensSent.add(a).add(b).add(bad)
    return app.inject({ url: '/', headers })
  }
  granted(t, await send(`Bearer ${a}`, b), 'from-header', 'both valid → the header (first source)')
  denied(t, await send(`Bearer ${bad}`, b), 401, 'FJG_ERR_TOKEN_SIGNATURE', 'bad header, valid cookie: a bad token is not retried elsewhere')
  granted(t, await send('Basic dXNlcjpwYXNz', b), 'from-cookie', 'a non-Bearer Authorization is no token: the cookie is read')
  granted(t, await send('Bearer ', b), 'from-cookie', 'an empty Bearer is no token: the cookie is read')
  granted(t, await send(null, b), 'from-cookie', 'only the cookie')
  const reversed = await build(t, { secret: SECRET, token: ['cookie:jwt', 'header:authorization'] })
  granted(t, await reversed.inject({ url: '/', headers: { authorization: `Bearer ${a}`, cookie: `jwt=${b}` } }), 'from-cookie', 'reversed order → the cookie')
  const query = await build(t, { secret: SECRET, token: ['query:jwt', 'header:authorization'] })
  granted(t, await query.inject({ url: '/', query: { jwt: b }, headers: { authorization: `Bearer ${a}` } }), 'from-cookie', 'query first')
  const twice = await query.inject({ url: `/?jwt=${b}&jwt=${b}`, headers: { authorization: `Bearer ${a}` } })
  granted(t, twice, 'from-header', 'a repeated query parameter is ambiguous: no token there, the header is read')
})

// ============================================================== prototype paths

t.test('__proto__ and constructor paths never reach the prototype', async (t) => {
  const paths = ['__proto__', 'constructor', 'constructor.name', '__proto__.toString', 'toString', 'hasOwnProperty', 'valueOf', 'sub.length', 'sub.constructor', 'roles.length', 'roles.0']
  for (const path of paths) {
    const app = await build(t, { secret: SECRET, requireClaims: [{ claim: path, op: 'exists' }] })
    denied(t, await get(app, hs256({ alg: 'HS256' }, claims({ roles: ['a'] }))), 403, 'FJG_ERR_CLAIM_REQUIREMENT', `exists ${path}`)
    const not = await build(t, { secret: SECRET, requireClaims: [{ claim: path, op: '!exists' }], requireHeaders: [{ claim: path, op: '!exists' }] })
    granted(t, await get(not, hs256({ alg: 'HS256' }, claims({ roles: ['a'] }))), 'user-1', `!exists ${path}, on claims and header`)
  }
  const headerMap: Record<string, string | string[]> = { 'x-a': '__proto__', 'x-b': 'constructor.name', 'x-c': 'sub.length', 'x-d': ['__proto__', 'polluted'], 'x-e': 'toString' }
  const app = await build(t, { secret: SECRET, claimsToHeaders: headerMap, joseHeadersToHeaders: { 'x-h': 'constructor' } })
  const body = granted(t, await get(app, hs256({ alg: 'HS256' }, claims())), 'user-1', 'claimsToHeaders on prototype paths')
  t.same(body.forwarded, {}, 'nothing forwarded')
  // A signed payload with an own "__proto__" member: JSON.parse makes it an own
  // property, readable as a claim by its own name, never the payload's prototype.
  const own = await build(t, { secret: SECRET, requireClaims: [{ claim: '__proto__.admin', op: 'eq', value: true }], claimsToHeaders: { 'x-admin': 'admin', 'x-p': '__proto__.admin' } })
  const exp = now() + 300
  const pol = hs256({ alg: 'HS256' }, `{"sub":"user-1","exp":${exp},"__proto__":{"admin":true,"polluted":1}}`)
  const ob = granted(t, await get(own, pol), 'user-1', 'an own __proto__ member is a claim like any other')
  t.same(ob.forwarded, { 'x-p': 'true' }, 'admin did not leak onto the payload through its prototype')
  const noAdmin = await build(t, { secret: SECRET, requireClaims: [{ claim: 'admin', op: 'eq', value: true }] })
  denied(t, await get(noAdmin, pol), 403, 'FJG_ERR_CLAIM_REQUIREMENT', 'admin is not a claim of that token')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
  t.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched')
})

// ==================================================================== no regex

t.test('requireClaims has no regular-expression operator and stays linear on huge claims', async (t) => {
  // `match` / `!match` exist since issue 13, on a linear-time engine (RE2): tested below and in claims.test.ts.
  for (const op of ['regex', 'matches', 'pattern', '~']) {
    await t.rejects(build(t, { secret: SECRET, requireClaims: [{ claim: 'sub', op: op as 'eq', value: '^(a+)+$' }] }), { code: 'FJG_ERR_OPTION_INVALID' }, `op ${op} is refused`)
  }
  // The classic ReDoS input, against every operator: compared as a value, never as a pattern.
  const evil = 'a'.repeat(11000) + '!'
  const requirements: JwtPolicy['requireClaims'] = [
    { claim: 'sub', op: 'eq', value: '^(a+)+$' }, { claim: 'sub', op: '!eq', value: evil }, { claim: 'sub', op: 'in', value: ['(a|a)*', evil] },
    { claim: 'sub', op: 'intersect', value: ['.*'] }, { claim: 'sub', op: '!in', value: [evil] }, { claim: 'sub', op: 'gt', value: 1 },
    { claim: 'sub', op: 'match', value: '^(a+)+$' }, { claim: 'sub', op: '!match', value: '(a|aa)+$' }
  ]
  for (const r of requirements) {
    const app = await build(t, { secret: SECRET, requireClaims: [r], claimsToHeaders: { 'x-sub': 'sub' } })
    const started = process.hrtime.bigint()
    const res = await get(app, hs256({ alg: 'HS256' }, claims({ sub: evil })))
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.ok(res.statusCode === 200 || res.statusCode === 403, `${r.op} ${JSON.stringify(r.value).slice(0, 20)}: ${res.statusCode}`)
    t.ok(ms < 500, `${r.op}: ${ms.toFixed(1)} ms`)
  }
  const app = await build(t, { secret: SECRET, requireClaims: [{ claim: 'sub', op: 'eq', value: '.*' }] })
  denied(t, await get(app, hs256({ alg: 'HS256' }, claims({ sub: 'anything' }))), 403, 'FJG_ERR_CLAIM_REQUIREMENT', '".*" is a plain string, not a pattern')
})

// =========================================================== defence in depth

t.test('an unexpected error in the verifier is a coded 401, never a 5xx or its message', async (t) => {
  const compiled = compilePolicy({ secret: SECRET })
  const failures: Array<[string, () => never | Promise<never>]> = [
    ['thrown', () => { throw new RangeError('Maximum call stack size exceeded') }],
    ['rejected', () => Promise.reject(new TypeError('boom: internal detail'))],
    ['thrown non-error', () => { throw null }] // eslint-disable-line no-throw-literal
  ]
  for (const [what, verify] of failures) {
    const lines: string[] = []
    const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
    app.get('/', { preHandler: createHook({ ...compiled, verify }) }, () => ({ sub: 'never' }))
    t.teardown(() => app.close())
    const res = await get(app, hs256({ alg: 'HS256' }))
    denied(t, res, 401, 'FJG_ERR_TOKEN_MALFORMED', what)
    t.equal(res.json().message, 'The token is malformed: it could not be processed', `${what}: no internal message`)
    t.ok(lines.some((l) => JSON.parse(l).level === 50 && l.includes('the verifier failed unexpectedly')), `${what}: logged as an error`)
  }
})

t.test('a query token is in Fastify\'s default request log: a start-up warning says so', async (t) => {
  t.ok(warnings.some((w) => w.code === 'FJG_WARN_QUERY_TOKEN'), 'FJG_WARN_QUERY_TOKEN was emitted (a query source was registered above)')
  // What the warning is about: Fastify's default `req` serializer logs the URL.
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  await app.register(jwtAuth, { secret: SECRET, token: 'query:jwt' })
  app.get('/', () => 'ok')
  t.teardown(() => app.close())
  const token = hs256({ alg: 'HS256' })
  await app.inject({ url: '/', query: { jwt: token } })
  t.ok(lines.some((l) => l.includes(token)), 'without a req serializer the token is in the "incoming request" line')
  const redacted: string[] = []
  const safe = Fastify({ logger: { level: 'info', serializers: { req: reqWithoutQuery as any }, stream: { write: (l: string) => { redacted.push(l) } } } })
  await safe.register(jwtAuth, { secret: SECRET, token: 'query:jwt' })
  safe.get('/', () => 'ok')
  t.teardown(() => safe.close())
  await safe.inject({ url: '/', query: { jwt: token } })
  t.notOk(redacted.some((l) => l.includes(token.slice(token.lastIndexOf('.') + 1))), 'with the recommended serializer it is not')
})

// ========================================================= last: no token logged

t.test('no token ever appeared in a log line', async (t) => {
  const all = logLines.join('\n')
  t.ok(logLines.length > 100, `${logLines.length} log lines captured`)
  let leaked = 0
  for (const token of tokensSent) {
    const sig = token.slice(token.lastIndexOf('.') + 1)
    if ((token.length >= 20 && all.includes(token)) || (sig.length >= 16 && all.includes(sig))) leaked++
  }
  t.equal(leaked, 0, `none of ${tokensSent.size} tokens or their signatures was logged`)
  if (leaked > 0) {
    for (const token of tokensSent) {
      const sig = token.slice(token.lastIndexOf('.') + 1)
      const line = logLines.find((l) => (token.length >= 20 && l.includes(token)) || (sig.length >= 16 && l.includes(sig)))
      if (line !== undefined) t.comment(line.slice(0, 600))
    }
  }
})
