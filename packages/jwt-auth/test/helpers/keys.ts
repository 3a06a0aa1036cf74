// Real keys for the tests, generated fresh (never committed): one key pair per
// algorithm family, exported as PEM, JWK and JWKS files into a folder.
// As a script: `node --import tsx test/helpers/keys.ts <dir>` writes the files.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'

export type Alg =
  | 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

export const ALL_ALGS: Alg[] = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

export interface TestKey {
  name: string
  kid: string
  /** Private key PEM (or the HMAC secret) to sign with. */
  signingKey: string | Buffer
  /** Public key PEM; for HMAC, null. */
  publicPem: string | null
  /** Public JWK (with kid); for HMAC, the oct JWK. */
  jwk: Record<string, unknown>
  privateKey: KeyObject | null
}

function pair (name: string, kid: string, type: 'rsa' | 'ec' | 'ed25519', curve?: string): TestKey {
  const { publicKey, privateKey } = type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: curve as string })
      : generateKeyPairSync('ed25519')
  return {
    name,
    kid,
    signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    jwk: { ...publicKey.export({ format: 'jwk' }), kid },
    privateKey
  }
}

export interface KeySet {
  hmac: TestKey
  rsa: TestKey
  p256: TestKey
  p384: TestKey
  p521: TestKey
  ed25519: TestKey
  /** A second RSA key, for rotation and wrong-key cases. */
  rsa2: TestKey
}

export function generateKeySet (): KeySet {
  // Printable, so the same secret also round-trips through keyval (a UTF-8 string).
  const secret = Buffer.from(randomBytes(48).toString('base64url'))
  return {
    hmac: {
      name: 'hmac',
      kid: 'hmac-1',
      signingKey: secret,
      publicPem: null,
      jwk: { kty: 'oct', k: secret.toString('base64url'), kid: 'hmac-1' },
      privateKey: null
    },
    rsa: pair('rsa', 'rsa-1', 'rsa'),
    p256: pair('p256', 'ec-256', 'ec', 'P-256'),
    p384: pair('p384', 'ec-384', 'ec', 'P-384'),
    p521: pair('p521', 'ec-521', 'ec', 'P-521'),
    ed25519: pair('ed25519', 'ed-1', 'ed25519'),
    rsa2: pair('rsa2', 'rsa-2', 'rsa')
  }
}

/** The key of the set that signs `alg`. */
export function keyFor (keys: KeySet, alg: Alg): TestKey {
  if (alg.startsWith('HS')) return keys.hmac
  if (alg.startsWith('RS') || alg.startsWith('PS')) return keys.rsa
  if (alg === 'ES256') return keys.p256
  if (alg === 'ES384') return keys.p384
  if (alg === 'ES512') return keys.p521
  return keys.ed25519
}

export interface SignOptions {
  kid?: string | null
  /** Seconds from now; null for no exp. Default 300. */
  expiresIn?: number | null
  header?: Record<string, unknown>
}

/** Signs a token with fast-jwt. `kid: null` leaves the kid out; default: the key's kid. */
export function sign (key: TestKey, alg: Alg, payload: Record<string, unknown> = {}, opts: SignOptions = {}): string {
  const now = Math.floor(Date.now() / 1000)
  const body: Record<string, unknown> = { iat: now, ...payload }
  const expiresIn = opts.expiresIn === undefined ? 300 : opts.expiresIn
  if (expiresIn !== null && body.exp === undefined) body.exp = now + expiresIn
  const kid = opts.kid === undefined ? key.kid : opts.kid
  const signer = createSigner({
    key: key.signingKey,
    algorithm: alg,
    noTimestamp: true,
    ...(kid === null ? {} : { kid }),
    ...(opts.header ? { header: opts.header } : {})
  } as any)
  return signer(body)
}

/** Builds a token from raw parts (header and payload objects or strings, signature string). */
export function rawToken (header: unknown, payload: unknown, signature = 'c2ln'): string {
  const enc = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
  return `${enc(header)}.${enc(payload)}.${signature}`
}

export interface KeyFiles {
  dir: string
  /** <name>.pem (public), <name>.jwk.json, all.jwks.json, keyval.json, rsa.crt is not generated (no CA tooling). */
  pem: Record<string, string>
  jwk: Record<string, string>
  jwks: string
  keyval: string
}

/** Writes the set as files into `dir` (created; a temp folder by default). */
export function writeKeyFiles (keys: KeySet, dir = mkdtempSync(join(tmpdir(), 'fjg-keys-'))): KeyFiles {
  mkdirSync(dir, { recursive: true })
  const pem: Record<string, string> = {}
  const jwk: Record<string, string> = {}
  const all: Record<string, unknown>[] = []
  const keyval: Record<string, string> = {}
  for (const k of Object.values(keys) as TestKey[]) {
    const jwkFile = join(dir, `${k.name}.jwk.json`)
    writeFileSync(jwkFile, JSON.stringify(k.jwk))
    jwk[k.name] = jwkFile
    all.push(k.jwk)
    if (k.publicPem !== null) {
      const pemFile = join(dir, `${k.name}.pem`)
      writeFileSync(pemFile, k.publicPem)
      pem[k.name] = pemFile
      keyval[k.kid] = k.publicPem
    } else {
      keyval[k.kid] = (k.signingKey as Buffer).toString('utf8')
    }
  }
  const jwks = join(dir, 'all.jwks.json')
  writeFileSync(jwks, JSON.stringify({ keys: all }))
  const keyvalFile = join(dir, 'keyval.json')
  writeFileSync(keyvalFile, JSON.stringify(keyval))
  return { dir, pem, jwk, jwks, keyval: keyvalFile }
}

if (require.main === module) {
  const dir = process.argv[2] ?? join(__dirname, '..', 'fixtures', 'generated')
  const files = writeKeyFiles(generateKeySet(), dir)
  console.log(`keys written to ${files.dir}`)
}
