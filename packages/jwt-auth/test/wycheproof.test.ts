// Project Wycheproof's JSON Web Signature vectors (test/fixtures/wycheproof),
// each through a real Fastify app with the vector's public key as an inline
// `jwk`: never a 5xx, and the token accepted exactly when the vector is valid.
//
// One thing stands between a Wycheproof "valid" and a 200: these vectors test
// JWS, and no payload in the file is a JWT claims set ("foo", "Test", the RFC
// 7520 text, bytes, nothing). RFC 7519 §7.2 step 10 makes a JWT with such a
// payload invalid, so the plugin answers 401 FJG_ERR_TOKEN_MALFORMED for all
// of them. What a vector tests, the signature, is then checked as follows:
//   - the plugin's answer must show that nothing but the payload was refused:
//     structure, canonical base64url, header, alg, kid, crit and the ECDSA
//     shape checks all passed (any of them refuses with another code/message);
//   - the signature step the plugin runs next (fast-jwt's verifySignature, with
//     the key exactly as the plugin imported it from the JWK) decides the rest.
// "Accepted" = both; it must equal `result === "valid"`, except the deviations
// listed in DEVIATIONS, where we are stricter than the vectors on purpose.
// A vector whose payload is a claims set would be expected to answer 200.
//
// Skipped: an "invalid" vector whose token is, byte for byte, a "valid" one of
// its group (tcId 367 invalidBase64Padding and 370 invalidBase64PaddingInPayload
// both equal tcId 357: the padding they are named after is not in the file).
// No verifier can satisfy both; the padded tokens they describe are tested at
// the end. Vectors for algorithms we do not implement would be skipped too
// (none in the current file: it has no JWE and only JWA algorithms we support).
// Not skipped but handled apart: the 4 groups whose key is for encryption (use
// "enc", key_ops ["encrypt"]) are refused at registration, which is the answer;
// the RFC 7520 P-521 key says "alg": "ES521" (not a JWA name): refused as given,
// then its vectors run with the alg member removed.
import t from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import jwtAuth, { type JwtPolicy } from '../src/index.js'
import { jwkEntry, type KeyEntry } from '../src/keys.js'
import { registerError } from './helpers/app.js'

// fast-jwt's own signature primitive, the one its verifier (and so the plugin)
// calls after decoding; not part of its typed API, hence the require.
const { verifySignature } = require('fast-jwt/src/crypto.js') as {
  verifySignature: (alg: string, key: string | Buffer, input: string, signature: string) => boolean
}

// Kept in the repository (Apache-2.0, licence beside them) so the test never depends on a folder outside it.
const VECTORS = path.join(__dirname, 'fixtures/wycheproof/json_web_signature_test.json')

interface TestCase { tcId: number, comment: string, jws: string, result: 'valid' | 'invalid' | 'acceptable', flags?: string[] }
interface Group { comment: string, public?: Record<string, unknown>, private?: Record<string, unknown>, tests: TestCase[] }
interface VectorFile { schema: string, numberOfTests: number, testGroups: Group[] }

/** The type of a subtest's `t` (tap does not export it under a short name). */
type T = Parameters<Parameters<typeof t.test>[0]>[0]

const SUPPORTED = new Set(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth']

/**
 * Vectors where our answer differs from Wycheproof's on purpose, with the exact
 * answer we give instead.
 */
const DEVIATIONS: Record<number, { code: string, message: string, why: string }> = {
  346: { code: 'FJG_ERR_TOKEN_ALGORITHM', message: 'The token algorithm is not allowed', why: 'a PS384 token for a JWK with "alg": "PS256": the JWK\'s alg pins the key (DESIGN.md)' },
  350: { code: 'FJG_ERR_TOKEN_ALGORITHM', message: 'The token algorithm is not allowed', why: 'as 346, the key given with key_ops' },
  372: { code: 'FJG_ERR_TOKEN_MALFORMED', message: 'The token is malformed: not canonical base64url', why: 'a "?" inside the header segment: non-canonical base64url is invalid (DESIGN.md)' },
  373: { code: 'FJG_ERR_TOKEN_MALFORMED', message: 'The token is malformed: not canonical base64url', why: 'a "?" inside the payload segment: as 372' }
}

/** The plugin's messages for a payload that is no claims set: the only refusal that still lets a JWS count as accepted. */
const PAYLOAD_ONLY = new Set(['The token is malformed: the payload is not a JSON object', 'The token is malformed: not a JWS compact serialization', 'The token is malformed: the payload is empty'])

/** Every code a vector may get: all of them "invalid_token" 401s (or no token at all). */
const INVALID_TOKEN_CODES = new Set([
  'FJG_ERR_TOKEN_MALFORMED', 'FJG_ERR_TOKEN_ALGORITHM', 'FJG_ERR_TOKEN_SIGNATURE', 'FJG_ERR_TOKEN_KEY_UNKNOWN', 'FJG_ERR_TOKEN_CRIT'
])

// Missing vectors are a failure, never a skip: a test that cannot find its data proves nothing.
if (!existsSync(VECTORS)) {
  t.fail(`Wycheproof JWS vectors not found at ${VECTORS}`)
} else {
  run(JSON.parse(readFileSync(VECTORS, 'utf8')) as VectorFile)
}

function publicJwk (group: Group): Record<string, unknown> {
  // An "oct" key has no public half: the group only gives `private`.
  const jwk: Record<string, unknown> = { ...(group.public ?? group.private) }
  for (const m of PRIVATE_MEMBERS) delete jwk[m]
  return jwk
}

function headerOf (jws: string): Record<string, unknown> | null {
  try {
    const h = JSON.parse(Buffer.from(jws.slice(0, jws.indexOf('.')), 'base64url').toString('utf8'))
    return h !== null && typeof h === 'object' && !Array.isArray(h) ? h : null
  } catch {
    return null
  }
}

function isClaimsSet (jws: string): boolean {
  const parts = jws.split('.')
  if (parts.length !== 3) return false
  try {
    const p = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8'))
    return p !== null && typeof p === 'object' && !Array.isArray(p)
  } catch {
    return false
  }
}

/** The signature step of the plugin's verifier, with the plugin's own key. */
function signatureVerifies (entry: KeyEntry, jws: string): boolean {
  const alg = headerOf(jws)?.alg
  if (typeof alg !== 'string' || !entry.algorithms.includes(alg as KeyEntry['algorithms'][number])) return false
  const last = jws.lastIndexOf('.')
  try {
    return verifySignature(alg, entry.material, jws.slice(0, last), jws.slice(last + 1))
  } catch {
    return false
  }
}

async function build (t: T, policy: JwtPolicy): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, policy)
  app.get('/', async () => ({ ok: true }))
  await app.ready()
  return app
}

/** Printable tokens go in the Authorization header; the others (spaces, JSON serialization) in the query. */
function send (app: FastifyInstance, jws: string): Promise<LightMyRequestResponse> {
  return /^[\x21-\x7e]*$/.test(jws)
    ? app.inject({ url: '/', headers: { authorization: `Bearer ${jws}` } })
    : app.inject({ url: `/?access_token=${encodeURIComponent(jws)}` })
}

function run (file: VectorFile): void {
  t.equal(file.schema, 'json_web_signature_schema_v1.json', 'the file holds JWS vectors')
  t.equal(file.testGroups.reduce((n, g) => n + g.tests.length, 0), file.numberOfTests, 'every vector is in a group')
  const dir = mkdtempSync(path.join(tmpdir(), 'fjg-wycheproof-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tally = { run: 0, accepted: 0, refusedBySignature: 0, refusedEarlier: 0, refusedAtRegistration: 0, deviations: 0, skippedContradictory: 0, skippedAlgorithm: 0 }

  file.testGroups.forEach((group, gi) => {
    const name = `group ${gi} (${group.comment}, ${String(publicJwk(group).kty)} ${String(publicJwk(group).alg ?? '')})`
    t.test(name, async (t) => {
      const jwk = publicJwk(group)

      // Keys that are not for signatures (use "enc", key_ops without "verify"):
      // refused inline, skipped in a JWKS, which then holds no key. Every
      // vector of the group is invalid, and none can get past registration.
      const notForSignatures = (jwk.use !== undefined && jwk.use !== 'sig') ||
        (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify'))
      if (notForSignatures) {
        t.ok(group.tests.every((tc) => tc.result === 'invalid'), 'Wycheproof expects these to be refused')
        const inline = await registerError({ keys: [{ jwk }] })
        t.equal(inline.code, 'FJG_ERR_OPTION_INVALID')
        t.equal(inline.message, 'Invalid jwt policy: keys[0].jwk: the JWK is not a signature key (use/key_ops)')
        const jwks = path.join(dir, `group-${gi}.jwks.json`)
        writeFileSync(jwks, JSON.stringify({ keys: [jwk] }))
        const asFile = await registerError({ keys: [{ file: jwks }] })
        t.equal(asFile.message, `Invalid jwt policy: keys[0].file: '${jwks}' holds no signature key`)
        tally.refusedAtRegistration += group.tests.length
        return
      }

      // The RFC 7520 P-521 key names its algorithm "ES521", which JWA does not
      // define (ES512 is ECDSA over P-521): refused as given, run without it.
      if (jwk.alg !== undefined && !SUPPORTED.has(jwk.alg as string)) {
        const err = await registerError({ keys: [{ jwk }] })
        t.equal(err.code, 'FJG_ERR_OPTION_INVALID')
        t.equal(err.message, `Invalid jwt policy: keys[0].jwk: "alg" ${JSON.stringify(jwk.alg)} does not fit a ${String(jwk.kty)} key`)
        delete jwk.alg
      }

      const entry = jwkEntry(jwk, 'wycheproof') as KeyEntry
      t.ok(entry, 'the key imports')
      const app = await build(t, { keys: [{ jwk }], token: ['header:authorization', 'query:access_token'] })

      for (const tc of group.tests) {
        const alg = headerOf(tc.jws)?.alg
        if (typeof alg === 'string' && alg.toLowerCase() !== 'none' && !SUPPORTED.has(alg)) {
          // None in the current file; a future vector for an algorithm we do not implement.
          t.comment(`tcId ${tc.tcId}: skipped, alg ${alg} is not supported`)
          tally.skippedAlgorithm++
          continue
        }
        // The valid one of a contradictory pair runs; the invalid one is skipped.
        const twin = tc.result === 'invalid' ? group.tests.find((other) => other.jws === tc.jws && other.result === 'valid') : undefined
        if (twin !== undefined) {
          t.comment(`tcId ${tc.tcId} ${tc.comment}: skipped, the same token as tcId ${twin.tcId}, which is valid`)
          tally.skippedContradictory++
          continue
        }
        tally.run++
        const res = await send(app, tc.jws)
        const label = `tcId ${tc.tcId} ${tc.comment} (${tc.result})`
        t.ok(res.statusCode < 500, `${label}: never a 5xx`)
        const body = res.json() as { code?: string, message?: string }

        if (res.statusCode === 200) {
          t.ok(tc.result === 'valid' && isClaimsSet(tc.jws), `${label}: only a valid vector with a claims set may pass`)
          tally.accepted++
          continue
        }
        t.equal(res.statusCode, 401, `${label}: 401`)
        if (tc.jws === '') {
          // An empty token is no token.
          t.equal(body.code, 'FJG_ERR_TOKEN_MISSING', label)
          t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
          tally.refusedEarlier++
          continue
        }
        t.ok(INVALID_TOKEN_CODES.has(body.code as string), `${label}: ${body.code} is an invalid_token code`)
        t.equal(res.headers['www-authenticate'], `Bearer realm="api", error="invalid_token", error_description="${body.message as string}"`)

        const deviation = DEVIATIONS[tc.tcId]
        if (deviation !== undefined) {
          tally.deviations++
          t.equal(tc.result, 'valid', `${label}: a deviation is a valid vector we refuse`)
          t.strictSame([body.code, body.message], [deviation.code, deviation.message], `${label}: refused because ${deviation.why}`)
          continue
        }
        const onlyThePayload = body.code === 'FJG_ERR_TOKEN_MALFORMED' && PAYLOAD_ONLY.has(body.message as string)
        const accepted = onlyThePayload && signatureVerifies(entry, tc.jws)
        t.equal(accepted, tc.result === 'valid', `${label}: ${accepted ? 'accepted' : `refused (${body.code}: ${body.message})`}`)
        if (accepted) tally.accepted++
        else if (onlyThePayload) tally.refusedBySignature++
        else tally.refusedEarlier++
      }
    })
  })

  t.test('the padded tokens that tcId 367 and 370 are named after are refused', async (t) => {
    const group = file.testGroups.find((g) => g.tests.some((tc) => tc.tcId === 357)) as Group
    const valid = (group.tests.find((tc) => tc.tcId === 357) as TestCase).jws
    const [h, p, s] = valid.split('.') as [string, string, string]
    const app = await build(t, { keys: [{ jwk: publicJwk(group) }] })
    for (const jws of [`${h}.${p}.${s}=`, `${h}.${p}==.${s}`, `${h}=.${p}.${s}`]) {
      const res = await send(app, jws)
      t.equal(res.statusCode, 401)
      t.strictSame(res.json(), { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_MALFORMED', message: 'The token is malformed: not canonical base64url' })
    }
  })

  t.test('tally', async (t) => {
    // Pinned to the current file: a new vector file changes these on purpose.
    // refusedBySignature: invalid vectors that passed every other check and were
    // refused by the signature step alone (PKCS #1 and PSS padding, modified MACs...).
    // tcId 316-319 (RSA signatures of the wrong length) are refusedEarlier: the
    // verifier checks an RSA signature's length before anything else (issue 7).
    // ES* and EdDSA vectors with both a bad signature and a bad payload are
    // refusedEarlier too: on a cache miss those run on the thread pool, which
    // checks the signature before the payload is parsed (fast-jwt parses first).
    t.strictSame(tally, {
      run: 395, accepted: 42, refusedBySignature: 266, refusedEarlier: 83, refusedAtRegistration: 4, deviations: 4, skippedContradictory: 2, skippedAlgorithm: 0
    })
    t.equal(tally.accepted + tally.refusedBySignature + tally.refusedEarlier + tally.deviations, tally.run, 'every vector run has one outcome')
    t.equal(tally.run + tally.refusedAtRegistration + tally.skippedContradictory + tally.skippedAlgorithm, file.numberOfTests, 'every vector is counted once')
  })
}
