// Real keys, generated in-process for every run (nothing on disk), and tokens
// minted with fast-jwt's signer. Shared by verify.mjs, run.mjs and memory.mjs.

import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'

export const ALGORITHMS = ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA']

const ASYMMETRIC = {
  RS256: ['rsa', { modulusLength: 2048 }],
  PS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  EdDSA: ['ed25519', {}]
}

/**
 * One key (pair) for `alg`, in every shape the contenders take:
 * - `policy`: our jwt-auth policy (secret, or an inline public JWK pinned to `alg`);
 * - `verifyKey`: what fast-jwt's createVerifier and @fastify/jwt take (secret or public PEM);
 * - `signKey`: what fast-jwt's createSigner takes.
 * Everything here is plain data, so it can cross to a child process over IPC.
 */
export function makeKey (alg) {
  if (alg === 'HS256') {
    // 256 bits as hex text: our `secret` is a UTF-8 string, and the same bytes go to fast-jwt.
    const secret = randomBytes(32).toString('hex')
    return { alg, kid: null, signKey: secret, verifyKey: secret, policy: { secret, algorithms: [alg] } }
  }
  const spec = ASYMMETRIC[alg]
  if (spec === undefined) throw new Error(`unknown algorithm ${alg}`)
  const { privateKey, publicKey } = generateKeyPairSync(spec[0], spec[1])
  const kid = `bench-${alg.toLowerCase()}`
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
  return {
    alg,
    kid,
    signKey: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    verifyKey: publicKey.export({ type: 'spki', format: 'pem' }),
    policy: { keys: [{ jwk }], algorithms: [alg] }
  }
}

/** A function minting distinct tokens: `mint(i)`; `i` goes into `sub` and `jti`. */
export function minter (key, { ttl = 3600 } = {}) {
  const sign = createSigner({
    key: key.signKey,
    algorithm: key.alg,
    kid: key.kid ?? undefined,
    expiresIn: ttl * 1000,
    noTimestamp: false
  })
  return (i) => sign({ sub: `user-${i}`, jti: `t-${i}`, role: 'reader', iss: 'https://issuer.bench' })
}

/** `n` distinct tokens. RSA signing is the slow one (~1-2k/s on one core). */
export function mintPool (key, n, opts) {
  const mint = minter(key, opts)
  const pool = new Array(n)
  for (let i = 0; i < n; i++) pool[i] = mint(i)
  return pool
}
