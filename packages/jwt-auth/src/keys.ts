import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isCanonicalBase64url } from './decoder.js'
import { signatureCheck, type SignatureCheck } from './signature.js'
import type { Algorithm } from './types.js'

// Key material, parsed once. A key knows which algorithms it may verify: its
// JWK `alg` pins it to one, otherwise its type decides (an RSA key never
// verifies HS256: that is the algorithm-confusion attack, RFC 8725 §2.1).

export const HMAC_ALGORITHMS: readonly Algorithm[] = ['HS256', 'HS384', 'HS512']
export const RSA_ALGORITHMS: readonly Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
const CURVE_ALGORITHMS: Record<string, Algorithm> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
  // RFC 8812 §3.1: ES256K is ECDSA with SHA-256 over secp256k1 (JWK "crv": "secp256k1").
  secp256k1: 'ES256K'
}

export interface KeyEntry {
  /** `kid`, or null for a key that is the fallback of every kid. */
  kid: string | null
  kty: 'oct' | 'RSA' | 'EC' | 'OKP'
  /** Algorithms this key may verify. */
  algorithms: readonly Algorithm[]
  /**
   * PEM (SPKI) for public keys, raw bytes for HMAC secrets: the key's one
   * spelling, which says whether a refetched key is the same (remote-source.ts).
   * Never parsed again: verification uses `key`.
   */
  material: string | Buffer
  /** The key, imported once when it loads; every signature check uses it. */
  key: KeyObject
  /** How a signature is checked with this key, chosen when it loads (signature.ts). */
  check: SignatureCheck
  /** Where the key came from, for logs and `keyStatus()`. */
  source: string
  /** Set to false when the key leaves its set (a rotation): cached tokens it signed stop being accepted. */
  active: boolean
  /**
   * The issuer this key is bound to: it verifies only tokens whose `iss` is
   * exactly this (issue 10, point 6). Null: unbound, any `iss`.
   */
  issuer: string | null
}

export class KeyError extends Error {}

/**
 * A private key where a public one belongs. Never skipped: a key set that
 * publishes private keys is leaked (anyone can sign with them), so the whole
 * document is refused, from a file and from a URL alike.
 */
export class PrivateKeyError extends KeyError {}

/** RFC 7518 §3.2: an HMAC key is at least as long as the hash output. */
export const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 }

function algorithmsOf (kty: KeyEntry['kty'], key: KeyObject | null, alg: unknown): readonly Algorithm[] {
  let candidates: readonly Algorithm[]
  if (kty === 'oct') {
    candidates = HMAC_ALGORITHMS
  } else if (kty === 'RSA') {
    candidates = RSA_ALGORITHMS
  } else if (kty === 'EC') {
    const curve = key?.asymmetricKeyDetails?.namedCurve ?? ''
    const only = CURVE_ALGORITHMS[curve]
    if (only === undefined) throw new KeyError(`unsupported EC curve '${curve}'`)
    candidates = [only]
  } else {
    const type = key?.asymmetricKeyType
    if (type !== 'ed25519' && type !== 'ed448') throw new KeyError(`unsupported OKP key type '${type}'`)
    // RFC 9864 §2.2: "Ed25519" names EdDSA over Ed25519 only; "EdDSA" stays for both curves.
    candidates = type === 'ed25519' ? ['EdDSA', 'Ed25519'] : ['EdDSA']
  }
  if (alg === undefined) return candidates
  if (typeof alg !== 'string' || !candidates.includes(alg as Algorithm)) {
    throw new KeyError(`"alg" ${JSON.stringify(alg)} does not fit a ${kty} key`)
  }
  return [alg as Algorithm]
}

function ktyOf (key: KeyObject): KeyEntry['kty'] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RSA'
    case 'rsa-pss':
      // An id-RSASSA-PSS SPKI: its parameters restrict what it may verify (no
      // RS*, a fixed PSS hash and salt), so it would load here and then fail
      // tokens with a bare 401. Refused at start instead.
      throw new KeyError('unsupported key type \'rsa-pss\' (an RSASSA-PSS SPKI); give the RSA public key as an ordinary SPKI or PKCS#1 PEM, or a JWK')
    case 'ec':
      return 'EC'
    case 'ed25519':
    case 'ed448':
      return 'OKP'
    default:
      throw new KeyError(`unsupported key type '${key.asymmetricKeyType}'`)
  }
}

function publicEntry (key: KeyObject, kid: string | null, alg: unknown, source: string): KeyEntry {
  const kty = ktyOf(key)
  return {
    kid,
    kty,
    algorithms: algorithmsOf(kty, key, alg),
    material: key.export({ type: 'spki', format: 'pem' }) as string,
    key,
    check: signatureCheck(kty, key),
    source,
    active: true,
    issuer: null
  }
}

export function secretEntry (secret: Buffer, kid: string | null, alg: unknown, source: string): KeyEntry {
  // An empty HMAC key verifies tokens anyone can forge (fast-jwt GHSA, 2025).
  if (secret.length === 0) throw new KeyError('an HMAC secret must not be empty')
  const key = createSecretKey(secret)
  return { kid, kty: 'oct', algorithms: algorithmsOf('oct', null, alg), material: secret, key, check: signatureCheck('oct', key), source, active: true, issuer: null }
}

/**
 * An HMAC key from a key set (JWK `k`, keyval): RFC 7518 §3.2 enforced. It may
 * verify only the HS* whose hash output it is at least as long as; shorter
 * than 32 bytes it verifies nothing and is refused (`"k": "invalid"` once
 * became a 5-byte key that verified tokens).
 */
export function hmacKeyEntry (secret: Buffer, kid: string | null, alg: unknown, source: string): KeyEntry {
  const entry = secretEntry(secret, kid, alg, source)
  const fits = entry.algorithms.filter((a) => secret.length >= (HMAC_MIN_BYTES[a] as number))
  if (fits.length === 0) {
    const want = typeof alg === 'string' ? alg : 'HS256'
    throw new KeyError(`an HMAC key of ${secret.length} bytes is shorter than the ${HMAC_MIN_BYTES[want]}-byte hash output of ${want} (RFC 7518 §3.2)`)
  }
  entry.algorithms = fits
  return entry
}

/** RFC 7515 §2 / RFC 7518 §6: key members are canonical unpadded base64url, one spelling per value. */
function base64urlMember (j: Record<string, unknown>, name: string): void {
  const v = j[name]
  if (v === undefined) return
  if (typeof v !== 'string' || v.length === 0 || !isCanonicalBase64url(v, 0, v.length)) {
    throw new KeyError(`"${name}" is not canonical base64url (RFC 7515 §2: no padding, no "+" or "/", zero trailing bits)`)
  }
}

/**
 * One JWK → a key entry, or null for a key that is not for signatures
 * (`use: "enc"`, or `key_ops` without "verify"), which is skipped, not an error.
 */
export function jwkEntry (jwk: unknown, source: string): KeyEntry | null {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new KeyError('a JWK must be an object')
  const j = jwk as Record<string, unknown>
  if (j.use !== undefined && j.use !== 'sig') return null
  if (Array.isArray(j.key_ops) && !j.key_ops.includes('verify')) return null
  if (j.kid !== undefined && typeof j.kid !== 'string') throw new KeyError('"kid" must be a string')
  const kid = (j.kid as string | undefined) ?? null
  if (j.kty === 'oct') {
    if (typeof j.k !== 'string') throw new KeyError('an "oct" JWK needs "k" in base64url')
    base64urlMember(j, 'k')
    return hmacKeyEntry(Buffer.from(j.k, 'base64url'), kid, j.alg, source)
  }
  if (j.kty !== 'RSA' && j.kty !== 'EC' && j.kty !== 'OKP') throw new KeyError(`unsupported "kty" ${JSON.stringify(j.kty)}`)
  if (j.d !== undefined) throw new PrivateKeyError('the JWK holds a private key ("d"); give the public key only')
  for (const m of ['n', 'e', 'x', 'y']) base64urlMember(j, m)
  let key: KeyObject
  try {
    // Only the public members: Node rejects unknown members in some versions.
    const pub: Record<string, unknown> = { kty: j.kty }
    for (const m of ['n', 'e', 'crv', 'x', 'y']) if (j[m] !== undefined) pub[m] = j[m]
    key = createPublicKey({ key: pub as any, format: 'jwk' })
  } catch (err) {
    throw new KeyError(`cannot import the ${j.kty} JWK: ${(err as Error).message}`)
  }
  return publicEntry(key, kid, j.alg, source)
}

/**
 * A JWKS document (`{ "keys": [...] }`) → entries. One rule for a file and a
 * URL (issue 10, point 9): a key that cannot be used (unsupported type or
 * curve, bad or non-canonical members, a short HMAC key) is skipped and named
 * in `skipped`, which the caller logs as a coded warning (RFC 7517 §5: ignore
 * keys that are not understood or out of range), so one new key type at a
 * provider does not take every token down; a private key refuses the whole
 * document (PrivateKeyError). Keys not for signatures are left out silently.
 */
export function jwksEntries (doc: unknown, source: string, skipped: string[]): KeyEntry[] {
  const keys = (doc as { keys?: unknown } | null)?.keys
  if (doc === null || typeof doc !== 'object' || !Array.isArray(keys)) throw new KeyError('a JWKS must be an object with a "keys" array')
  const out: KeyEntry[] = []
  for (let i = 0; i < keys.length; i++) {
    let entry: KeyEntry | null
    try {
      entry = jwkEntry(keys[i], source)
    } catch (err) {
      if (err instanceof PrivateKeyError) throw new PrivateKeyError(`keys[${i}]: ${err.message}`)
      skipped.push(`keys[${i}]: ${(err as Error).message}`)
      continue
    }
    if (entry !== null) out.push(entry)
  }
  return out
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g

/** PEM text: one or more public keys or certificates (a private key is refused). */
export function pemEntries (text: string, kid: string | null, source: string): KeyEntry[] {
  const out: KeyEntry[] = []
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1] as string
    if (label.includes('PRIVATE')) throw new PrivateKeyError(`the PEM holds a private key (${label}); give the public key or certificate`)
    let key: KeyObject
    try {
      key = createPublicKey(match[0])
    } catch (err) {
      throw new KeyError(`cannot read the PEM ${label}: ${(err as Error).message}`)
    }
    out.push(publicEntry(key, kid, undefined, source))
  }
  if (out.length === 0) throw new KeyError('no PEM block found')
  return out
}

/**
 * A keyval document: `{ "<kid>": "<PEM public key or HMAC secret>" }`, the
 * format of the open-source nginx module's `auth_jwt_key_file ... keyval`.
 * The same rule as a JWKS: an unusable value is skipped into `skipped`, a
 * private key refuses the document.
 */
export function keyvalEntries (doc: Record<string, unknown>, source: string, skipped: string[]): KeyEntry[] {
  const out: KeyEntry[] = []
  for (const kid of Object.keys(doc)) {
    const value = doc[kid]
    try {
      if (typeof value !== 'string') throw new KeyError('a keyval value must be a string (PEM or secret)')
      if (value.includes('-----BEGIN')) out.push(...pemEntries(value, kid, source))
      else out.push(hmacKeyEntry(Buffer.from(value, 'utf8'), kid, undefined, source))
    } catch (err) {
      if (err instanceof PrivateKeyError) throw new PrivateKeyError(`${JSON.stringify(kid)}: ${err.message}`)
      skipped.push(`${JSON.stringify(kid)}: ${(err as Error).message}`)
    }
  }
  return out
}

/** Any JSON key document: JWKS, a single JWK (refused when bad: there is no set to skip in), or keyval. */
export function jsonEntries (doc: unknown, source: string, skipped: string[]): KeyEntry[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new KeyError('a key document must be a JSON object (JWK, JWKS or keyval)')
  }
  if ('keys' in doc) return jwksEntries(doc, source, skipped)
  if ('kty' in doc) {
    const entry = jwkEntry(doc, source)
    return entry === null ? [] : [entry]
  }
  return keyvalEntries(doc as Record<string, unknown>, source, skipped)
}

/** Reads a key file: JWK, JWKS, keyval JSON, or PEM (public key or certificate). Unusable set members go to `skipped`. */
export function fileEntries (file: string, skipped: string[]): KeyEntry[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new KeyError(`cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  // RFC 7468 §2: text may precede the PEM boundary (openssl's "Bag Attributes",
  // `x509 -text` output). A JSON key document starts with "{".
  if (!text.trimStart().startsWith('{') && text.includes('-----BEGIN')) return pemEntries(text, null, file)
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    // V8's JSON.parse message quotes the text around the fault ("my-super-s"...);
    // a key file holds secrets, so only the position is kept.
    const at = /at position (\d+)/.exec((err as Error).message)
    throw new KeyError(`'${file}' is neither PEM nor valid JSON${at === null ? '' : ` (error at position ${at[1]})`}`)
  }
  const before = skipped.length
  const entries = jsonEntries(doc, file, skipped)
  if (entries.length === 0) {
    const why = skipped.slice(before)
    throw new KeyError(`'${file}' holds no signature key${why.length > 0 ? ` (skipped: ${why.join('; ')})` : ''}`)
  }
  return entries
}
