import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { createDecoder, createVerifier, TokenError } from 'fast-jwt'
import { TokenCache } from './cache.js'
import {
  FJG_ERR_TOKEN_ALGORITHM, FJG_ERR_TOKEN_AUDIENCE, FJG_ERR_TOKEN_CLAIM_TYPE, FJG_ERR_TOKEN_CRIT,
  FJG_ERR_TOKEN_EXPIRED, FJG_ERR_TOKEN_INACTIVE, FJG_ERR_TOKEN_ISSUER, FJG_ERR_TOKEN_KEY_UNKNOWN,
  FJG_ERR_TOKEN_KEYS_UNAVAILABLE, FJG_ERR_TOKEN_MALFORMED, FJG_ERR_TOKEN_REVOKED, FJG_ERR_TOKEN_SIGNATURE,
  FJG_ERR_TOKEN_TOO_LARGE, FJG_ERR_TOKEN_KID_REQUIRED, FJG_ERR_TOKEN_NOT_ENCRYPTED, type FjgError
} from './errors.js'
import type { Decryptor } from './decrypt.js'
import type { KeyStore } from './key-store.js'
import type { KeyEntry } from './keys.js'
import type { Revocation } from './revocation.js'
import type { Algorithm, JsonValue, VerifiedJwt } from './types.js'

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

// RFC 7518 §3.4: an ECDSA JWS signature is R || S, each the size of the curve order.
const ECDSA_SIZE: Partial<Record<Algorithm, number>> = { ES256: 32, ES384: 48, ES512: 66, ES256K: 32 }
/** The digest of each algorithm checked with node:crypto (null: EdDSA hashes internally). */
const DIGEST: Partial<Record<Algorithm, string | null>> = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', ES256K: 'sha256', EdDSA: null, Ed25519: null }

// base64url alphabet (RFC 4648 §5) as a lookup table: 1 = allowed character.
const B64URL = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') B64URL[c.charCodeAt(0)] = 1
// Value of each character, to check that the unused low bits of the last one are zero.
const B64VAL = new Uint8Array(128)
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => { B64VAL[c.charCodeAt(0)] = i })

/**
 * Canonical unpadded base64url (RFC 7515 §2, RFC 4648 §3.5): only the alphabet,
 * no padding, a length that is not 1 mod 4, and zero unused bits in the last
 * character. Node's decoder accepts all of these silently, so two different
 * strings would decode to the same bytes: a token must have one spelling.
 */
export function isCanonicalBase64url (s: string, from: number, to: number): boolean {
  const len = to - from
  const rem = len & 3
  if (rem === 1) return false
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c > 127 || B64URL[c] === 0) return false
  }
  if (rem === 0 || len === 0) return true
  const last = B64VAL[s.charCodeAt(to - 1)] as number
  // 2 chars carry 8 bits (4 unused), 3 chars carry 16 bits (2 unused).
  return rem === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0
}

/** Four dots: a compact JWE (RFC 7516 §7.1), not a JWS. */
export function isJwe (token: string): boolean {
  let dots = 0
  for (let i = token.indexOf('.'); i !== -1 && dots < 5; i = token.indexOf('.', i + 1)) dots++
  return dots === 4
}

function isObject (v: unknown): v is Record<string, JsonValue> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

// Iterative, not recursive: JSON.parse accepts any depth, so a signed payload
// may nest arrays tens of thousands of levels deep; recursing here overflowed
// the stack and turned a valid token into an uncoded error (issue 7).
export function deepFreeze<T> (root: T): T {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      Object.freeze(v)
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k])
    }
  }
  return root
}

/**
 * Members of the top-level object in `json`, text that JSON.parse has already
 * accepted (so it is well formed): one ':' per member at depth 1, outside
 * strings. Fewer keys after parsing than this means a repeated name.
 */
export function countMembers (json: string): number {
  let depth = 0
  let members = 0
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: the next character is escaped
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      depth++
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    } else if (c === 0x3a && depth === 1) {
      members++
    }
  }
  return members
}

/**
 * fast-jwt's error codes → ours, keeping the original as `cause`. Anything
 * unexpected is a signature failure: a client's token must never cause a 5xx.
 */
export function translateError (err: unknown): FjgError {
  const code = (err as { code?: string })?.code
  switch (code) {
    case TokenError.codes.malformed:
    case TokenError.codes.invalidPayload:
    case TokenError.codes.invalidType:
      // Our own checks ran first (parts, base64url, header), so what fast-jwt
      // still finds malformed is the payload: say so, as the thread-pool path does.
      return new FJG_ERR_TOKEN_MALFORMED(/payload/i.test((err as Error).message) ? PAYLOAD_NOT_OBJECT : 'not a JWS compact serialization', { cause: err }) as FjgError
    case TokenError.codes.invalidAlgorithm:
      return new FJG_ERR_TOKEN_ALGORITHM({ cause: err }) as FjgError
    case TokenError.codes.invalidCritHeader:
      return new FJG_ERR_TOKEN_CRIT({ cause: err }) as FjgError
    case TokenError.codes.expired:
      return new FJG_ERR_TOKEN_EXPIRED({ cause: err }) as FjgError
    case TokenError.codes.inactive:
      return new FJG_ERR_TOKEN_INACTIVE({ cause: err }) as FjgError
    case TokenError.codes.invalidClaimType:
    case TokenError.codes.invalidClaimValue:
      return new FJG_ERR_TOKEN_CLAIM_TYPE('of the token', { cause: err }) as FjgError
    default:
      return new FJG_ERR_TOKEN_SIGNATURE({ cause: err }) as FjgError
  }
}

const PAYLOAD_NOT_OBJECT = 'the payload is not a JSON object'

/** The payload's `iss` before the signature is checked (it only narrows the keys); null when absent or not a string. */
function issOf (token: string, dot1: number, dot2: number): string | null {
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8'))
  } catch {
    throw new FJG_ERR_TOKEN_MALFORMED(PAYLOAD_NOT_OBJECT)
  }
  if (!isObject(payload)) throw new FJG_ERR_TOKEN_MALFORMED(PAYLOAD_NOT_OBJECT)
  return typeof payload.iss === 'string' ? payload.iss : null
}
const NO_CLAIMS: Record<string, JsonValue> = Object.freeze({}) as Record<string, JsonValue>
const malformed: (why: string) => FjgError = (why) => new FJG_ERR_TOKEN_MALFORMED(why) as FjgError

type Decoded = { header: Record<string, JsonValue>, payload: Record<string, JsonValue> }
type RawVerify = (token: string) => { header: unknown, payload: unknown }

/**
 * Compiles a verifier: `verify(token)` returns the verified token, or a
 * promise of it where a key set must be fetched first, or throws an FjgError.
 */
export function compileVerifier (opts: VerifierOptions): { verify: Verify, cache: TokenCache<CacheEntry> | null } {
  const { keyStore, algorithms, issuer, audience, validateExp, maxTokenSize, revocation } = opts
  const requireKid = opts.requireKid === true
  const decryptor = opts.decrypt ?? null
  const leeway = opts.leeway
  const cacheTtl = opts.cacheTtl
  const cache = opts.cacheSize > 0 ? new TokenCache<CacheEntry>(opts.cacheSize) : null
  const decodeOnly = createDecoder({ complete: true }) as unknown as RawVerify

  // One fast-jwt verifier per key, built on first use and dropped with the key:
  // fast-jwt re-parses a key given as a function on every call (TOOLCHAIN.md),
  // so each verifier closes over one concrete key.
  const verifiers = new WeakMap<KeyEntry, RawVerify>()
  const verifierFor = (entry: KeyEntry): RawVerify => {
    let v = verifiers.get(entry)
    if (v === undefined) {
      const inner = createVerifier({
        key: entry.material,
        // Only HMAC and RSA reach fast-jwt (EC and OKP go through node:crypto, below).
        algorithms: entry.algorithms.filter((a) => algorithms.has(a)) as Array<Exclude<Algorithm, 'Ed25519' | 'ES256K'>>,
        complete: true,
        cache: false,
        // Time claims are ours (below): one behaviour for both validateSig modes.
        ignoreExpiration: true,
        ignoreNotBefore: true
      }) as unknown as RawVerify
      v = entry.kty === 'RSA' ? rsaLengthChecked(inner, entry) : inner
      verifiers.set(entry, v)
    }
    return v
  }

  /** The claims fast-jwt does not check for us, and revocation; throws on failure. */
  function checkClaims (header: Record<string, JsonValue>, payload: Record<string, JsonValue>, nowSec: number, key: KeyEntry | null): void {
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

  /**
   * Revocation by what the token says and by the key that verified it: a
   * revoked kid refuses every token its key verifies, whatever the header
   * names (issue 10, point 5: a kid-less token was tried against every key).
   */
  function revokedBy (header: Record<string, JsonValue>, payload: Record<string, JsonValue>, key: KeyEntry | null): boolean {
    if (revocation === null) return false
    if (revocation.revoked(header, payload)) return true
    return key !== null && key.kid !== null && key.kid !== header.kid && revocation.revoked({ kid: key.kid }, NO_CLAIMS)
  }

  function remember (token: string, decoded: Decoded, key: KeyEntry | null, nowMs: number): VerifiedJwt {
    const jwt: VerifiedJwt = { token, header: decoded.header, payload: decoded.payload }
    if (cache !== null) {
      let until = nowMs + cacheTtl
      const exp = decoded.payload.exp
      if (validateExp && typeof exp === 'number') until = Math.min(until, (exp + leeway) * 1000)
      // Shared between requests from now on: nobody may change it.
      deepFreeze(jwt)
      cache.set(token, { jwt, until, key })
    }
    return jwt
  }

  /** Signature check against the candidate keys, then the claims. */
  function verifyWith (token: string, candidates: readonly KeyEntry[], nowMs: number): VerifiedJwt {
    let lastError: unknown = null
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[i] as KeyEntry
      let decoded: { header: unknown, payload: unknown }
      try {
        decoded = verifierFor(entry)(token)
      } catch (err) {
        // A wrong key is a signature failure: try the next candidate.
        if ((err as { code?: string }).code === TokenError.codes.invalidSignature) {
          lastError = err
          continue
        }
        throw translateError(err)
      }
      if (!isObject(decoded.payload)) throw malformed('the payload is not a JSON object')
      const d = decoded as Decoded
      checkClaims(d.header, d.payload, nowMs / 1000, entry)
      return remember(token, d, entry, nowMs)
    }
    throw new FJG_ERR_TOKEN_SIGNATURE(lastError === null ? undefined : { cause: lastError })
  }

  // ECDSA and EdDSA checks cost 45-60 µs of CPU each (P-256, Ed25519 on our
  // machines), more than a whole proxied request. On a cache miss they run on
  // libuv's thread pool (crypto.verify with a callback), so the event loop
  // keeps serving other requests meanwhile; HMAC and RSA (2-18 µs) stay on
  // fast-jwt's synchronous path, where a thread hop would cost more than it saves.
  // Measured (benchmarks/run.mjs, 2 cores, same run): gateway + ES256 with
  // distinct tokens 0.385× → 0.49× of no-auth, EdDSA 0.30× → 0.45×; RS256 did
  // not gain beyond the noise (0.61× → 0.66×, overlapping ranges).
  const keyObjects = new WeakMap<KeyEntry, KeyObject>()
  function keyObjectOf (entry: KeyEntry): KeyObject {
    let k = keyObjects.get(entry)
    if (k === undefined) keyObjects.set(entry, (k = createPublicKey(entry.material as string)))
    return k
  }

  function verifyOffThread (token: string, header: Record<string, JsonValue>, alg: Algorithm, candidates: readonly KeyEntry[], dot1: number, dot2: number): Promise<VerifiedJwt> {
    const input = Buffer.from(token.slice(0, dot2), 'latin1')
    const signature = Buffer.from(token.slice(dot2 + 1), 'base64url')
    const hash = DIGEST[alg] ?? null
    return new Promise((resolve, reject) => {
      let i = 0
      const next = (): void => {
        if (i === candidates.length) return reject(new FJG_ERR_TOKEN_SIGNATURE())
        const entry = candidates[i++] as KeyEntry
        // RFC 7518 §3.4: JWS carries R || S, which is OpenSSL's ieee-p1363 form.
        cryptoVerify(hash, input, { key: keyObjectOf(entry), dsaEncoding: 'ieee-p1363' }, signature, (err, ok) => {
          if (err !== null || !ok) return next()
          try {
            let payload: unknown
            try {
              payload = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8'))
            } catch {
              throw malformed(PAYLOAD_NOT_OBJECT)
            }
            if (!isObject(payload)) throw malformed('the payload is not a JSON object')
            const nowMs = Date.now()
            checkClaims(header, payload, nowMs / 1000, entry)
            resolve(remember(token, { header, payload }, entry, nowMs))
          } catch (e) {
            reject(e)
          }
        })
      }
      next()
    })
  }

  function noKey (): FjgError {
    return (keyStore !== null && keyStore.degraded()
      ? new FJG_ERR_TOKEN_KEYS_UNAVAILABLE()
      : new FJG_ERR_TOKEN_KEY_UNKNOWN()) as FjgError
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
      return remember(token, { header, payload }, null, nowMs)
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

    // Structure and header first, by hand: the kid and alg pick the key, and
    // everything here must be rejected before any key or crypto is involved.
    const dot1 = token.indexOf('.')
    const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1)
    if (dot1 <= 0 || dot2 === -1 || token.indexOf('.', dot2 + 1) !== -1) throw malformed('a JWS has three parts')
    if (dot2 === dot1 + 1) throw malformed('the payload is empty')
    if (!isCanonicalBase64url(token, 0, dot1) || !isCanonicalBase64url(token, dot1 + 1, dot2) ||
      !isCanonicalBase64url(token, dot2 + 1, token.length)) {
      throw malformed('not canonical base64url')
    }
    let header: unknown
    let headerJson: string
    try {
      headerJson = Buffer.from(token.slice(0, dot1), 'base64url').toString('utf8')
      header = JSON.parse(headerJson)
    } catch {
      throw malformed('the header is not JSON')
    }
    if (!isObject(header)) throw malformed('the header is not a JSON object')
    // RFC 7515 §5.2: a repeated header name is rejected or the last one wins.
    // We reject: the header is read before the signature is checked and picks
    // the algorithm and the key, and a second "alg", "kid" or "crit" is a probe
    // for a component that keeps the first one, never what an issuer signs.
    // (The payload keeps JSON.parse's last-wins: it is signed and parsed once.)
    if (countMembers(headerJson) !== Object.keys(header).length) throw malformed('a header member is repeated')
    const alg = header.alg
    // "none" is never in `algorithms` (policy.ts refuses it), so it fails here in every spelling.
    if (typeof alg !== 'string' || !algorithms.has(alg as Algorithm)) throw new FJG_ERR_TOKEN_ALGORITHM()
    // RFC 7515 §4.1.11: we understand no extension, so any `crit` makes the token invalid.
    if (header.crit !== undefined) throw new FJG_ERR_TOKEN_CRIT()
    const kid = header.kid
    if (kid !== undefined && typeof kid !== 'string') throw malformed('"kid" is not a string')
    if (requireKid && kid === undefined) throw new FJG_ERR_TOKEN_KID_REQUIRED()

    if (keyStore === null) {
      // validateSig: false — decode only (a start-up warning says so).
      let decoded: { header: unknown, payload: unknown }
      try {
        decoded = decodeOnly(token)
      } catch (err) {
        throw translateError(err)
      }
      if (!isObject(decoded.payload)) throw malformed('the payload is not a JSON object')
      const d = decoded as Decoded
      checkClaims(d.header, d.payload, nowMs / 1000, null)
      return remember(token, d, null, nowMs)
    }

    if (dot2 === token.length - 1) throw new FJG_ERR_TOKEN_SIGNATURE()
    const ecSize = ECDSA_SIZE[alg as Algorithm]
    if (ecSize !== undefined) {
      // A zero r or s verifies everything in broken implementations
      // (CVE-2022-21449): refuse it, and a wrong length, before any crypto.
      const sig = Buffer.from(token.slice(dot2 + 1), 'base64url')
      if (sig.length !== 2 * ecSize || isZero(sig, 0, ecSize) || isZero(sig, ecSize, 2 * ecSize)) {
        throw new FJG_ERR_TOKEN_SIGNATURE()
      }
    }

    const kidOrNull = (kid as string | undefined) ?? null
    // Keys bound to issuers: the token's (unverified) `iss` picks the keys that
    // may verify it, before the kid does; the signature then proves it. Read
    // only when some key is bound, so unbound policies parse the payload once.
    const iss = keyStore.boundIssuers.size === 0 ? null : issOf(token, dot1, dot2)
    if (!keyStore.issuerKnown(iss)) throw new FJG_ERR_TOKEN_ISSUER()
    const candidates = keyStore.find(kidOrNull, alg as Algorithm, iss)
    if (candidates.length > 0) {
      // fast-jwt knows neither ES256K nor Ed25519: every EC/OKP check is node:crypto's.
      if (DIGEST[alg as Algorithm] !== undefined) return verifyOffThread(token, header, alg as Algorithm, candidates, dot1, dot2)
      return verifyWith(token, candidates, nowMs)
    }

    // Nobody has this kid: a rotation we have not seen yet, or a forged kid.
    // The store refetches within its cooldown; either way we never hang.
    const pending = keyStore.refreshForKid(kidOrNull)
    if (pending === null) throw noKey()
    return pending.then(() => {
      const again = keyStore.find(kidOrNull, alg as Algorithm, iss)
      if (again.length === 0) throw noKey()
      if (DIGEST[alg as Algorithm] !== undefined) return verifyOffThread(token, header as Record<string, JsonValue>, alg as Algorithm, again, dot1, dot2)
      return verifyWith(token, again, Date.now())
    })
  }

  return { verify, cache }
}

/**
 * RFC 8017 §8.1.2 and §8.2.2, step 1: an RSA signature is exactly as long as
 * the modulus. OpenSSL 3 checks this for PKCS#1 v1.5 but not for PSS, where a
 * signature with its leading zero byte dropped verified (found in issue 7): a
 * second spelling of the same token. Wrong length = wrong key, as fast-jwt
 * would say, so the next candidate key is still tried.
 */
function rsaLengthChecked (inner: RawVerify, entry: KeyEntry): RawVerify {
  const bits = createPublicKey(entry.material).asymmetricKeyDetails?.modulusLength ?? 0
  const size = Math.ceil(bits / 8)
  return (token) => {
    // Canonical unpadded base64url (checked before): n characters hold floor(3n/4) bytes.
    if ((((token.length - token.lastIndexOf('.') - 1) * 3) >> 2) !== size) {
      throw new TokenError(TokenError.codes.invalidSignature, 'The token signature is invalid.')
    }
    return inner(token)
  }
}

function isZero (buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false
  return true
}
