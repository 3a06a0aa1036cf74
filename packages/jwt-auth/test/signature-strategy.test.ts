// ECDSA and EdDSA checks run on libuv's thread pool on machines with more than
// 2 cores and on the calling thread otherwise (signature.ts, ecThreadPool).
// Both strategies must give every token the same answer, in the same order of
// checks: run here on any machine by forcing each in turn.
import t from 'tap'
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { compilePolicy, setEcThreadPool, type JwtPolicy } from '../src/internal.js'

interface Curve { alg: string, type: 'ec' | 'ed25519', curve?: string, hash: string | null }
const CURVES: Curve[] = [
  { alg: 'ES256', type: 'ec', curve: 'P-256', hash: 'sha256' },
  { alg: 'ES384', type: 'ec', curve: 'P-384', hash: 'sha384' },
  { alg: 'ES512', type: 'ec', curve: 'P-521', hash: 'sha512' },
  { alg: 'ES256K', type: 'ec', curve: 'secp256k1', hash: 'sha256' },
  { alg: 'EdDSA', type: 'ed25519', hash: null }
]

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url')

function keyPair (c: Curve): { privateKey: KeyObject, jwk: Record<string, unknown> } {
  const { privateKey, publicKey } = c.type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: c.curve as string })
    : generateKeyPairSync('ed25519')
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> }
}

/** A compact JWS over these exact payload bytes (not necessarily JSON). */
function jws (c: Curve, key: KeyObject, payload: string, header: Record<string, unknown> = {}): string {
  const input = `${b64(JSON.stringify({ alg: c.alg, ...header }))}.${b64(payload)}`
  const sig = sign(c.hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
  return `${input}.${b64(sig)}`
}

/** What verify answers: the payload, or the refusal's code and message; and whether it went through a promise. */
async function outcome (policy: ReturnType<typeof compilePolicy>, token: string): Promise<{ async: boolean, result: unknown }> {
  let r: unknown
  try {
    r = policy.verify(token)
  } catch (err) {
    return { async: false, result: refusal(err) }
  }
  const async = typeof (r as Promise<unknown>)?.then === 'function'
  try {
    return { async, result: (await r as { payload: unknown }).payload }
  } catch (err) {
    return { async, result: refusal(err) }
  }
}

function refusal (err: unknown): unknown {
  const e = err as { code?: string, message?: string }
  return { code: e.code, message: e.message }
}

const now = Math.floor(Date.now() / 1000)

for (const c of CURVES) {
  t.test(`${c.alg}: the thread pool and the calling thread give the same answers`, async (t) => {
    const signer = keyPair(c)
    const other = keyPair(c)
    const claims = JSON.stringify({ sub: 'alice', exp: now + 600 })
    const cases: Record<string, string> = {
      valid: jws(c, signer.privateKey, claims),
      'signed by another key': jws(c, other.privateKey, claims),
      'payload not JSON, good signature': jws(c, signer.privateKey, 'not json'),
      // The signature is checked first: refused as a bad signature, not as malformed.
      'payload not JSON, bad signature': jws(c, other.privateKey, 'not json'),
      expired: jws(c, signer.privateKey, JSON.stringify({ sub: 'alice', exp: now - 600 })),
      'kid of the second key': jws(c, signer.privateKey, claims, { kid: 'b' }),
      'kid of the second key, signed by the first': jws(c, other.privateKey, claims, { kid: 'b' })
    }
    const policies = {
      one: { keys: [{ jwk: signer.jwk }], algorithms: [c.alg] },
      // Two kid-less keys: the wrong one is tried first, the right one then.
      two: { keys: [{ jwk: other.jwk }, { jwk: signer.jwk }], algorithms: [c.alg] },
      kids: { keys: [{ jwk: { ...other.jwk, kid: 'a' } }, { jwk: { ...signer.jwk, kid: 'b' } }], algorithms: [c.alg] }
    } as unknown as Record<string, JwtPolicy>

    const answers: Record<string, Record<string, unknown>> = {}
    for (const pool of [true, false]) {
      const was = setEcThreadPool(pool)
      try {
        for (const [p, policy] of Object.entries(policies)) {
          // A fresh policy per strategy: the check is chosen when its keys load.
          const compiled = compilePolicy({ ...policy, cache: false })
          for (const [name, token] of Object.entries(cases)) {
            const o = await outcome(compiled, token)
            const id = `${p} / ${name}`
            // Only a token refused before any signature check answers synchronously on the pool.
            if (pool && o.async === false) t.fail(`${id}: answered without the thread pool`)
            if (!pool) t.equal(o.async, false, `${id}: answered on the calling thread`)
            answers[id] ??= {}
            ;(answers[id] as Record<string, unknown>)[pool ? 'pool' : 'inline'] = o.result
          }
        }
      } finally {
        setEcThreadPool(was)
      }
    }
    for (const [id, a] of Object.entries(answers)) t.strictSame(a.inline, a.pool, `${id}: same answer`)

    // What those answers are, so "the same" is not "the same failure".
    const sig = { code: 'FJG_ERR_TOKEN_SIGNATURE' }
    t.match(answers['one / valid']?.inline, { sub: 'alice' })
    t.match(answers['two / valid']?.inline, { sub: 'alice' })
    t.match(answers['kids / kid of the second key']?.inline, { sub: 'alice' })
    t.match(answers['one / signed by another key']?.inline, sig)
    t.match(answers['one / payload not JSON, bad signature']?.inline, sig)
    t.match(answers['one / payload not JSON, good signature']?.inline, { code: 'FJG_ERR_TOKEN_MALFORMED' })
    t.match(answers['one / expired']?.inline, { code: 'FJG_ERR_TOKEN_EXPIRED' })
    // A kid-less token is tried against every key: the first one verifies it.
    t.match(answers['kids / signed by another key']?.inline, { sub: 'alice' })
    t.match(answers['kids / kid of the second key, signed by the first']?.inline, sig)
  })
}
