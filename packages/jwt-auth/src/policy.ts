import Ajv, { type ErrorObject } from 'ajv'
import { isAbsolute, resolve } from 'node:path'
import { compileEntry, DEFAULT_SPACE_DELIMITED_CLAIMS, formatPath, parsePath, type CompiledRequirement, type Segment } from './claims.js'
import { compileDecrypt, type Decryptor } from './decrypt.js'
import { FJG_ERR_OPTION_INVALID, FJG_ERR_OPTION_KEY, FJG_ERR_TOKEN_ISSUER, FJG_ERR_TOKEN_MALFORMED, FJG_ERR_TOKEN_NOT_ENCRYPTED, FJG_ERR_TOKEN_TOO_LARGE } from './errors.js'
import { KeyStore, type RemoteKeySource } from './key-store.js'
import { fileEntries, jwkEntry, KeyError, secretEntry, type KeyEntry } from './keys.js'
import { createRemoteSource, type RemoteLogger } from './remote-source.js'
import { loadKeySourceTls, type ConnectTls, type KeySourceTls } from './remote-tls.js'
import { Revocation, RevocationError, type RevocationKind } from './revocation.js'
import { DEFAULT_REVOCATION_PREFIX, RedisRevocation, type RedisRevocationOptions, type RevocationStatus } from './revocation-redis.js'
import { ALGORITHMS, policySchema } from './schema.js'
import { compileExtractor, DEFAULT_TOKEN_SOURCE, parseTokenSource, type Extractor, type TokenSourceSpec } from './token-source.js'
import { compileTokenChecks, type TokenCheck } from './token-checks.js'
import type { Algorithm, JwtPolicy, ProviderPolicy, RequirementEntry } from './types.js'
import { compileVerifier, isJwe, type Verify } from './verify.js'

export const DEFAULT_REALM = 'api'
export const DEFAULT_LEEWAY = 0
export const DEFAULT_MAX_TOKEN_SIZE = 16 * 1024
export const DEFAULT_CACHE_SIZE = 1000
/** Seconds. */
export const DEFAULT_CACHE_TTL = 600
export const DEFAULT_PHASE = 'access'

// Asymmetric algorithms allowed by default for remote key sets: HMAC keys from
// a URL would be a shared secret travelling over the network, so HS* must be
// asked for explicitly there.
const ASYMMETRIC: readonly Algorithm[] = ALGORITHMS.filter((a) => !a.startsWith('HS'))

// verbose: errors carry their parent schema, whose description names the allowed forms.
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true })
const validateSchema = ajv.compile(policySchema)

/** `/keys/0/file` → `keys[0].file`, under an optional prefix (`routes[1].jwt`). */
export function jsonPath (prefix: string, pointer: string): string {
  let out = prefix
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(part)) out += `[${part}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`
    else out += `[${JSON.stringify(part)}]`
  }
  return out === '' ? '(policy)' : out
}

// Values under these keys are secrets: a message never repeats them.
const SECRET_PATH = /(^|\.)(secret|jwk)(\.|\[|$)/

function describe (value: unknown, path: string): string {
  if (SECRET_PATH.test(path)) return ''
  const json = JSON.stringify(value)
  if (json === undefined) return ''
  return `, got ${json.length > 60 ? json.slice(0, 57) + '...' : json}`
}

/** Ajv errors → one `path: message` line each; `anyOf` branches fold into their parent's description. */
export function formatSchemaErrors (errors: readonly ErrorObject[], prefix: string, root: unknown): string[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  const out: string[] = []
  for (const e of errors) {
    const underAnyOf = [...anyOfPaths].some((p) => e.instancePath.startsWith(p) && e.keyword !== 'anyOf' && e.schemaPath.includes('/anyOf/'))
    if (underAnyOf) continue
    const path = jsonPath(prefix, e.instancePath)
    const value = e.instancePath.split('/').slice(1).reduce<any>((v, k) => v?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], root)
    let msg: string
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty
      // A policy key a provider may not set (schema.ts PROVIDER_KEYS) is not unknown: say why.
      const inProvider = /\/providers\/\d+$/.test(e.instancePath) && Object.hasOwn(policySchema.properties, key)
      msg = `${jsonPath(prefix, e.instancePath + '/' + key)}: ${inProvider ? 'not allowed in a provider: it is one per route (the route\'s value applies to every provider)' : 'unknown key'}`
    } else if (e.keyword === 'anyOf') {
      const description = (e.parentSchema as { description?: string })?.description
      msg = `${path}: must be ${description ?? 'one of the allowed forms'}${describe(value, path)}`
    } else if (e.keyword === 'enum') {
      msg = `${path}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}${describe(value, path)}`
    } else if (e.keyword === 'propertyNames') {
      msg = `${path}: ${JSON.stringify((e.params as { propertyName: string }).propertyName)} is not a valid header name`
    } else if (e.keyword === 'pattern' && path.endsWith('.jwks')) {
      msg = `${path}: must be an http(s) URL${describe(value, path)}`
    } else {
      msg = `${path}: ${e.message ?? 'is invalid'}${describe(value, path)}`
    }
    if (!out.includes(msg)) out.push(msg)
  }
  return out
}

/** Options error, naming every problem at once. */
function invalid (problems: string[]): Error {
  return withProblems(new FJG_ERR_OPTION_INVALID(problems.join('; ')), problems)
}

/** Option errors also carry their problems as a list, one `path: message` each, for callers that print lines. */
function withProblems (err: Error, problems: string[]): Error {
  return Object.assign(err, { problems })
}

/**
 * Validates a (possibly partial) policy against the JSON Schema. Returns the
 * list of problems, each naming its path; empty when valid.
 */
export function policyProblems (policy: unknown, prefix = ''): string[] {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) {
    return [`${prefix || '(policy)'}: must be an object or false${describe(policy, prefix)}`]
  }
  const { require: req, ...json } = policy as JwtPolicy
  const problems: string[] = []
  if (req !== undefined && typeof req !== 'function') {
    problems.push(`${jsonPath(prefix, '/require')}: must be a function (request) => boolean`)
  }
  if (!validateSchema(json)) problems.push(...formatSchemaErrors(validateSchema.errors ?? [], prefix, json))
  return problems
}

/** A route's partial policy over the inherited one, key by key; `false` switches it off. */
export function mergePolicy (base: JwtPolicy | false | null | undefined, override: JwtPolicy | false | null | undefined): JwtPolicy | null {
  if (override === false) return null
  if (override === undefined || override === null) return base === false || base == null ? null : base
  if (base === false || base == null) return override
  return { ...base, ...override }
}

export interface CompileContext {
  /** Option path prefix for messages: '' for the plugin, `routes[1].jwt` in the gateway. */
  where?: string
  /** Folder relative file paths resolve against (the preset's config folder). */
  baseDir?: string
  log?: RemoteLogger
  /** Resources shared between the policies of one app: one fetcher per URL, one watcher per file. */
  shared?: SharedResources
  /**
   * The policy is part of a document validated as a whole just before, in the
   * same synchronous step (the gateway's config, whose check runs
   * policyProblems on every policy in it; a route's policy merged over the
   * top one is valid when both are, the schema checking each key on its
   * own): the schema is not run again. Everything else is still checked.
   */
  validated?: boolean
}

/** What the plugin runs per request; built once per distinct policy. */
export interface CompiledPolicy {
  readonly policy: Readonly<JwtPolicy>
  readonly realm: string
  readonly phase: 'access' | 'preaccess'
  readonly optional: boolean
  readonly tokenSources: readonly TokenSourceSpec[]
  readonly extract: Extractor
  readonly verify: Verify
  readonly algorithms: ReadonlySet<Algorithm>
  /** `tokenType` and `maxAge`; null when neither is set. */
  readonly tokenCheck: TokenCheck | null
  readonly claimChecks: readonly CompiledRequirement[]
  readonly headerChecks: readonly CompiledRequirement[]
  readonly require: NonNullable<JwtPolicy['require']> | null
  /** `, scope="...", resource_metadata="..."` for every WWW-Authenticate; '' when none. */
  readonly challengeParams: string
  /** [header name, parsed claim path] */
  readonly claimHeaders: ReadonlyArray<readonly [string, readonly Segment[]]>
  readonly joseHeaders: ReadonlyArray<readonly [string, readonly Segment[]]>
  readonly payloadHeader: string | null
  /** Every header this policy writes: removed from the inbound request first. */
  readonly forwardedHeaders: readonly string[]
  readonly forwardToken: boolean
  readonly keyStore: KeyStore | null
  readonly cacheSize: number
  /** `decrypt`: the JWE decryptor; null for plain JWS. */
  readonly decrypt: Decryptor | null
  /** `providers`: issuer → that provider's compiled policy (the route's keys merged under its own); null without. */
  readonly providers: ReadonlyMap<string, CompiledPolicy> | null
  /**
   * `providers`: the size cap, decryption (nested), then the unverified `iss`
   * picks the provider whose verifier gets the token; null without providers.
   */
  readonly pick: ((token: string) => Picked | Promise<Picked>) | null
}

/** A provider picked for a token, and the (decrypted) JWS it verifies. */
export interface Picked {
  readonly policy: CompiledPolicy
  readonly token: string
}

const warned = new Set<string>()
/** One coded warning per process for each risky-but-legal setting (per message when `perMessage`). */
function warnOnce (code: string, message: string, perMessage = false): void {
  const id = perMessage ? `${code} ${message}` : code
  if (warned.has(id)) return
  warned.add(id)
  process.emitWarning(message, { type: 'FastifyJwtGatewayWarning', code })
}

// Claims that identity providers issue as lists: `!in` on them is rarely what
// was meant (see compileChecks).
const LIST_CLAIMS = new Set(['aud', 'amr', 'roles', 'groups', 'scope', 'scp', 'permissions', 'entitlements'])

// RFC 6750 §3 scope: scope-tokens of %x21 / %x23-5B / %x5D-7E, separated by one space.
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/
// A URL inside a quoted-string: visible ASCII without '"' and '\\'.
const QUOTABLE_URL = /^https?:\/\/[\x21\x23-\x5b\x5d-\x7e]+$/

/** Walks an entry list for `!in` on a claim that is usually a list. */
function notInOnList (list: readonly RequirementEntry[], where: string, spaced: ReadonlySet<string>, out: string[]): void {
  list.forEach((e, i) => {
    const here = `${where}[${i}]`
    if (e === null || typeof e !== 'object') return
    if ('anyOf' in e && Array.isArray(e.anyOf)) return notInOnList(e.anyOf, `${here}.anyOf`, spaced, out)
    if (!('op' in e) || e.op !== '!in') return
    let segs: Segment[]
    try {
      segs = parsePath(e.claim)
    } catch {
      return
    }
    const last = segs[segs.length - 1]
    if (spaced.has(formatPath(segs)) || (typeof last === 'string' && LIST_CLAIMS.has(last))) {
      out.push(`${here}: '!in' on the list claim ${formatPath(segs)} passes when some element is outside the list; it is not a deny-list: use '!intersect' to refuse tokens holding any of these values`)
    }
  })
}

/**
 * Key stores and revocation lists, shared by every policy of one app that
 * names the same sources: ten routes over one JWKS URL make one fetcher.
 */
export class SharedResources {
  private readonly stores = new Map<string, KeyStore>()
  private readonly revocations = new Map<string, Revocation>()
  /** One pair of connections per Redis url + prefix, whatever the files beside it. */
  private readonly redisStores = new Map<string, RedisRevocation>()

  keyStore (id: string, build: () => KeyStore): KeyStore {
    let store = this.stores.get(id)
    if (store === undefined) this.stores.set(id, (store = build()))
    return store
  }

  revocation (id: string, build: () => Revocation): Revocation {
    let r = this.revocations.get(id)
    if (r === undefined) this.revocations.set(id, (r = build()))
    return r
  }

  redisRevocation (spec: RedisRevocationOptions, log: ConstructorParameters<typeof RedisRevocation>[1]): RedisRevocation {
    const id = `${spec.url}\n${spec.prefix ?? DEFAULT_REVOCATION_PREFIX}`
    let r = this.redisStores.get(id)
    if (r === undefined) this.redisStores.set(id, (r = new RedisRevocation(spec, log)))
    return r
  }

  /** First load of every remote key set and Redis revocation store (bounded by each one's timeout). */
  ready (): Promise<void> {
    return Promise.all([
      ...[...this.stores.values()].map((s) => s.start()),
      ...[...this.redisStores.values()].map((r) => r.start())
    ]).then(() => undefined)
  }

  /** Every revocation file and Redis store, once each (README, "Revocation status"). */
  revocationStatus (): RevocationStatus[] {
    const seen = new Set<string>()
    const out: RevocationStatus[] = []
    for (const r of this.revocations.values()) {
      for (const s of r.status()) {
        const id = `${s.kind}:${s.source}:${s.prefix ?? ''}`
        if (!seen.has(id)) out.push(s)
        seen.add(id)
      }
    }
    return out
  }

  status (): ReturnType<KeyStore['status']> {
    return [...this.stores.values()].flatMap((s) => s.status())
  }

  close (): void {
    for (const s of this.stores.values()) s.close()
    for (const r of this.revocations.values()) r.close()
    for (const r of this.redisStores.values()) r.close()
    this.stores.clear()
    this.revocations.clear()
    this.redisStores.clear()
  }
}

function resolveFile (file: string, baseDir: string | undefined): string {
  return isAbsolute(file) || baseDir === undefined ? file : resolve(baseDir, file)
}

/** Validates a whole policy and compiles it. Throws an FJG_ERR_OPTION_* naming every problem. */
export function compilePolicy (input: JwtPolicy, ctx: CompileContext = {}): CompiledPolicy {
  if (ctx.validated !== true) {
    const problems = policyProblems(input, ctx.where ?? '')
    if (problems.length > 0) throw invalid(problems)
  }
  if (input.providers !== undefined) return compileProviders(input, ctx)
  return compileOne(input, ctx, false)
}

const HTTP_URL = /^https?:\/\/[^\s]+$/

/**
 * `providers` (README, Providers): each provider is compiled as a whole policy,
 * the route's keys with the provider's over them, its own keys only, its
 * issuer as `issuer`. Each so has its own verifier and token cache: a token
 * verified under provider A is cached in A's verifier, which B's never reads.
 */
function compileProviders (input: JwtPolicy, ctx: CompileContext): CompiledPolicy {
  const where = ctx.where ?? ''
  const at = (key: string): string => jsonPath(where, '/' + key)
  const { providers: list, ...route } = input as JwtPolicy & { providers: ProviderPolicy[] }
  const problems: string[] = []
  // Keys beside providers would verify nothing (an unknown iss is refused), or worse, be thought to.
  for (const key of ['keys', 'secret', 'issuer'] as const) {
    if (route[key] !== undefined) problems.push(`${at(key)}: not beside "providers" (here or inherited from an outer policy): give each provider its ${key === 'issuer' ? 'issuer' : 'keys'}`)
  }
  if (route.validateSig === false) problems.push(`${at('validateSig')}: false is not allowed beside "providers": a provider is chosen by an iss that only its keys prove`)
  if (route.decrypt?.type === 'encrypted') problems.push(`${at('decrypt')}.type: "encrypted" tokens are not signed, so no provider's keys could verify them: use "nested" with providers`)
  const seen = new Map<string, number>()
  const effective: JwtPolicy[] = []
  list.forEach((p, i) => {
    const here = `${at('providers')}[${i}]`
    const first = seen.get(p.issuer)
    if (first !== undefined) problems.push(`${here}.issuer: ${JSON.stringify(p.issuer)} is already the issuer of providers[${first}]`)
    else seen.set(p.issuer, i)
    let keys = p.keys
    if (keys === undefined && p.secret === undefined) {
      // OpenID discovery from the issuer itself: its keys are bound to it (remote-source.ts).
      if (HTTP_URL.test(p.issuer)) keys = [{ issuer: p.issuer }]
      else problems.push(`${here}: needs "keys" or "secret": its issuer ${JSON.stringify(p.issuer)} is not an http(s) URL for OpenID discovery`)
    }
    ;(keys ?? []).forEach((k, j) => {
      const bound = (k as { issuer?: string }).issuer
      if (bound !== undefined && bound !== p.issuer) problems.push(`${here}.keys[${j}].issuer: ${JSON.stringify(bound)} is not this provider's issuer ${JSON.stringify(p.issuer)}: its keys would verify none of its tokens`)
    })
    const secretIssuer = typeof p.secret === 'object' ? p.secret.issuer : undefined
    if (secretIssuer !== undefined && secretIssuer !== p.issuer) problems.push(`${here}.secret.issuer: ${JSON.stringify(secretIssuer)} is not this provider's issuer ${JSON.stringify(p.issuer)}`)
    const { decrypt: _d, ...shared } = route
    effective.push({ ...shared, ...p, ...(keys === undefined ? {} : { keys }) })
  })
  if (problems.length > 0) throw invalid(problems)

  // The route's own keys, checked once under the route's path; its verifier is never used.
  const { decrypt: decryptSpec, ...routeOnly } = route
  const base = compileOne(routeOnly, ctx, true)
  const byIssuer = new Map<string, CompiledPolicy>()
  const errors: string[] = []
  effective.forEach((e, i) => {
    try {
      byIssuer.set(e.issuer as string, compileOne(e, { ...ctx, where: `${at('providers')}[${i}]` }, false))
    } catch (err) {
      errors.push(...((err as { problems?: string[] }).problems ?? [(err as Error).message]))
    }
  })
  let decrypt: Decryptor | null = null
  if (decryptSpec !== undefined) {
    decrypt = compileDecrypt(decryptSpec, at('decrypt'), (f) => resolveFile(f, ctx.baseDir), errors, cacheOf(route))
  }
  if (errors.length > 0) throw invalid(errors)

  const maxTokenSize = route.maxTokenSize ?? DEFAULT_MAX_TOKEN_SIZE
  const select = (token: string): Picked => {
    const policy = byIssuer.get(unverifiedIss(token) as string)
    if (policy === undefined) throw new FJG_ERR_TOKEN_ISSUER()
    return { policy, token }
  }
  const pick = (token: string): Picked | Promise<Picked> => {
    if (token.length > maxTokenSize) throw new FJG_ERR_TOKEN_TOO_LARGE(maxTokenSize)
    if (decrypt === null) return select(token)
    if (!isJwe(token)) throw new FJG_ERR_TOKEN_NOT_ENCRYPTED()
    return decrypt.open(token).then((opened) => select(opened.plaintext))
  }
  const verify: Verify = (token) => {
    const picked = pick(token)
    if (typeof (picked as Promise<Picked>).then === 'function') return (picked as Promise<Picked>).then((p) => p.policy.verify(p.token))
    return (picked as Picked).policy.verify((picked as Picked).token)
  }
  return Object.freeze({ ...base, policy: Object.freeze({ ...input }), verify, decrypt, providers: byIssuer, pick })
}

/**
 * The `iss` a JWS claims, before anything is verified: it only picks the
 * provider, whose verifier then checks everything (and `iss` again).
 */
function unverifiedIss (token: string): string | null {
  const dot1 = token.indexOf('.')
  const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1)
  if (dot1 <= 0 || dot2 === -1 || token.indexOf('.', dot2 + 1) !== -1) throw new FJG_ERR_TOKEN_MALFORMED('a JWS has three parts')
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8'))
  } catch {
    throw new FJG_ERR_TOKEN_MALFORMED('the payload is not a JSON object')
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new FJG_ERR_TOKEN_MALFORMED('the payload is not a JSON object')
  const iss = (payload as { iss?: unknown }).iss
  return typeof iss === 'string' ? iss : null
}

function cacheOf (policy: JwtPolicy): { cacheSize: number, cacheTtl: number } {
  const c = policy.cache
  return {
    cacheSize: c === false ? 0 : (c?.size ?? DEFAULT_CACHE_SIZE),
    cacheTtl: (c === false ? 0 : (c?.ttl ?? DEFAULT_CACHE_TTL)) * 1000
  }
}

/** One policy without providers; `keyless`: the route part of a policy with providers (no keys of its own). */
function compileOne (input: JwtPolicy, ctx: CompileContext, keyless: boolean): CompiledPolicy {
  const where = ctx.where ?? ''
  const at = (key: string): string => jsonPath(where, '/' + key)
  const problems: string[] = []
  // Copy before touching, freeze what was validated (fastify processOptions).
  const policy: JwtPolicy = Object.freeze({ ...input })
  const shared = ctx.shared ?? new SharedResources()
  const log: RemoteLogger = ctx.log ?? { info () {}, warn () {}, error () {} }

  const realm = policy.realm ?? DEFAULT_REALM
  // RFC 6750 §3 / RFC 9110 quoted-string: no quote, backslash or control character.
  // eslint-disable-next-line no-control-regex
  if (/["\\\u0000-\u001f\u007f]/.test(realm)) problems.push(`${at('realm')}: must not contain quotes, backslashes or control characters`)

  const sources = policy.token === undefined ? [DEFAULT_TOKEN_SOURCE] : ([] as string[]).concat(policy.token)
  const tokenSources: TokenSourceSpec[] = []
  sources.forEach((s, i) => {
    try {
      tokenSources.push(parseTokenSource(s))
    } catch (err) {
      problems.push(`${typeof policy.token === 'string' ? at('token') : `${at('token')}[${i}]`}: ${(err as Error).message}`)
    }
  })

  // decrypt.type "encrypted": the JWE's authenticated encryption under our key is the integrity check; no signature.
  const encrypted = policy.decrypt?.type === 'encrypted'
  const validateSig = policy.validateSig !== false && !keyless && !encrypted
  if (encrypted) {
    for (const key of ['secret', 'keys'] as const) {
      if (policy[key] !== undefined) problems.push(`${at(key)}: verifies nothing with decrypt.type "encrypted" (the claims are not signed): remove it, or use "nested"`)
    }
    if (policy.payloadHeader !== undefined) problems.push(`${at('payloadHeader')}: not available with decrypt.type "encrypted": there is no signed payload segment to forward`)
    if (policy.algorithms !== undefined) problems.push(`${at('algorithms')}: signature algorithms mean nothing with decrypt.type "encrypted": the JWE's alg and enc are decrypt.algorithms`)
  }
  const local: KeyEntry[] = []
  const remoteSpecs: Array<{ spec: Parameters<typeof createRemoteSource>[0], where: string }> = []
  if (policy.secret !== undefined) {
    const s = policy.secret
    try {
      const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s.base64, 'base64')
      const entry = secretEntry(bytes, null, undefined, 'secret')
      if (bytes.length < 32) {
        // RFC 7518 §3.2: at least the hash output (32 bytes for HS256). Legal
        // here for compatibility (jwt_secret takes any string), so a warning.
        warnOnce('FJG_WARN_HMAC_KEY_SHORT', `"secret" is ${bytes.length} bytes, shorter than the 32-byte hash output of HS256 (RFC 7518 §3.2): use at least 32 random bytes`)
      }
      if (typeof s !== 'string' && s.issuer !== undefined) entry.issuer = s.issuer
      local.push(entry)
    } catch (err) {
      problems.push(`${at('secret')}: ${(err as Error).message}`)
    }
  }
  for (const [i, source] of (policy.keys ?? []).entries()) {
    const here = `${at('keys')}[${i}]`
    // `{ issuer }` alone is OpenID discovery; beside another kind, `issuer`
    // binds that source's keys to the issuer (issue 10, point 6).
    const given = (['file', 'jwk', 'jwks', 'keyval'] as const).filter((k) => k in source)
    const bindTo = given.length > 0 ? ((source as { issuer?: string }).issuer ?? null) : null
    const kinds = given.length > 0 ? given : (['issuer'] as const).filter((k) => k in source)
    if (kinds.length !== 1) {
      problems.push(`${here}: needs exactly one of "file", "jwk", "jwks", "keyval", "issuer"${kinds.length > 1 ? `, got ${kinds.join(' and ')}` : ''}`)
      continue
    }
    const kind = kinds[0] as 'file' | 'jwk' | 'jwks' | 'keyval' | 'issuer'
    const bind = (entries: KeyEntry[]): KeyEntry[] => {
      for (const e of entries) e.issuer = bindTo
      return entries
    }
    try {
      if (kind === 'file') {
        const path = resolveFile((source as { file: string }).file, ctx.baseDir)
        const skipped: string[] = []
        local.push(...bind(fileEntries(path, skipped)))
        // The rule of a key set from a URL (keys.ts jwksEntries): skipped, with a coded warning.
        if (skipped.length > 0) log.warn({ jwks: { source: path, skipped, code: 'FJG_WARN_KEY_SKIPPED' } }, 'jwt: keys skipped in the key set')
      } else if (kind === 'jwk') {
        const entry = jwkEntry((source as { jwk: unknown }).jwk, `${here}.jwk`)
        if (entry === null) throw new KeyError('the JWK is not a signature key (use/key_ops)')
        local.push(...bind([entry]))
      } else {
        const s = source as unknown as { cacheTtl?: number, timeout?: number, cooldown?: number, maxStale?: number, tls?: KeySourceTls } & Record<string, string>
        let tls: ConnectTls | undefined
        if (s.tls !== undefined) {
          // Files read and checked now (missing, not PEM, key/cert mismatch), each problem naming `keys[i].tls.<name>`.
          const loaded = loadKeySourceTls(s.tls, ctx.baseDir, `${here}.tls`)
          problems.push(...loaded.problems)
          tls = loaded.connect
          if (!tls.rejectUnauthorized) {
            warnOnce('FJG_WARN_KEY_TLS_UNVERIFIED', `${here}.tls.rejectUnauthorized: false — the certificate of ${s[kind] as string} is NOT verified; anyone on the path can serve keys`, true)
            log.warn({ jwks: { source: `${kind} ${s[kind] as string}`, code: 'FJG_WARN_KEY_TLS_UNVERIFIED' } }, 'jwt: TLS certificate verification is off for a key source')
          }
        }
        remoteSpecs.push({
          spec: { kind, url: s[kind] as string, cacheTtl: s.cacheTtl, timeout: s.timeout, cooldown: s.cooldown, maxStale: s.maxStale, ...(bindTo === null ? {} : { issuer: bindTo }), ...(tls === undefined ? {} : { tls }) },
          where: `${here}.${kind}`
        })
      }
    } catch (err) {
      problems.push(`${here}${kind === 'jwk' ? '.jwk' : `.${kind}`}: ${(err as Error).message}`)
    }
  }

  // Algorithms: given, or derived from the keys. "none" is not in the schema's enum.
  const derived = new Set<Algorithm>()
  for (const e of local) for (const a of e.algorithms) derived.add(a)
  if (remoteSpecs.length > 0) for (const a of ASYMMETRIC) derived.add(a)
  let algorithms: Set<Algorithm>
  if (policy.algorithms !== undefined) {
    algorithms = new Set(policy.algorithms)
    if (validateSig && remoteSpecs.length === 0) {
      for (const a of algorithms) {
        if (!derived.has(a)) problems.push(`${at('algorithms')}: no key can verify ${a}`)
      }
    }
  } else {
    algorithms = validateSig || keyless ? derived : new Set(ALGORITHMS)
  }
  if (validateSig && local.length === 0 && remoteSpecs.length === 0 && problems.length === 0) {
    problems.push(`${where || '(policy)'}: no key to verify tokens with: give "secret" or "keys" (or "validateSig": false)`)
  }

  // Space-delimited claims are named by path, compared in the one canonical spelling.
  const spaceDelimited = new Set<string>()
  ;(policy.spaceDelimitedClaims ?? DEFAULT_SPACE_DELIMITED_CLAIMS).forEach((p, i) => {
    try {
      spaceDelimited.add(formatPath(parsePath(p)))
    } catch (err) {
      problems.push(`${at('spaceDelimitedClaims')}[${i}]: ${JSON.stringify(p)} is not a valid path: ${(err as Error).message}`)
    }
  })
  const compileChecks = (list: RequirementEntry[] | undefined, key: string, spaced: ReadonlySet<string>): CompiledRequirement[] => {
    const out: CompiledRequirement[] = []
    ;(list ?? []).forEach((req, i) => {
      try {
        out.push(compileEntry(req, `${at(key)}[${i}]`, { spaceDelimited: spaced }))
      } catch (err) {
        problems.push((err as Error).message)
      }
    })
    return out
  }
  const claimChecks = compileChecks(policy.requireClaims, 'requireClaims', spaceDelimited)
  // The JOSE header has no space-delimited parameters.
  const headerChecks = compileChecks(policy.requireHeaders, 'requireHeaders', new Set())
  const notIn: string[] = []
  notInOnList(policy.requireClaims ?? [], at('requireClaims'), spaceDelimited, notIn)
  for (const w of notIn) warnOnce('FJG_WARN_NOT_IN_LIST', w, true)

  let tokenCheck: TokenCheck | null = null
  try {
    tokenCheck = compileTokenChecks(policy.tokenType, policy.maxAge, policy.leeway ?? DEFAULT_LEEWAY)
  } catch (err) {
    problems.push(`${where === '' ? '' : where + '.'}${(err as Error).message}`)
  }

  let challengeParams = ''
  const ch = policy.challenge
  if (ch?.scope !== undefined) {
    if (SCOPE.test(ch.scope)) challengeParams += `, scope="${ch.scope}"`
    else problems.push(`${at('challenge')}.scope: must be scope tokens separated by single spaces, without quotes or backslashes (RFC 6750 §3)`)
  }
  if (ch?.resourceMetadata !== undefined) {
    if (QUOTABLE_URL.test(ch.resourceMetadata)) challengeParams += `, resource_metadata="${ch.resourceMetadata}"`
    else problems.push(`${at('challenge')}.resourceMetadata: must be an http(s) URL without spaces, quotes or backslashes (RFC 9728 §5.1)`)
  }

  const headerPairs = (map: Record<string, string | string[]> | undefined, key: string): Array<readonly [string, Segment[]]> => {
    const out: Array<readonly [string, Segment[]]> = []
    for (const [name, path] of Object.entries(map ?? {})) {
      try {
        out.push([name.toLowerCase(), parsePath(path)] as const)
      } catch (err) {
        problems.push(`${jsonPath(at(key), '/' + name.replace(/~/g, '~0').replace(/\//g, '~1'))}: ${JSON.stringify(path)} is not a valid path: ${(err as Error).message}`)
      }
    }
    return out
  }
  const claimHeaders = headerPairs(policy.claimsToHeaders, 'claimsToHeaders')
  const joseHeaders = headerPairs(policy.joseHeadersToHeaders, 'joseHeadersToHeaders')
  const payloadHeader = policy.payloadHeader?.toLowerCase() ?? null
  const forwardedHeaders = [...new Set([
    ...claimHeaders.map(([n]) => n),
    ...joseHeaders.map(([n]) => n),
    ...(payloadHeader === null ? [] : [payloadHeader])
  ])]
  for (const name of forwardedHeaders) {
    if (tokenSources.some((t) => (t.kind === 'header' || t.kind === 'bearer') && t.name === name)) {
      problems.push(`${where || '(policy)'}: header "${name}" is both a token source and a forwarded header`)
    }
  }

  let revocation: Revocation | null = null
  if (policy.revocation !== undefined && Object.keys(policy.revocation).length > 0) {
    const { redis: redisSpec, ...fileSpecs } = policy.revocation
    const files: Partial<Record<RevocationKind, string>> = {}
    for (const [kind, file] of Object.entries(fileSpecs)) files[kind as RevocationKind] = resolveFile(file, ctx.baseDir)
    try {
      const redis = redisSpec === undefined ? undefined : shared.redisRevocation(redisSpec, log)
      revocation = shared.revocation(JSON.stringify({ files, redis: redisSpec }), () => new Revocation(files, log, { redis }))
    } catch (err) {
      if (!(err instanceof RevocationError)) throw err
      const kind = (Object.keys(files) as RevocationKind[]).find((k) => err.message.includes(files[k] as string)) ?? ''
      problems.push(`${at('revocation')}${kind ? `.${kind}` : ''}: ${err.message}`)
    }
  }

  const cacheOpt = cacheOf(policy)
  let decrypt: Decryptor | null = null
  if (policy.decrypt !== undefined) {
    decrypt = compileDecrypt(policy.decrypt, at('decrypt'), (f) => resolveFile(f, ctx.baseDir), problems, cacheOpt)
    // Legal (NGINX Plus allows it), but whoever has the public key can make such a token.
    if (decrypt !== null && encrypted && [...decrypt.keyAlgorithms].some((a) => a.startsWith('RSA') || a.startsWith('ECDH'))) {
      warnOnce('FJG_WARN_ENCRYPTED_PUBLIC_KEY', 'decrypt.type "encrypted" with RSA-OAEP or ECDH-ES: the claims are not signed, so anyone holding the gateway\'s public key can make a token that is accepted; use "nested", or dir/A*KW with a key shared with the issuer')
    }
  }

  if (problems.length > 0) throw invalid(problems)

  let keyStore: KeyStore | null = null
  if (validateSig) {
    const id = JSON.stringify({ secret: policy.secret, keys: policy.keys, baseDir: ctx.baseDir })
    try {
      keyStore = shared.keyStore(id, () => {
        const remote: RemoteKeySource[] = remoteSpecs.map(({ spec, where: w }) => {
          try {
            return createRemoteSource(spec, log)
          } catch (err) {
            throw withProblems(new FJG_ERR_OPTION_KEY(`${w}: ${(err as Error).message}`), [`${w}: ${(err as Error).message}`])
          }
        })
        return new KeyStore(local, remote)
      })
    } catch (err) {
      if ((err as { code?: string }).code === 'FJG_ERR_OPTION_KEY') throw err
      throw withProblems(new FJG_ERR_OPTION_KEY(`${at('keys')}: ${(err as Error).message}`), [`${at('keys')}: ${(err as Error).message}`])
    }
  } else if (!keyless && !encrypted) {
    warnOnce('FJG_WARN_VALIDATE_SIG_OFF', '"validateSig": false — token signatures are NOT checked; anyone can forge a token')
  }
  if (policy.validateExp === false) {
    warnOnce('FJG_WARN_VALIDATE_EXP_OFF', '"validateExp": false — expired tokens are accepted')
  }

  const { cacheSize, cacheTtl } = cacheOpt
  const toSet = (v: string | string[] | undefined): Set<string> | null => v === undefined ? null : new Set(([] as string[]).concat(v))

  const { verify } = compileVerifier({
    keyStore,
    algorithms,
    issuer: toSet(policy.issuer),
    audience: toSet(policy.audience),
    leeway: policy.leeway ?? DEFAULT_LEEWAY,
    validateExp: policy.validateExp !== false,
    maxTokenSize: policy.maxTokenSize ?? DEFAULT_MAX_TOKEN_SIZE,
    cacheSize,
    cacheTtl,
    revocation,
    requireKid: revocation !== null && policy.revocation?.kid !== undefined,
    decrypt
  })

  return Object.freeze({
    policy,
    realm,
    phase: policy.phase ?? DEFAULT_PHASE,
    optional: policy.optional === true,
    tokenSources,
    extract: compileExtractor(tokenSources),
    verify,
    algorithms,
    tokenCheck,
    claimChecks,
    headerChecks,
    require: policy.require ?? null,
    challengeParams,
    claimHeaders,
    joseHeaders,
    payloadHeader,
    forwardedHeaders,
    forwardToken: policy.forwardToken !== false,
    keyStore,
    cacheSize,
    decrypt,
    providers: null,
    pick: null
  })
}
