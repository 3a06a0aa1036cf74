import { createPrivateKey, type KeyObject, type JsonWebKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSigner, type Algorithm } from 'fast-jwt'
import { FJG_ERR_CLI_USAGE, FJG_ERR_TOKEN_KEY, type UserError } from './errors.js'

// `fastify-jwt-gateway token`: a development tool that mints a token with a
// private key file, for demos, tests and curl. It is not an issuer: no key
// rotation, no audit, and the key file must hold a private key (a public key
// cannot sign, and a tool that silently fell back to anything else would mint
// tokens no gateway accepts).

/** Seconds a minted token is valid when `--exp` is not given. */
export const DEFAULT_TOKEN_TTL = 3600

export interface TokenOptions {
  key?: string
  claims?: string
  exp?: string
  kid?: string
  alg?: string
}

const HMAC = new Set(['HS256', 'HS384', 'HS512'])
const RSA = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
const EC_ALG: Record<string, string> = { prime256v1: 'ES256', 'P-256': 'ES256', secp384r1: 'ES384', 'P-384': 'ES384', secp521r1: 'ES512', 'P-521': 'ES512' }
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

interface SigningKey {
  /** PEM (asymmetric) or secret bytes (HMAC). */
  key: string | Buffer
  alg: string
  kid: string | undefined
}

/** `90`, `30s`, `15m`, `1h`, `7d` → seconds; `0` or `none` → no `exp` claim. */
export function parseDuration (text: string): number | null {
  if (text === 'none' || text === '0') return null
  const m = /^(\d+)([smhd]?)$/.exec(text)
  if (m === null || Number(m[1]) === 0) {
    throw new FJG_ERR_CLI_USAGE(`--exp must be a duration such as 3600, 30s, 15m, 1h, 7d (or none), got '${text}'`)
  }
  return Number(m[1]) * (UNITS[m[2] as string] ?? 1)
}

function publicOnly (file: string, what: string): UserError {
  return new FJG_ERR_TOKEN_KEY(`${file}: ${what} is a public key only: a token can only be signed with the private key (or an HMAC secret)`)
}

/** The algorithm an asymmetric key signs with by default, checked against an explicit one. */
function algFor (file: string, key: KeyObject, wanted: string | undefined): string {
  const type = key.asymmetricKeyType
  let natural: string | undefined
  if (type === 'rsa' || type === 'rsa-pss') natural = 'RS256'
  else if (type === 'ec') natural = EC_ALG[key.asymmetricKeyDetails?.namedCurve ?? '']
  else if (type === 'ed25519') natural = 'EdDSA'
  if (natural === undefined) throw new FJG_ERR_TOKEN_KEY(`${file}: unsupported key type '${type ?? 'unknown'}${type === 'ec' ? ` ${key.asymmetricKeyDetails?.namedCurve ?? ''}` : ''}'`)
  if (wanted === undefined) return natural
  const fits = RSA.has(natural) ? RSA.has(wanted) : wanted === natural
  if (!fits) throw new FJG_ERR_CLI_USAGE(`--alg ${wanted} does not fit the key in ${file} (a ${type} key: ${RSA.has(natural) ? [...RSA].join(', ') : natural})`)
  return wanted
}

function fromJwk (file: string, jwk: JsonWebKey & { kid?: string, alg?: string }, wantedAlg: string | undefined): SigningKey {
  const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new FJG_ERR_TOKEN_KEY(`${file}: an "oct" JWK needs "k"`)
    const alg = wantedAlg ?? (typeof jwk.alg === 'string' ? jwk.alg : 'HS256')
    if (!HMAC.has(alg)) throw new FJG_ERR_CLI_USAGE(`--alg ${alg} does not fit an HMAC key (HS256, HS384, HS512)`)
    return { key: Buffer.from(jwk.k, 'base64url'), alg, kid }
  }
  if (jwk.d === undefined) throw publicOnly(file, 'the JWK')
  let key: KeyObject
  try {
    key = createPrivateKey({ key: jwk, format: 'jwk' })
  } catch (err) {
    throw new FJG_ERR_TOKEN_KEY(`${file}: not a usable private JWK: ${(err as Error).message}`)
  }
  const alg = algFor(file, key, wantedAlg ?? (typeof jwk.alg === 'string' ? jwk.alg : undefined))
  return { key: key.export({ type: 'pkcs8', format: 'pem' }) as string, alg, kid }
}

/**
 * Reads the signing key: a PEM private key (PKCS#8, PKCS#1, SEC1), a private
 * JWK or a JWKS (the key with `--kid`, else the only private one), an "oct" JWK,
 * or, with `--alg HS*`, a file whose bytes are the HMAC secret.
 */
export function readSigningKey (file: string, wantedAlg?: string, wantedKid?: string): SigningKey {
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (err) {
    throw new FJG_ERR_TOKEN_KEY(`cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const text = data.toString('utf8').trim()
  if (wantedAlg !== undefined && HMAC.has(wantedAlg) && !text.startsWith('{') && !text.startsWith('-----')) {
    // A raw secret, as `jwt_secret` would hold it; a trailing newline of the file is not part of it.
    return { key: Buffer.from(text, 'utf8'), alg: wantedAlg, kid: wantedKid }
  }
  if (text.startsWith('-----')) {
    if (!/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) throw publicOnly(file, 'the PEM')
    let key: KeyObject
    try {
      key = createPrivateKey(text)
    } catch (err) {
      throw new FJG_ERR_TOKEN_KEY(`${file}: not a usable private key: ${(err as Error).message}`)
    }
    return { key: key.export({ type: 'pkcs8', format: 'pem' }) as string, alg: algFor(file, key, wantedAlg), kid: wantedKid }
  }
  if (text.startsWith('{')) {
    let json: { keys?: unknown } & JsonWebKey
    try {
      json = JSON.parse(text)
    } catch (err) {
      throw new FJG_ERR_TOKEN_KEY(`${file}: invalid JSON: ${(err as Error).message}`)
    }
    if (Array.isArray(json.keys)) {
      const keys = json.keys as Array<JsonWebKey & { kid?: string }>
      const candidates = keys.filter((k) => wantedKid === undefined || k.kid === wantedKid)
      const usable = candidates.filter((k) => k.kty === 'oct' || k.d !== undefined)
      if (candidates.length > 0 && usable.length === 0) throw publicOnly(file, wantedKid === undefined ? 'every key of the JWKS' : `the key '${wantedKid}' of the JWKS`)
      if (usable.length !== 1) {
        throw new FJG_ERR_TOKEN_KEY(`${file}: ${usable.length === 0 ? `no key with kid '${wantedKid as string}'` : `${usable.length} private keys: choose one with --kid`}`)
      }
      return fromJwk(file, usable[0] as JsonWebKey, wantedAlg)
    }
    return fromJwk(file, json, wantedAlg)
  }
  throw new FJG_ERR_TOKEN_KEY(`${file}: not a PEM private key or a JWK (for an HMAC secret in a plain file, give --alg HS256)`)
}

function parseClaims (text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {}
  let claims: unknown
  try {
    claims = JSON.parse(text)
  } catch (err) {
    throw new FJG_ERR_CLI_USAGE(`--claims must be a JSON object: ${(err as Error).message}`)
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new FJG_ERR_CLI_USAGE(`--claims must be a JSON object, got ${JSON.stringify(claims)}`)
  }
  return claims as Record<string, unknown>
}

/**
 * Mints the token. `iat` is now; `exp` is now + `--exp` (default one hour)
 * unless the claims give their own or `--exp none`.
 */
export function mintToken (opts: TokenOptions, now = Date.now()): string {
  if (opts.key === undefined) throw new FJG_ERR_CLI_USAGE('--key <file> is required\nRun `fastify-jwt-gateway token --help` for usage.')
  if (opts.alg !== undefined && !HMAC.has(opts.alg) && !RSA.has(opts.alg) && !['ES256', 'ES384', 'ES512', 'EdDSA'].includes(opts.alg)) {
    throw new FJG_ERR_CLI_USAGE(`--alg must be one of ${[...HMAC, ...RSA, 'ES256', 'ES384', 'ES512', 'EdDSA'].join(', ')}, got '${opts.alg}'`)
  }
  const claims = parseClaims(opts.claims)
  const ttl = parseDuration(opts.exp ?? String(DEFAULT_TOKEN_TTL))
  const signing = readSigningKey(opts.key, opts.alg, opts.kid)
  const kid = opts.kid ?? signing.kid
  const iat = Math.floor(now / 1000)
  // fast-jwt keeps a payload's own iat (and writes one otherwise): ours is now, unless the claims set it.
  const payload = { iat, ...(ttl === null ? {} : { exp: iat + ttl }), ...claims }
  const sign = createSigner({
    key: signing.key,
    algorithm: signing.alg as Algorithm,
    ...(kid === undefined ? {} : { kid })
  })
  return sign(payload)
}

export function tokenCommand (opts: TokenOptions, stdout: NodeJS.WritableStream): number {
  stdout.write(`${mintToken(opts)}\n`)
  return 0
}
