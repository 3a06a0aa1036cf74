// Property-based fuzzing of the extractors and the whole request path (issue 7).
// Bounded for CI: FUZZ_RUNS runs per property (default 300, a few seconds);
// scripts/fuzz-long.sh runs it with a large FUZZ_RUNS. A failure prints its
// seed and path: replay with FUZZ_SEED=<seed> FUZZ_PATH=<path>.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import jwtAuth, { type JwtPolicy } from '../src/index.js'
import { bearerToken, cookieValue } from '../src/token-source.js'
import { countMembers, isCanonicalBase64url } from '../src/verify.js'
import { generateKeySet, sign, type Alg } from './helpers/keys.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
const params: fc.Parameters<unknown> = {
  numRuns: RUNS,
  ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
  ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {})
}
// fast-check's Parameters<T> is invariant in T; every property here shares the run settings.
const run = <T>(): fc.Parameters<T> => params as fc.Parameters<T>

const keys = generateKeySet()
const SECRET = (keys.hmac.signingKey as Buffer).toString('utf8')
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

// ---------------------------------------------------------------- arbitraries

const b64char = fc.constantFrom(...B64URL.split(''))
const special = fc.constantFrom('=', '+', '/', '.', ' ', '\t', '\n', '\r', '"', ';', ',', '\\', '\u0000', '\u007f', 'é', '\u2028', '\ud800', '😀')
/** Mostly base64url, sometimes not: where the interesting boundaries are. */
const b64ish = fc.string({ unit: fc.oneof({ weight: 12, arbitrary: b64char }, { weight: 1, arbitrary: special }), maxLength: 80 })
const tokenish = fc.tuple(b64ish, b64ish, b64ish, fc.constantFrom('.', '..', '')).map(([a, b, c, extra]) => `${a}.${b}${extra}${c}`)
/** Header-safe text (what an HTTP parser can hand us): tab, 0x20-0x7e, 0x80-0xff. */
const latin1 = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), fc.constant('\t')), maxLength: 200 })
const anyText = fc.oneof(latin1, fc.string({ unit: 'binary', maxLength: 100 }), tokenish, fc.string({ unit: 'grapheme', maxLength: 50 }))

const b64 = (s: string): string => Buffer.from(s).toString('base64url')

// ------------------------------------------------------------------- the apps

const policy: JwtPolicy = {
  secret: SECRET,
  keys: [{ jwk: keys.rsa.jwk }, { jwk: keys.p256.jwk }, { jwk: keys.ed25519.jwk }],
  token: ['header:authorization', 'cookie:jwt', 'query:jwt'],
  requireClaims: [{ claim: 'sub', op: '!eq', value: 'banned' }],
  claimsToHeaders: { 'x-user-id': 'sub', 'x-roles': 'roles', 'x-deep': 'a.b' },
  joseHeadersToHeaders: { 'x-kid': 'kid' },
  payloadHeader: 'x-jwt-payload'
}
// Without signature checks the payload and header are entirely the client's:
// the claim checks, header writers and cache see arbitrary JSON.
const unsignedPolicy: JwtPolicy = {
  validateSig: false,
  requireClaims: [{ claim: 'role', op: 'in', value: ['user', 'admin'] }, { claim: 'n', op: '!exists' }],
  claimsToHeaders: { 'x-user-id': 'sub', 'x-role': 'role', 'x-any': 'any', 'x-proto': '__proto__.x' },
  joseHeadersToHeaders: { 'x-kid': 'kid' },
  issuer: ['i1', 'i2'],
  audience: 'aud-1',
  leeway: 5
}

async function build (tt: Test, p: JwtPolicy): Promise<FastifyInstance> {
  // A logger that writes nowhere, so the denial log path (which decodes the
  // claimed kid and sub of a bad token) runs on every case too.
  const app = Fastify({ logger: { level: 'info', stream: { write () {} } } })
  await app.register(jwtAuth, p)
  app.get('/', () => ({ ok: true }))
  tt.teardown(() => app.close())
  await app.ready()
  return app
}

const KEYS = ['code', 'error', 'message', 'statusCode']
/** Every answer is 200, 401 or 403 with our exact JSON shape; returns the status. */
function shape (res: LightMyRequestResponse): number {
  const status = res.statusCode
  if (status === 200) {
    if (res.body !== '{"ok":true}') throw new Error(`200 with body ${res.body.slice(0, 200)}`)
    return status
  }
  if (status !== 401 && status !== 403) throw new Error(`status ${status}: ${res.body.slice(0, 300)}`)
  const body = res.json()
  if (Object.keys(body).sort().join() !== KEYS.join()) throw new Error(`body shape ${res.body.slice(0, 300)}`)
  if (body.statusCode !== status || typeof body.code !== 'string' || !body.code.startsWith('FJG_ERR_')) throw new Error(`body ${res.body.slice(0, 300)}`)
  const challenge = res.headers['www-authenticate']
  if (typeof challenge !== 'string' || !challenge.startsWith('Bearer realm="api"')) throw new Error(`challenge ${String(challenge)}`)
  return status
}

// ============================================================== the extractors

t.test('bearerToken never throws and returns a non-empty token without surrounding spaces, or null', async (t) => {
  await fc.assert(fc.property(fc.oneof(anyText, anyText.map((s) => `Bearer ${s}`), anyText.map((s) => `bEaReR${s}`)), (value) => {
    const token = bearerToken(value)
    if (token === null) return true
    // RFC 6750 §2.1: "Bearer" 1*SP token. A tab is not a separator: it stays
    // in the token, which then fails as malformed.
    return token.length > 0 && !token.startsWith(' ') && !/[ \t]$/.test(token) &&
      value.slice(0, 7).toLowerCase() === 'bearer ' && value.includes(token)
  }), run())
  await fc.assert(fc.property(tokenish.filter((s) => s.trim() === s && s.length > 0), fc.constantFrom('Bearer ', 'bearer ', 'BEARER  ', 'bEaReR '), fc.constantFrom('', ' ', '\t', ' \t '), (tok, scheme, tail) => {
    return bearerToken(scheme + tok + tail) === tok
  }), run())
  t.pass(`${RUNS} runs per property`)
})

t.test('cookieValue never throws, and finds a cookie among others', async (t) => {
  const name = fc.string({ unit: fc.constantFrom(...'abcjwtXYZ_-0'.split('')), minLength: 1, maxLength: 6 })
  await fc.assert(fc.property(anyText, name, (header, n) => {
    const v = cookieValue(header, n)
    return v === null || (v.length > 0 && !v.includes(';'))
  }), run())
  const value = fc.string({ unit: fc.oneof(b64char, fc.constantFrom('.', '=')), minLength: 1, maxLength: 60 })
  await fc.assert(fc.property(name, name, value, value, fc.constantFrom('; ', ';', ';  '), (n, other, v, w, sep) => {
    fc.pre(other !== n)
    return cookieValue(`${other}=${w}${sep}${n}=${v}`, n) === v && cookieValue(`${n}="${v}"`, n) === v &&
      cookieValue(`${other}${n}=${w}`, n) === null
  }), run())
  t.pass(`${RUNS} runs per property`)
})

t.test('isCanonicalBase64url agrees with a decode → encode round trip', async (t) => {
  const roundTrips = (s: string): boolean => Buffer.from(s, 'base64url').toString('base64url') === s
  await fc.assert(fc.property(b64ish, (s) => isCanonicalBase64url(s, 0, s.length) === roundTrips(s)), run())
  // On a slice of a longer string, as verify() calls it.
  await fc.assert(fc.property(b64ish, b64ish, b64ish, (pre, s, post) =>
    isCanonicalBase64url(pre + s + post, pre.length, pre.length + s.length) === roundTrips(s)), run())
  // Every encoding of random bytes is canonical.
  await fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
    const s = Buffer.from(bytes).toString('base64url')
    return isCanonicalBase64url(s, 0, s.length)
  }), run())
  t.pass(`${RUNS} runs per property`)
})

t.test('countMembers counts the members written, repeated or not', async (t) => {
  const ws = fc.constantFrom('', ' ', '\n', '\t ')
  const member = fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('alg', 'kid', 'crit', '__proto__', 'a:b', '"', '\\')), fc.json({ maxDepth: 3 }), ws)
  await fc.assert(fc.property(fc.array(member, { maxLength: 12 }), ws, (members, w) => {
    const text = `${w}{${members.map(([k, v, s]) => `${s}${JSON.stringify(k)}${s}:${s}${v}${s}`).join(',')}}${w}`
    const parsed = JSON.parse(text)
    return countMembers(text) === members.length && Object.keys(parsed).length <= members.length
  }), run())
  t.pass(`${RUNS} runs`)
})

// ========================================================== the request path

t.test('random Authorization, cookie and query values: always 200/401/403 with our shape, never 5xx', async (t) => {
  const app = await build(t, policy)
  const codes = new Set<string>()
  await fc.assert(fc.asyncProperty(anyText, fc.constantFrom('bearer', 'raw', 'cookie', 'query', 'url'), async (value, where) => {
    let res: LightMyRequestResponse
    if (where === 'bearer') res = await app.inject({ url: '/', headers: { authorization: `Bearer ${value}` } })
    else if (where === 'raw') res = await app.inject({ url: '/', headers: { authorization: value } })
    else if (where === 'cookie') res = await app.inject({ url: '/', headers: { cookie: Math.random() < 0.5 ? `jwt=${value}` : value } })
    else if (where === 'query') res = await app.inject({ url: '/', query: { jwt: value } })
    else res = await app.inject({ url: `/?jwt=${value.replace(/[#\s]/g, '')}` })
    const status = shape(res)
    if (status !== 200) codes.add(res.json().code)
    return status !== 200
  }), run())
  t.ok(codes.has('FJG_ERR_TOKEN_MISSING') && codes.has('FJG_ERR_TOKEN_MALFORMED'), `refusals reached the verifier: ${[...codes].sort().join(', ')}`)
})

t.test('mutated valid tokens: never 5xx, and never accepted unless unchanged', async (t) => {
  const app = await build(t, policy)
  const originals = (['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'] as Alg[]).map((alg) => {
    const key = alg.startsWith('HS') ? keys.hmac : alg.startsWith('ES') ? keys.p256 : alg === 'EdDSA' ? keys.ed25519 : keys.rsa
    return sign(key, alg, { sub: 'user-1', roles: ['a', 'b'], a: { b: 'deep' } }, { expiresIn: 3600 })
  })
  for (const token of originals) t.equal(shape(await app.inject({ url: '/', headers: { authorization: `Bearer ${token}` } })), 200, 'control: the original is accepted')

  const anyChar = fc.oneof({ weight: 8, arbitrary: b64char }, { weight: 2, arbitrary: special })
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(), c: anyChar }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), c: anyChar }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('swap' as const), i: fc.nat(2), j: fc.nat(2) }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('header' as const), json: fc.oneof(fc.json(), fc.record({ alg: fc.constantFrom('HS256', 'RS256', 'ES256', 'EdDSA', 'none', 'PS256'), kid: fc.constantFrom('hmac-1', 'rsa-1', 'ec-256', 'x') }, { requiredKeys: [] }).map((o) => JSON.stringify(o))) }),
    fc.record({ op: fc.constant('payload' as const), json: fc.json() })
  )
  type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never
  const apply = (tok: string, m: Mutation): string => {
    const parts = tok.split('.')
    switch (m.op) {
      case 'flip': { const at = m.at % tok.length; return tok.slice(0, at) + m.c + tok.slice(at + 1) }
      case 'insert': { const at = m.at % (tok.length + 1); return tok.slice(0, at) + m.c + tok.slice(at) }
      case 'delete': { const at = m.at % tok.length; return tok.slice(0, at) + tok.slice(at + 1) }
      case 'swap': { const p = parts.slice(); [p[m.i], p[m.j]] = [p[m.j] as string, p[m.i] as string]; return p.join('.') }
      case 'truncate': return tok.slice(0, m.at % tok.length)
      case 'header': return `${b64(m.json)}.${parts[1]}.${parts[2]}`
      default: return `${parts[0]}.${b64(m.json)}.${parts[2]}`
    }
  }
  let changed = 0
  await fc.assert(fc.asyncProperty(fc.constantFrom(...originals), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (original, ms) => {
    let tok = original
    for (const m of ms) tok = apply(tok, m)
    const res = await app.inject({ url: '/', query: { jwt: tok } })
    const status = shape(res)
    // The extractor trims nothing from a query value: any other string is another token.
    const same = tok === original
    if (!same) changed++
    return same ? status === 200 : status === 401
  }), run())
  t.ok(changed > RUNS / 2, `${changed} of ${RUNS} runs changed the token`)
})

t.test('without signature checks: random headers and payloads never 5xx', async (t) => {
  const app = await build(t, unsignedPolicy)
  const header = fc.oneof(
    // Headers that pass, so that random payloads reach the claim checks and header writers.
    fc.constantFrom('{"alg":"HS256"}', '{"alg":"ES256","kid":"k-1"}', '{"typ":"JWT","alg":"EdDSA"}'),
    fc.record({
      alg: fc.oneof(fc.constantFrom('HS256', 'RS256', 'ES256', 'EdDSA', 'none', 'NONE'), fc.jsonValue()),
      kid: fc.oneof(fc.string(), fc.jsonValue()),
      crit: fc.jsonValue(),
      typ: fc.string()
    }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.json()
  )
  const claimValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string(), fc.integer(), fc.double(), fc.constant(null))
  const payload = fc.oneof(
    fc.record({
      sub: claimValue,
      role: fc.oneof(fc.constantFrom('user', 'admin', 'x'), fc.array(fc.constantFrom('user', 'admin', 'x')), claimValue),
      exp: fc.oneof(fc.integer({ min: Math.floor(Date.now() / 1000) - 100, max: Math.floor(Date.now() / 1000) + 1e6 }), claimValue),
      nbf: claimValue,
      iss: fc.oneof(fc.constantFrom('i1', 'i2', 'i3'), claimValue),
      aud: fc.oneof(fc.constantFrom('aud-1', 'x'), fc.array(fc.constantFrom('aud-1', 'x')), claimValue),
      any: claimValue,
      n: claimValue
    }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.json(),
    fc.string().map((s) => `{"__proto__":{"x":${JSON.stringify(s)}},"sub":${JSON.stringify(s)},"role":"user","iss":"i1","aud":"aud-1"}`),
    // A claims set that passes every check, with random values in the forwarded claims.
    fc.tuple(claimValue, claimValue).map(([sub, any]) => JSON.stringify({ sub, any, role: 'admin', iss: 'i2', aud: ['x', 'aud-1'] }))
  )
  const seen = new Set<number>()
  await fc.assert(fc.asyncProperty(header, payload, b64ish, async (h, p, sig) => {
    const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${b64(h)}.${b64(p)}.${sig}` } })
    seen.add(shape(res))
    return true
  }), run())
  t.ok(seen.has(401), 'some were refused')
  t.ok(seen.has(200), 'some reached the header writers')
})

t.test('long random inputs are refused by size before anything else', async (t) => {
  const app = await build(t, policy)
  await fc.assert(fc.asyncProperty(fc.integer({ min: 16 * 1024 + 1, max: 256 * 1024 }), b64char, async (len, c) => {
    const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${c.repeat(len)}` } })
    return shape(res) === 401 && res.json().code === 'FJG_ERR_TOKEN_TOO_LARGE'
  }), { ...run(), numRuns: Math.min(RUNS, 50) })
  t.pass('all refused with FJG_ERR_TOKEN_TOO_LARGE')
})
