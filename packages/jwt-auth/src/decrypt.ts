import { createPrivateKey, createSecretKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
// jose is ESM-only (v6); Node >= 20.19 loads it from this CommonJS package
// with require(esm), and TypeScript 5.9 (module nodenext) types it so (README, Dependencies).
import { compactDecrypt } from 'jose'
import { SeenFilter, TokenCache } from './cache.js'
import { FJG_ERR_TOKEN_ALGORITHM, FJG_ERR_TOKEN_CRIT, FJG_ERR_TOKEN_DECRYPT, FJG_ERR_TOKEN_MALFORMED, FJG_ERR_TOKEN_ZIP, type FjgError } from './errors.js'
import { KeyError } from './keys.js'
import { JWE_ENCRYPTIONS, JWE_KEY_ALGORITHMS } from './schema.js'
import type { DecryptOptions } from './types.js'
import { decodeHeader, isCanonicalBase64url } from './decoder.js'

// JWE (RFC 7516) in compact form, for `decrypt` (NGINX Plus `auth_jwt_type
// encrypted | nested`). The cryptography is jose's; what is done here by hand
// is what must be refused before any key is used: the shape, the protected
// header, the allow-listed `alg` and `enc`, `zip`, `crit`.

export type JweKeyAlgorithm = typeof JWE_KEY_ALGORITHMS[number]
export type JweEncryption = typeof JWE_ENCRYPTIONS[number]

const KEY_ALGS: ReadonlySet<string> = new Set(JWE_KEY_ALGORITHMS)
/** Bytes of a `dir` key for each `enc` (RFC 7518 §5.2.3-5.2.5, §5.3). */
const CEK_BYTES: Record<JweEncryption, number> = { A128GCM: 16, A192GCM: 24, A256GCM: 32, 'A128CBC-HS256': 32, 'A192CBC-HS384': 48, 'A256CBC-HS512': 64 }
/** Bytes of an AES key-wrap key. */
const KW_BYTES: Record<string, number> = { A128KW: 16, A192KW: 24, A256KW: 32, A128GCMKW: 16, A192GCMKW: 24, A256GCMKW: 32 }
const RSA_ALGS: readonly JweKeyAlgorithm[] = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512']
const ECDH_ALGS: readonly JweKeyAlgorithm[] = ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW']
const ECDH_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1'])

export type DecryptType = 'nested' | 'encrypted'

interface DecryptKeySource { file?: string, jwk?: Record<string, unknown> }

/** One private or secret key, parsed once at start. */
export interface DecryptionKey {
  kid: string | null
  key: KeyObject
  /** The `alg` values this key may unwrap (a JWK `alg` pins one). */
  algorithms: ReadonlySet<string>
  /** `dir` only: the `enc` this key's length fits; null otherwise. */
  dirEnc: ReadonlySet<string> | null
}

export interface Opened {
  /** The JWE protected header. */
  header: Record<string, unknown>
  plaintext: string
}

export interface Decryptor {
  readonly type: DecryptType
  readonly keyAlgorithms: ReadonlySet<string>
  readonly encryptions: ReadonlySet<string>
  /** Decrypts a compact JWE; rejects with an FjgError (never another error). */
  open (token: string): Promise<Opened>
}

function fits (kty: string, key: KeyObject, bytes: number): { algorithms: JweKeyAlgorithm[], dirEnc: Set<string> | null } {
  if (kty === 'RSA') {
    // jose refuses RSA-OAEP with a modulus under 2048 bits on every token: refused at start instead.
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
    if (bits < 2048) throw new KeyError(`an RSA key of ${bits} bits is too short for RSA-OAEP (2048 at least)`)
    return { algorithms: [...RSA_ALGS], dirEnc: null }
  }
  if (kty === 'EC') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? ''
    if (!ECDH_CURVES.has(curve)) throw new KeyError(`unsupported EC curve '${curve}' for ECDH-ES (P-256, P-384 or P-521)`)
    return { algorithms: [...ECDH_ALGS], dirEnc: null }
  }
  const algorithms = (Object.keys(KW_BYTES) as JweKeyAlgorithm[]).filter((a) => KW_BYTES[a] === bytes)
  const dirEnc = new Set(JWE_ENCRYPTIONS.filter((e) => CEK_BYTES[e] === bytes))
  if (dirEnc.size > 0) algorithms.push('dir')
  if (algorithms.length === 0) throw new KeyError(`an oct key of ${bytes} bytes fits no JWE algorithm (16, 24, 32, 48 or 64 bytes)`)
  return { algorithms, dirEnc: dirEnc.size > 0 ? dirEnc : null }
}

/** A private JWK (RSA or EC with "d") or an oct JWK → a decryption key. */
function fromJwk (jwk: unknown): DecryptionKey {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new KeyError('a JWK must be an object')
  const j = jwk as Record<string, unknown>
  if (j.use !== undefined && j.use !== 'enc') throw new KeyError(`the JWK is for "use": ${JSON.stringify(j.use)}, not "enc"`)
  if (j.kid !== undefined && typeof j.kid !== 'string') throw new KeyError('"kid" must be a string')
  let key: KeyObject
  let bytes = 0
  try {
    if (j.kty === 'oct') {
      if (typeof j.k !== 'string' || !isCanonicalBase64url(j.k, 0, j.k.length) || j.k.length === 0) throw new KeyError('an "oct" JWK needs "k" in canonical base64url')
      const raw = Buffer.from(j.k, 'base64url')
      bytes = raw.length
      key = createSecretKey(raw)
    } else if (j.kty === 'RSA' || j.kty === 'EC') {
      if (j.d === undefined) throw new KeyError(`a decryption key must be private: the ${j.kty} JWK has no "d"`)
      key = createPrivateKey({ key: j as any, format: 'jwk' })
    } else {
      throw new KeyError(`unsupported "kty" ${JSON.stringify(j.kty)} (RSA, EC or oct)`)
    }
  } catch (err) {
    if (err instanceof KeyError) throw err
    // Node's message names the member, never its value.
    throw new KeyError(`cannot import the ${String(j.kty)} JWK: ${(err as Error).message}`)
  }
  const f = fits(j.kty as string, key, bytes)
  let algorithms: string[] = f.algorithms
  if (j.alg !== undefined) {
    if (typeof j.alg !== 'string' || !f.algorithms.includes(j.alg as JweKeyAlgorithm)) throw new KeyError(`"alg" ${JSON.stringify(j.alg)} does not fit this ${String(j.kty)} key`)
    algorithms = [j.alg]
  }
  return { kid: (j.kid as string | undefined) ?? null, key, algorithms: new Set(algorithms), dirEnc: algorithms.includes('dir') ? f.dirEnc : null }
}

/** A file: PEM private key (RSA or EC), a private JWK or a JWKS of them. */
function fromFile (file: string): DecryptionKey[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new KeyError(`cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!text.trimStart().startsWith('{')) {
    let key: KeyObject
    try {
      key = createPrivateKey(text)
    } catch {
      throw new KeyError(`'${file}' holds no PEM private key`)
    }
    const kty = key.asymmetricKeyType === 'rsa' ? 'RSA' : key.asymmetricKeyType === 'ec' ? 'EC' : String(key.asymmetricKeyType)
    if (kty !== 'RSA' && kty !== 'EC') throw new KeyError(`unsupported key type '${kty}' for decryption (RSA or EC)`)
    const f = fits(kty, key, 0)
    return [{ kid: null, key, algorithms: new Set(f.algorithms), dirEnc: null }]
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    // Never the parser's message: it quotes the text, which holds a private key.
    throw new KeyError(`'${file}' is neither PEM nor valid JSON`)
  }
  const keys = (doc as { keys?: unknown }).keys
  if (Array.isArray(keys)) {
    return keys.map((k, i) => {
      try {
        return fromJwk(k)
      } catch (err) {
        throw new KeyError(`keys[${i}]: ${(err as Error).message}`)
      }
    })
  }
  return [fromJwk(doc)]
}

/**
 * Checks and compiles `decrypt`. Problems are pushed as `path: message`
 * (under `at`); returns null when there were any.
 */
export function compileDecrypt (spec: DecryptOptions, at: string, resolveFile: (f: string) => string, problems: string[], opts: { cacheSize: number, cacheTtl: number }): Decryptor | null {
  const before = problems.length
  const keys: DecryptionKey[] = []
  ;(spec.keys as DecryptKeySource[]).forEach((source, i) => {
    const here = `${at}.keys[${i}]`
    const kinds = (['file', 'jwk'] as const).filter((k) => source[k] !== undefined)
    if (kinds.length !== 1) {
      problems.push(`${here}: needs exactly one of "file", "jwk"`)
      return
    }
    try {
      if (kinds[0] === 'file') keys.push(...fromFile(resolveFile(source.file as string)))
      else keys.push(fromJwk(source.jwk))
    } catch (err) {
      problems.push(`${here}.${kinds[0]}: ${(err as Error).message}`)
    }
  })
  const keyAlgorithms = new Set<string>()
  const encryptions = new Set<string>()
  for (const a of spec.algorithms) {
    if (KEY_ALGS.has(a)) keyAlgorithms.add(a)
    else encryptions.add(a)
  }
  if (keyAlgorithms.size === 0) problems.push(`${at}.algorithms: names no key management algorithm (${JWE_KEY_ALGORITHMS.join(', ')})`)
  if (encryptions.size === 0) problems.push(`${at}.algorithms: names no content encryption algorithm (${JWE_ENCRYPTIONS.join(', ')})`)
  if (problems.length === before) {
    for (const a of keyAlgorithms) {
      if (!keys.some((k) => k.algorithms.has(a))) problems.push(`${at}.algorithms: no key can decrypt ${a}`)
    }
  }
  if (problems.length > before) return null
  const type = spec.type ?? 'nested'
  // Decrypted plaintexts by the whole JWE (never a hash: no collision), so a
  // repeated token costs no second RSA or ECDH operation; bounded like the token
  // cache, and like it kept from a JWE's second decryption on (cache.ts,
  // SeenFilter), so a flood of one-shot JWEs does not churn it.
  const cache = opts.cacheSize > 0 ? new TokenCache<{ opened: Opened, until: number }>(opts.cacheSize) : null
  const admission = cache === null ? null : new SeenFilter(opts.cacheSize)

  async function open (token: string): Promise<Opened> {
    if (cache !== null) {
      const hit = cache.get(token)
      if (hit !== undefined && Date.now() < hit.until) return hit.opened
    }
    const header = protectedHeader(token, keyAlgorithms, encryptions)
    const alg = header.alg as string
    const enc = header.enc as string
    const kid = typeof header.kid === 'string' ? header.kid : null
    let candidates = keys.filter((k) => k.algorithms.has(alg) && (k.dirEnc === null || alg !== 'dir' || k.dirEnc.has(enc)))
    if (kid !== null) {
      const byKid = candidates.filter((k) => k.kid === kid)
      candidates = byKid.length > 0 ? byKid : candidates.filter((k) => k.kid === null)
    }
    if (candidates.length === 0) throw new FJG_ERR_TOKEN_DECRYPT()
    let last: unknown = null
    for (const k of candidates) {
      let plain: Uint8Array
      try {
        plain = (await compactDecrypt(token, k.key, {
          keyManagementAlgorithms: [...keyAlgorithms],
          contentEncryptionAlgorithms: [...encryptions]
        })).plaintext
      } catch (err) {
        last = err
        continue
      }
      let plaintext: string
      try {
        plaintext = new TextDecoder('utf-8', { fatal: true }).decode(plain)
      } catch {
        throw new FJG_ERR_TOKEN_MALFORMED('the decrypted content is not UTF-8')
      }
      const opened = { header, plaintext }
      if (cache !== null && (admission as SeenFilter).seen(token)) cache.set(token, { opened, until: Date.now() + opts.cacheTtl })
      return opened
    }
    // Wrong key, tampered ciphertext or tag, and a bad encrypted key all read
    // alike (RFC 7516 §11.5: no oracle on which step failed).
    throw new FJG_ERR_TOKEN_DECRYPT({ cause: last })
  }

  return Object.freeze({ type, keyAlgorithms, encryptions, open })
}

const malformed = (why: string): FjgError => new FJG_ERR_TOKEN_MALFORMED(why) as FjgError

/**
 * RFC 7516 §7.1: five base64url parts; the protected header a JSON object
 * with an allowed `alg` and `enc`, no `zip`, no `crit`. Everything here is
 * refused before a key is touched.
 */
function protectedHeader (token: string, keyAlgorithms: ReadonlySet<string>, encryptions: ReadonlySet<string>): Record<string, unknown> {
  const dots: number[] = []
  for (let i = token.indexOf('.'); i !== -1; i = token.indexOf('.', i + 1)) dots.push(i)
  if (dots.length !== 4) throw malformed('a JWE has five parts')
  const [d1, d2, d3, d4] = dots as [number, number, number, number]
  const bounds: Array<[number, number]> = [[0, d1], [d1 + 1, d2], [d2 + 1, d3], [d3 + 1, d4], [d4 + 1, token.length]]
  for (const [from, to] of bounds) if (!isCanonicalBase64url(token, from, to)) throw malformed('not canonical base64url')
  // The header, the IV, the ciphertext and the tag are never empty (the encrypted key is for dir and ECDH-ES).
  if (d1 === 0 || d3 === d2 + 1 || d4 === d3 + 1 || d4 === token.length - 1) throw malformed('a JWE part is empty')
  const h: Record<string, unknown> = decodeHeader(token, d1)
  if (typeof h.alg !== 'string' || !keyAlgorithms.has(h.alg)) throw new FJG_ERR_TOKEN_ALGORITHM()
  if (typeof h.enc !== 'string' || !encryptions.has(h.enc)) throw new FJG_ERR_TOKEN_ALGORITHM()
  // Compressed plaintext before encryption leaks it by length (CRIME-like) and expands without bound.
  if (h.zip !== undefined) throw new FJG_ERR_TOKEN_ZIP()
  if (h.crit !== undefined) throw new FJG_ERR_TOKEN_CRIT()
  if (h.kid !== undefined && typeof h.kid !== 'string') throw malformed('"kid" is not a string')
  return h
}
