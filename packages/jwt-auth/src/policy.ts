import Ajv, { type ErrorObject } from 'ajv'
import { isAbsolute, resolve } from 'node:path'
import { compileEntry, DEFAULT_SPACE_DELIMITED_CLAIMS, formatPath, parsePath, type CompiledRequirement, type Segment } from './claims.js'
import { FJG_ERR_OPTION_INVALID, FJG_ERR_OPTION_KEY } from './errors.js'
import { KeyStore, type RemoteKeySource } from './key-store.js'
import { fileEntries, jwkEntry, KeyError, secretEntry, type KeyEntry } from './keys.js'
import { createRemoteSource, type RemoteLogger } from './remote-source.js'
import { loadKeySourceTls, type ConnectTls, type KeySourceTls } from './remote-tls.js'
import { Revocation, RevocationError, type RevocationKind } from './revocation.js'
import { DEFAULT_REVOCATION_PREFIX, RedisRevocation, type RedisRevocationOptions, type RevocationStatus } from './revocation-redis.js'
import { ALGORITHMS, policySchema } from './schema.js'
import { compileExtractor, DEFAULT_TOKEN_SOURCE, parseTokenSource, type Extractor, type TokenSourceSpec } from './token-source.js'
import { compileTokenChecks, type TokenCheck } from './token-checks.js'
import type { Algorithm, JwtPolicy, RequirementEntry } from './types.js'
import { compileVerifier, type Verify } from './verify.js'

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
      msg = `${jsonPath(prefix, e.instancePath + '/' + (e.params as { additionalProperty: string }).additionalProperty)}: unknown key`
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
  const where = ctx.where ?? ''
  const at = (key: string): string => jsonPath(where, '/' + key)
  const problems = policyProblems(input, where)
  if (problems.length > 0) throw invalid(problems)
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

  const validateSig = policy.validateSig !== false
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
    algorithms = validateSig ? derived : new Set(ALGORITHMS)
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
  } else {
    warnOnce('FJG_WARN_VALIDATE_SIG_OFF', '"validateSig": false — token signatures are NOT checked; anyone can forge a token')
  }
  if (policy.validateExp === false) {
    warnOnce('FJG_WARN_VALIDATE_EXP_OFF', '"validateExp": false — expired tokens are accepted')
  }

  const cacheOpt = policy.cache
  const cacheSize = cacheOpt === false ? 0 : (cacheOpt?.size ?? DEFAULT_CACHE_SIZE)
  const cacheTtl = (cacheOpt === false ? 0 : (cacheOpt?.ttl ?? DEFAULT_CACHE_TTL)) * 1000
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
    requireKid: revocation !== null && policy.revocation?.kid !== undefined
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
    cacheSize
  })
}
