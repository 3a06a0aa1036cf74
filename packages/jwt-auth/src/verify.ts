import { compileDecoder, deepFreeze, isObject, malformed, PAYLOAD_NOT_OBJECT, payloadOf, type DecodedJws } from './decoder.js'
import { SeenFilter, TokenCache } from './cache.js'
import {
  FJG_ERR_TOKEN_AUDIENCE, FJG_ERR_TOKEN_CLAIM_TYPE, FJG_ERR_TOKEN_EXPIRED, FJG_ERR_TOKEN_INACTIVE, FJG_ERR_TOKEN_ISSUER,
  FJG_ERR_TOKEN_KEY_UNKNOWN, FJG_ERR_TOKEN_KEYS_UNAVAILABLE, FJG_ERR_TOKEN_REVOKED, FJG_ERR_TOKEN_SIGNATURE,
  FJG_ERR_TOKEN_TOO_LARGE, FJG_ERR_TOKEN_NOT_ENCRYPTED, type FjgError
} from './errors.js'
import type { Decryptor } from './decrypt.js'
import type { KeyStore } from './key-store.js'
import type { KeyEntry } from './keys.js'
import type { Revocation } from './revocation.js'
import { ecdsaShapeOk } from './signature.js'
import type { Algorithm, JsonValue, VerifiedJwt } from './types.js'

// Decoding lives in decoder.ts, signature checks in signature.ts; these two
// were imported from here before the split (fuzz tests, decrypt.ts).
export { countMembers, deepFreeze, isCanonicalBase64url } from './decoder.js'

export interface VerifierOptions {
  /** Null when signatures are not checked (`validateSig: false`). */
  keyStore: KeyStore | null
  algorithms: ReadonlySet<Algorithm>
  issuer: ReadonlySet<string> | null
  audience: ReadonlySet<string> | null
  /** Seconds. */
  leeway: number
  validateExp: boolean
  maxTokenSize: number
  cacheSize: number
  /** Milliseconds. */
  cacheTtl: number
  revocation: Revocation | null
  /**
   * A kid revocation list is set: a token without `kid` is refused before any
   * key is tried (as the nginx module requires a kid then), so a revoked key
   * cannot be reached by leaving the kid out (issue 10, point 5).
   */
  requireKid?: boolean
  /** `decrypt`: only JWEs are accepted; null (default) for plain JWS. */
  decrypt?: Decryptor | null
}

interface CacheEntry {
  jwt: VerifiedJwt
  /** ms since epoch after which the entry is dead: min(ttl, exp + leeway). */
  until: number
  /** The key that verified it: once it leaves its key set, the entry is dead too. */
  key: KeyEntry | null
}

export type Verify = (token: string) => VerifiedJwt | Promise<VerifiedJwt>

/** Four dots: a compact JWE (RFC 7516 §7.1), not a JWS. */
export function isJwe (token: string): boolean {
  let dots = 0
  for (let i = token.indexOf('.'); i !== -1 && dots < 5; i = token.indexOf('.', i + 1)) dots++
  return dots === 4
}

const NO_CLAIMS: Record<string, JsonValue> = Object.freeze({}) as Record<string, JsonValue>

type ClaimCheck = (header: Record<string, JsonValue>, payload: Record<string, JsonValue>, nowSec: number, key: KeyEntry | null) => void
type RevokedBy = (header: Record<string, JsonValue>, payload: Record<string, JsonValue>, key: KeyEntry | null) => boolean

/**
 * Revocation by what the token says and by the key that verified it: a
 * revoked kid refuses every token its key verifies, whatever the header
 * names (issue 10, point 5: a kid-less token was tried against every key).
 */
function compileRevokedBy (revocation: Revocation | null): RevokedBy {
  return (header, payload, key) => {
    if (revocation === null) return false
    if (revocation.revoked(header, payload)) return true
    return key !== null && key.kid !== null && key.kid !== header.kid && revocation.revoked({ kid: key.kid }, NO_CLAIMS)
  }
}

/** The registered claims every policy checks (RFC 7519 §4.1), and revocation; throws on failure. */
function compileClaimCheck (opts: VerifierOptions, revokedBy: RevokedBy): ClaimCheck {
  const { issuer, audience, validateExp, leeway } = opts
  return (header, payload, nowSec, key) => {
    const exp = payload.exp
    const nbf = payload.nbf
    if (exp !== undefined && typeof exp !== 'number') throw new FJG_ERR_TOKEN_CLAIM_TYPE('exp')
    if (nbf !== undefined && typeof nbf !== 'number') throw new FJG_ERR_TOKEN_CLAIM_TYPE('nbf')
    if (validateExp) {
      // RFC 7519 §4.1.4: expired "on or after" exp.
      if (exp !== undefined && nowSec >= exp + leeway) throw new FJG_ERR_TOKEN_EXPIRED()
      if (nbf !== undefined && nowSec < nbf - leeway) throw new FJG_ERR_TOKEN_INACTIVE()
    }
    if (issuer !== null) {
      const iss = payload.iss
      if (typeof iss !== 'string' || !issuer.has(iss)) throw new FJG_ERR_TOKEN_ISSUER()
    }
    if (audience !== null) {
      const aud = payload.aud
      let ok = false
      if (typeof aud === 'string') {
        ok = audience.has(aud)
      } else if (Array.isArray(aud)) {
        for (let i = 0; i < aud.length && !ok; i++) ok = typeof aud[i] === 'string' && audience.has(aud[i] as string)
      }
      if (!ok) throw new FJG_ERR_TOKEN_AUDIENCE()
    }
    if (revokedBy(header, payload, key)) throw new FJG_ERR_TOKEN_REVOKED()
  }
}

/** The payload's `iss` before the signature is checked (it only narrows the keys); null when absent or not a string. */
function issOf (d: DecodedJws): string | null {
  const iss = payloadOf(d).iss
  return typeof iss === 'string' ? iss : null
}

/**
 * Compiles a verifier: `verify(token)` returns the verified token, or a
 * promise of it where a key set must be fetched or a signature is checked on
 * the thread pool, or throws an FjgError. Per token: the cache, then decoding
 * (decoder.ts, once), then the signature with each candidate key's own
 * strategy (signature.ts), then the claims.
 */
export function compileVerifier (opts: VerifierOptions): { verify: Verify, cache: TokenCache<CacheEntry> | null } {
  const { keyStore, validateExp, leeway, cacheTtl, maxTokenSize } = opts
  const decryptor = opts.decrypt ?? null
  const cache = opts.cacheSize > 0 ? new TokenCache<CacheEntry>(opts.cacheSize) : null
  // A token is cached the second time it verifies (cache.ts, SeenFilter).
  const admission = cache === null ? null : new SeenFilter(opts.cacheSize)
  const decode = compileDecoder({ algorithms: opts.algorithms, requireKid: opts.requireKid === true })
  const revokedBy = compileRevokedBy(opts.revocation)
  const checkClaims = compileClaimCheck(opts, revokedBy)

  function remember (token: string, header: Record<string, JsonValue>, payload: Record<string, JsonValue>, key: KeyEntry | null, nowMs: number): VerifiedJwt {
    // Frozen whether cached or not: a cached one is shared between requests
    // from now on, and every verified token is the same kind of object.
    const jwt: VerifiedJwt = deepFreeze({ token, header, payload })
    if (cache !== null && (admission as SeenFilter).seen(token)) {
      let until = nowMs + cacheTtl
      const exp = payload.exp
      if (validateExp && typeof exp === 'number') until = Math.min(until, (exp + leeway) * 1000)
      cache.set(token, { jwt, until, key })
    }
    return jwt
  }

  function cached (token: string, nowMs: number): VerifiedJwt | null {
    if (cache === null) return null
    const hit = cache.get(token)
    if (hit === undefined) return null
    if (nowMs < hit.until && (hit.key === null || hit.key.active)) {
      // Revocation lists change while running: checked on every hit.
      if (revokedBy(hit.jwt.header, hit.jwt.payload, hit.key)) throw new FJG_ERR_TOKEN_REVOKED()
      return hit.jwt
    }
    cache.delete(token)
    return null
  }

  /**
   * On this thread: per candidate key, the signature's size, then the payload
   * and the signature in the key's order (payloadFirst: HMAC and RSA refuse a
   * bad payload as malformed before any MAC, as fast-jwt did; ECDSA and EdDSA
   * check the signature first, as on the thread pool). Parsed once either way.
   */
  function verifySync (d: DecodedJws, input: Buffer, signature: Buffer, candidates: readonly KeyEntry[], nowMs: number): VerifiedJwt {
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[i] as KeyEntry
      const check = entry.check
      // One algorithm is one key type (keys.ts): every candidate has the same kind of check.
      if (check.offThread || !check.fits(signature)) continue
      if (check.payloadFirst) payloadOf(d)
      if (!check.verify(d.alg, input, signature)) continue
      const payload = payloadOf(d)
      checkClaims(d.header, payload, nowMs / 1000, entry)
      return remember(d.token, d.header, payload, entry, nowMs)
    }
    throw new FJG_ERR_TOKEN_SIGNATURE()
  }

  /** ECDSA and EdDSA, on the thread pool (signature.ts PoolSignatureCheck); the payload once the signature holds. */
  function verifyOffThread (d: DecodedJws, input: Buffer, signature: Buffer, candidates: readonly KeyEntry[]): Promise<VerifiedJwt> {
    return new Promise((resolve, reject) => {
      let i = 0
      const next = (): void => {
        if (i === candidates.length) return reject(new FJG_ERR_TOKEN_SIGNATURE())
        const entry = candidates[i++] as KeyEntry
        const check = entry.check
        if (!check.offThread) return next()
        check.verify(d.alg, input, signature, (ok) => {
          if (!ok) return next()
          try {
            const payload = payloadOf(d)
            const nowMs = Date.now()
            checkClaims(d.header, payload, nowMs / 1000, entry)
            resolve(remember(d.token, d.header, payload, entry, nowMs))
          } catch (e) {
            reject(e)
          }
        })
      }
      next()
    })
  }

  function verifyWith (d: DecodedJws, signature: Buffer, candidates: readonly KeyEntry[], nowMs: number): VerifiedJwt | Promise<VerifiedJwt> {
    // The signing input (RFC 7515 §5.2): ASCII, so latin1 is its bytes.
    const input = Buffer.from(d.token.slice(0, d.dot2), 'latin1')
    if ((candidates[0] as KeyEntry).check.offThread) return verifyOffThread(d, input, signature, candidates)
    return verifySync(d, input, signature, candidates, nowMs)
  }

  function noKey (): FjgError {
    return (keyStore !== null && keyStore.degraded()
      ? new FJG_ERR_TOKEN_KEYS_UNAVAILABLE()
      : new FJG_ERR_TOKEN_KEY_UNKNOWN()) as FjgError
  }

  /**
   * `decrypt`: the size cap (checked before) bounds the JWE, and without `zip`
   * the plaintext is smaller still. Nested: the plaintext is a JWS that goes
   * through everything below (and is cached as a JWS; a bare JWS is refused
   * before any cache lookup, so it cannot reach that entry). Encrypted: the
   * plaintext is the claims, cached under the whole JWE.
   */
  function verifyJwe (dec: Decryptor, token: string): VerifiedJwt | Promise<VerifiedJwt> {
    if (!isJwe(token)) throw new FJG_ERR_TOKEN_NOT_ENCRYPTED()
    if (dec.type === 'encrypted') {
      const hit = cached(token, Date.now())
      if (hit !== null) return hit
    }
    return dec.open(token).then((opened) => {
      if (dec.type === 'nested') return verifyJws(opened.plaintext)
      let payload: unknown
      try {
        payload = JSON.parse(opened.plaintext)
      } catch {
        throw malformed(opened.plaintext.split('.').length === 3 ? 'the JWE holds a JWS, not claims (use decrypt.type nested)' : PAYLOAD_NOT_OBJECT)
      }
      if (!isObject(payload)) throw malformed(PAYLOAD_NOT_OBJECT)
      const header = opened.header as Record<string, JsonValue>
      const nowMs = Date.now()
      checkClaims(header, payload, nowMs / 1000, null)
      return remember(token, header, payload, null, nowMs)
    })
  }

  function verify (token: string): VerifiedJwt | Promise<VerifiedJwt> {
    if (token.length > maxTokenSize) throw new FJG_ERR_TOKEN_TOO_LARGE(maxTokenSize)
    if (decryptor !== null) return verifyJwe(decryptor, token)
    return verifyJws(token)
  }

  function verifyJws (token: string): VerifiedJwt | Promise<VerifiedJwt> {
    const nowMs = Date.now()
    const hit = cached(token, nowMs)
    if (hit !== null) return hit
    const d = decode(token)

    if (keyStore === null) {
      // validateSig: false — decode only (a start-up warning says so).
      const payload = payloadOf(d)
      checkClaims(d.header, payload, nowMs / 1000, null)
      return remember(token, d.header, payload, null, nowMs)
    }

    if (d.dot2 === token.length - 1) throw new FJG_ERR_TOKEN_SIGNATURE()
    const signature = Buffer.from(token.slice(d.dot2 + 1), 'base64url')
    // A wrong ECDSA shape is refused before any key or crypto (signature.ts).
    if (!ecdsaShapeOk(d.alg, signature)) throw new FJG_ERR_TOKEN_SIGNATURE()

    // Keys bound to issuers: the token's (unverified) `iss` picks the keys that
    // may verify it, before the kid does; the signature then proves it. Read
    // only when some key is bound (the payload is still parsed once: payloadOf).
    const iss = keyStore.boundIssuers.size === 0 ? null : issOf(d)
    if (!keyStore.issuerKnown(iss)) throw new FJG_ERR_TOKEN_ISSUER()
    const candidates = keyStore.find(d.kid, d.alg, iss)
    if (candidates.length > 0) return verifyWith(d, signature, candidates, nowMs)

    // Nobody has this kid: a rotation we have not seen yet, or a forged kid.
    // The store refetches within its cooldown; either way we never hang.
    const pending = keyStore.refreshForKid(d.kid)
    if (pending === null) throw noKey()
    return pending.then(() => {
      const again = keyStore.find(d.kid, d.alg, iss)
      if (again.length === 0) throw noKey()
      return verifyWith(d, signature, again, Date.now())
    })
  }

  return { verify, cache }
}
