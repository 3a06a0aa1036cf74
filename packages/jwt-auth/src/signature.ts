import { constants, createHmac, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { availableParallelism } from 'node:os'
import type { Algorithm } from './types.js'

// How a signature is checked: one strategy per key, chosen when the key loads
// (keys.ts), over the key's KeyObject, so a verify never parses key material.
// node:crypto directly: the same primitives fast-jwt's verifySignature calls,
// without decoding the token a second time (README, "How a token is verified").

/** The hash of each algorithm; null: EdDSA hashes internally (RFC 8037 §3.1). */
const HASH: Readonly<Record<Algorithm, string | null>> = {
  HS256: 'sha256',
  HS384: 'sha384',
  HS512: 'sha512',
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  ES256K: 'sha256',
  EdDSA: null,
  Ed25519: null
}

// RFC 7518 §3.4: an ECDSA JWS signature is R || S, each the size of the curve order.
const ECDSA_SIZE: Partial<Record<Algorithm, number>> = { ES256: 32, ES384: 48, ES512: 66, ES256K: 32 }

/**
 * Checked on the calling thread: HMAC and RSA always (2-18 µs, less than a
 * thread hand-off), ECDSA and EdDSA where the machine has no core to spare.
 */
export interface SyncSignatureCheck {
  readonly offThread: false
  /**
   * The payload is parsed before the signature is checked: HMAC and RSA, as
   * fast-jwt did (a bad payload is refused as malformed before any MAC). ECDSA
   * and EdDSA check the signature first, wherever they run, so a token gets
   * the same answer on every machine.
   */
  readonly payloadFirst: boolean
  /** The signature has the size this key's signatures have; false: not this key's, try the next. */
  fits (signature: Buffer): boolean
  verify (alg: Algorithm, input: Buffer, signature: Buffer): boolean
}

/**
 * ECDSA and EdDSA on libuv's thread pool (crypto.verify with a callback): the
 * event loop serves other requests during the 45-70 µs a check takes. Chosen
 * where the machine has cores to spare (ecThreadPool below).
 */
export interface PoolSignatureCheck {
  readonly offThread: true
  verify (alg: Algorithm, input: Buffer, signature: Buffer, done: (ok: boolean) => void): void
}

export type SignatureCheck = SyncSignatureCheck | PoolSignatureCheck

/**
 * Where ECDSA and EdDSA checks run: on the thread pool when this process has
 * more than 2 cores, on the calling thread otherwise. A pool check costs the
 * same signature plus a thread hand-off: two wake-ups when the pool is idle,
 * measured at +40 µs of CPU per check with one in flight on our 2 cores
 * (+3 µs with 50 queued). On 2 cores the event loop and the pool share the
 * only other core with the upstream and everything else, so that hand-off is
 * CPU taken from requests; with more cores it buys a free event loop.
 * Measured (benchmarks/run.mjs, 2 cores): README, "How a token is verified".
 */
let ecThreadPool = availableParallelism() > 2

/**
 * Overrides that choice for keys loaded from now on (internal: the tests run
 * both strategies on any machine). Returns the previous value.
 */
export function setEcThreadPool (on: boolean): boolean {
  const was = ecThreadPool
  ecThreadPool = on
  return was
}

const anySize = (): boolean => true

/** HMAC (RFC 7518 §3.2): the MAC computed again and compared in constant time. */
export function hmacCheck (key: KeyObject): SyncSignatureCheck {
  return {
    offThread: false,
    payloadFirst: true,
    // The MAC's length is checked by verify: the payload is decoded first, as fast-jwt did.
    fits: anySize,
    verify (alg, input, signature) {
      const mac = createHmac(HASH[alg] as string, key).update(input).digest()
      // timingSafeEqual throws on different lengths; a length is no secret.
      return mac.length === signature.length && timingSafeEqual(mac, signature)
    }
  }
}

/**
 * RSASSA-PKCS1-v1_5 (RS*) and RSASSA-PSS (PS*, salt as long as the hash, RFC
 * 7518 §3.5). RFC 8017 §8.1.2 and §8.2.2, step 1: a signature is exactly as
 * long as the modulus. OpenSSL 3 checks this for PKCS#1 v1.5 but not for PSS,
 * where a signature with its leading zero byte dropped verified (found in
 * issue 7): a second spelling of the same token. Refused before anything else.
 */
export function rsaCheck (key: KeyObject): SyncSignatureCheck {
  const size = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
  // One options object per padding, made once: nothing is allocated per verify.
  const pkcs1 = { key, padding: constants.RSA_PKCS1_PADDING }
  const pss = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
  return {
    offThread: false,
    payloadFirst: true,
    fits: (signature) => signature.length === size,
    verify (alg, input, signature) {
      try {
        return cryptoVerify(HASH[alg] as string, input, alg.charCodeAt(0) === 0x50 /* 'P' */ ? pss : pkcs1, signature)
      } catch {
        // OpenSSL refused the input itself: not a signature of this key.
        return false
      }
    }
  }
}

/** ECDSA (with JWS's R || S, OpenSSL's ieee-p1363 form) and EdDSA, on the thread pool. */
export function poolCheck (key: KeyObject): PoolSignatureCheck {
  const options = asymmetricOptions(key)
  return {
    offThread: true,
    verify (alg, input, signature, done) {
      try {
        cryptoVerify(HASH[alg], input, options, signature, (err, ok) => done(err === null && ok))
      } catch {
        done(false)
      }
    }
  }
}

/** ECDSA and EdDSA on the calling thread: the same check as poolCheck, without the hand-off. */
export function ecCheck (key: KeyObject): SyncSignatureCheck {
  const options = asymmetricOptions(key)
  return {
    offThread: false,
    payloadFirst: false,
    // The size of an ECDSA signature is checked before any key (ecdsaShapeOk).
    fits: anySize,
    verify (alg, input, signature) {
      try {
        return cryptoVerify(HASH[alg], input, options, signature)
      } catch {
        return false
      }
    }
  }
}

function asymmetricOptions (key: KeyObject): { key: KeyObject, dsaEncoding: 'ieee-p1363' } {
  // dsaEncoding applies to ECDSA only; EdDSA signatures are raw bytes anyway.
  return { key, dsaEncoding: 'ieee-p1363' }
}

/** The strategy of a key of this type (keys.ts picks it when the key loads; EC and OKP: see ecThreadPool). */
export function signatureCheck (kty: 'oct' | 'RSA' | 'EC' | 'OKP', key: KeyObject): SignatureCheck {
  if (kty === 'oct') return hmacCheck(key)
  if (kty === 'RSA') return rsaCheck(key)
  return ecThreadPool ? poolCheck(key) : ecCheck(key)
}

/**
 * The shape of an ECDSA signature, before any key is looked up: the size of
 * the curve order twice, and neither R nor S zero. A zero R or S verifies
 * everything in broken implementations (CVE-2022-21449). True for other algorithms.
 */
export function ecdsaShapeOk (alg: Algorithm, signature: Buffer): boolean {
  const size = ECDSA_SIZE[alg]
  if (size === undefined) return true
  return signature.length === 2 * size && !isZero(signature, 0, size) && !isZero(signature, size, 2 * size)
}

function isZero (buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false
  return true
}
