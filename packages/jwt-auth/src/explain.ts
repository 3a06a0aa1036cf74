import { type Answer, compileAnswer } from './answer.js'
import { shown, type CompiledRequirement, type Explained } from './claims.js'
import { FJG_ERR_CLAIM_REQUIREMENT, FJG_ERR_HEADER_REQUIREMENT, FJG_ERR_TOKEN_MALFORMED, type FjgError } from './errors.js'
import type { CompiledPolicy, Picked } from './policy.js'
import { mediaType } from './token-checks.js'
import type { JsonValue, VerifiedJwt } from './types.js'
import { isJwe } from './verify.js'

// What a token carries and why a policy refuses it, in words: for denial log
// lines and the `explain` command. Shows decoded header and payload values,
// never the token, its signature or a key.

type Obj = Record<string, JsonValue>

/** `3 h 12 min`, `1 h 0 min`, `45 s`, `2 d 4 h`: the largest unit and the next one. */
export function duration (seconds: number): string {
  let s = Math.round(Math.abs(seconds))
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]] as const
  let i = 0
  while (i < units.length - 1 && s < (units[i] as readonly [string, number])[1]) i++
  const parts: string[] = []
  for (let j = i; j < Math.min(i + 2, units.length); j++) {
    const [unit, size] = units[j] as readonly [string, number]
    parts.push(`${Math.floor(s / size)} ${unit}`)
    s %= size
  }
  return parts.join(' ')
}

/** `2026-12-01T19:00:00Z (expired 3 h 12 min ago)`; `past` / `future` name the event. */
export function when (t: JsonValue | undefined, nowSec: number, past: string, future: string): string {
  if (typeof t !== 'number' || !Number.isFinite(t)) return shown(t)
  const date = Math.abs(t) < 8.64e12 ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : String(t)
  const d = t - nowSec
  return `${date} (${d <= 0 ? `${past} ${duration(d)} ago` : `${future} in ${duration(d)}`})`
}

/** Decodes a compact JWS's header and payload without verifying; null when it cannot. */
export function decode (token: string): { header: Obj, payload: Obj } | null {
  const dot1 = token.indexOf('.')
  const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1)
  if (dot1 <= 0 || dot2 === -1) return null
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString('utf8'))
    const payload = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8'))
    if (header === null || typeof header !== 'object' || Array.isArray(header)) return null
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { header, payload: {} }
    return { header, payload }
  } catch {
    return null
  }
}

/** `requirement ← value` lines of an outcome, depth-first. */
export function outcomeLines (e: Explained, indent = ''): string[] {
  if (e.anyOf === undefined) return [`${indent}${e.requirement}: ${e.value ?? 'absent'}`]
  return [`${indent}any of:`, ...e.anyOf.flatMap((b) => outcomeLines(b, indent + '  '))]
}

/** Fields of a denial log line: the values the failed check looked at. */
export function deniedFacts (token: string | null, jwt: VerifiedJwt | null, failed?: CompiledRequirement, onHeader = false): Record<string, unknown> | null {
  const d = jwt ?? (token === null || token.length > 16384 ? null : decode(token))
  if (d === null) return null
  const nowSec = Date.now() / 1000
  const h = d.header
  const p = d.payload
  const out: Record<string, unknown> = {}
  if (h.alg !== undefined) out.alg = shown(h.alg)
  if (h.typ !== undefined) out.typ = shown(h.typ)
  if (p.iss !== undefined) out.iss = shown(p.iss)
  if (p.aud !== undefined) out.aud = shown(p.aud)
  if (p.exp !== undefined) out.exp = when(p.exp, nowSec, 'expired', 'expires')
  if (p.iat !== undefined) out.iat = when(p.iat, nowSec, 'issued', 'issued')
  if (failed !== undefined) {
    out.requirement = failed.path
    out.values = outcomeLines(failed.explain(onHeader ? h : p))
  }
  return out
}

export interface ExplainStep {
  /** `alg`, `key`, `signature`, `exp`, `requireClaims[0]`, ... */
  name: string
  /** null: not checked by this policy. */
  pass: boolean | null
  detail: string[]
}

export interface Explanation {
  header: Obj | null
  payload: Obj | null
  steps: ExplainStep[]
  /** The first failure, as the hook finds it; null when the token is accepted. */
  error: FjgError | null
  /** The hook's answer for `error`; null when accepted. */
  answer: Answer | null
}

const list = (v: string | readonly string[] | undefined): string[] | null => v === undefined ? null : ([] as string[]).concat(v)

/**
 * Runs every check of a compiled policy on one token and says what each saw.
 * The verdict comes from the policy's own verifier and checks, in the hook's
 * order; the per-check lines are computed beside it from the decoded token.
 */
function ours (err: unknown): FjgError {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && code.startsWith('FJG_ERR_') ? err as FjgError : new FJG_ERR_TOKEN_MALFORMED('it could not be processed') as FjgError
}

/** `decrypt`: the decryption step, and what the JWE holds (null when it cannot be opened). */
async function opened (c: CompiledPolicy, token: string, steps: ExplainStep[]): Promise<{ header: Obj, payload: Obj } | string | null> {
  const d = c.decrypt as NonNullable<CompiledPolicy['decrypt']>
  const algs = `allowed: ${[...d.keyAlgorithms, ...d.encryptions].join(', ')}`
  if (!isJwe(token)) {
    steps.push({ name: 'decrypt', pass: false, detail: [`not a JWE (${token.split('.').length} parts); decrypt.type ${d.type} requires one`] })
    return null
  }
  try {
    const o = await d.open(token)
    steps.push({ name: 'decrypt', pass: true, detail: [`JWE alg ${shown(o.header.alg as JsonValue)}, enc ${shown(o.header.enc as JsonValue)}; ${algs}; holds ${d.type === 'nested' ? 'a JWS' : 'the claims'}`] })
    if (d.type === 'nested') return o.plaintext
    const payload = JSON.parse(o.plaintext) as unknown
    return { header: o.header as Obj, payload: payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? payload as Obj : {} }
  } catch (err) {
    steps.push({ name: 'decrypt', pass: false, detail: [`${ours(err).message}; ${algs}`] })
    return null
  }
}

/** `providers`: the pick, then the picked provider's explanation. */
async function explainProviders (c: CompiledPolicy, token: string, nowMs: number): Promise<Explanation> {
  const providers = c.providers as ReadonlyMap<string, CompiledPolicy>
  const issuers = [...providers.keys()]
  const steps: ExplainStep[] = []
  let inner: string | null = token
  if (c.decrypt !== null) {
    const o = await opened(c, token, steps)
    inner = typeof o === 'string' ? o : null
  }
  let picked: Picked | null = null
  let error: FjgError | null = null
  try {
    picked = await (c.pick as NonNullable<CompiledPolicy['pick']>)(token)
  } catch (err) {
    error = ours(err)
  }
  if (picked === null) {
    const decoded = inner === null || inner.length > (c.policy.maxTokenSize ?? 16384) ? null : decode(inner)
    const why = error?.code === 'FJG_ERR_TOKEN_ISSUER'
      ? `iss ${shown(decoded?.payload.iss)}: no provider; providers: ${issuers.join(', ')}`
      : `not picked: ${(error as FjgError).message}`
    steps.push({ name: 'provider', pass: false, detail: [why] })
    return { header: decoded?.header ?? null, payload: decoded?.payload ?? null, steps, error, answer: compileAnswer(c.realm, c.challengeParams)(error as FjgError) }
  }
  const p = picked.policy
  const i = issuers.indexOf(p.policy.issuer as string)
  const ex = await explainToken(p, picked.token, nowMs)
  ex.steps.unshift(...steps, { name: 'provider', pass: true, detail: [`providers[${i}]: issuer ${shown(p.policy.issuer as string)}`] })
  return ex
}

export async function explainToken (c: CompiledPolicy, token: string, nowMs = Date.now()): Promise<Explanation> {
  if (c.providers !== null) return explainProviders(c, token, nowMs)
  const nowSec = nowMs / 1000
  const policy = c.policy
  const steps: ExplainStep[] = []
  let error: FjgError | null = null
  let verified: VerifiedJwt | null = null
  try {
    verified = await c.verify(token)
  } catch (err) {
    error = ours(err)
  }
  const tooLarge = token.length > (policy.maxTokenSize ?? 16384)
  let decoded: { header: Obj, payload: Obj } | null = null
  const encrypted = c.decrypt?.type === 'encrypted'
  if (c.decrypt !== null && !tooLarge) {
    const o = await opened(c, token, steps)
    if (typeof o === 'string') {
      // nested: what follows is about the inner JWS.
      token = o
      decoded = decode(o)
    } else {
      decoded = o
    }
  } else {
    decoded = tooLarge ? null : decode(token)
  }
  const code = error?.code
  const parts = token.split('.').length
  steps.push({
    name: 'format',
    pass: decoded !== null && !['FJG_ERR_TOKEN_MALFORMED', 'FJG_ERR_TOKEN_TOO_LARGE', 'FJG_ERR_TOKEN_CRIT'].includes(code ?? ''),
    detail: [decoded === null
      ? (parts === 5 ? 'not a JWS: 5 parts (an encrypted JWE?)' : `cannot be decoded (${token.length} bytes, ${parts} part${parts === 1 ? '' : 's'})`)
      : encrypted ? `JWE, ${token.length} bytes; encrypted parts not shown` : `JWS, ${token.length} bytes; signature not shown`].concat(error !== null && ['FJG_ERR_TOKEN_MALFORMED', 'FJG_ERR_TOKEN_TOO_LARGE', 'FJG_ERR_TOKEN_CRIT'].includes(code ?? '') ? [error.message] : [])
  })
  const h = decoded?.header ?? {}
  const p = decoded?.payload ?? {}
  if (decoded !== null && encrypted) {
    steps.push({ name: 'key', pass: null, detail: ['no signature (decrypt.type "encrypted"): the authenticated encryption under the gateway\'s key is the integrity check'] })
  }
  if (decoded !== null) {
    const alg = h.alg
    if (!encrypted) {
      steps.push({
        name: 'alg',
        pass: typeof alg === 'string' && c.algorithms.has(alg as never),
        detail: [`${shown(alg)}; allowed: ${[...c.algorithms].join(', ')}`]
      })
    }
    if (encrypted) {
      // The key step is above; the JWE's alg is in the decrypt step.
    } else if (c.keyStore === null) {
      steps.push({ name: 'key', pass: null, detail: ['signatures are not checked ("validateSig": false)'] })
    } else if (typeof alg === 'string' && c.algorithms.has(alg as never)) {
      const kid = typeof h.kid === 'string' ? h.kid : null
      const found = c.keyStore.find(kid, alg as never)
      const sources = [...new Set(found.map((e) => e.source))]
      steps.push({
        name: 'key',
        pass: found.length > 0,
        detail: [`kid ${kid === null ? 'absent' : shown(kid)}: ${found.length > 0 ? `${found.length} candidate key${found.length === 1 ? '' : 's'} in ${sources.join(', ')}` : (code === 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE' ? 'the key sources are unavailable' : 'no key matches')}`]
      })
      steps.push({
        name: 'signature',
        pass: found.length === 0 ? null : code !== 'FJG_ERR_TOKEN_SIGNATURE',
        detail: [found.length === 0 ? 'not checked (no key)' : code === 'FJG_ERR_TOKEN_SIGNATURE' ? 'invalid for every candidate key' : 'valid']
      })
    }
    const leeway = policy.leeway ?? 0
    const validateExp = policy.validateExp !== false
    const exp = p.exp
    steps.push({
      name: 'exp',
      pass: exp === undefined ? true : typeof exp === 'number' && (!validateExp || nowSec < exp + leeway),
      detail: [exp === undefined ? 'absent (no expiry)' : when(exp, nowSec, 'expired', 'expires') + (validateExp ? (leeway > 0 ? `, leeway ${leeway} s` : '') : ', not checked ("validateExp": false)')]
    })
    if (p.nbf !== undefined) {
      steps.push({ name: 'nbf', pass: typeof p.nbf === 'number' && (!validateExp || nowSec >= p.nbf - leeway), detail: [when(p.nbf, nowSec, 'valid since', 'valid')] })
    }
    const issuers = list(policy.issuer)
    steps.push({
      name: 'iss',
      pass: issuers === null ? null : typeof p.iss === 'string' && issuers.includes(p.iss),
      detail: [`${shown(p.iss)}${issuers === null ? ' (not checked)' : `; allowed: ${issuers.join(', ')}`}`]
    })
    const audiences = list(policy.audience)
    const aud = p.aud
    steps.push({
      name: 'aud',
      pass: audiences === null ? null : (typeof aud === 'string' ? audiences.includes(aud) : Array.isArray(aud) && aud.some((a) => typeof a === 'string' && audiences.includes(a))),
      detail: [`${shown(aud)}${audiences === null ? ' (not checked)' : `; allowed: ${audiences.join(', ')}`}`]
    })
    if (policy.revocation !== undefined) {
      steps.push({ name: 'revocation', pass: code !== 'FJG_ERR_TOKEN_REVOKED', detail: [code === 'FJG_ERR_TOKEN_REVOKED' ? 'revoked' : 'not on the revocation lists'] })
    }
    if (policy.tokenType !== undefined) {
      steps.push({
        name: 'typ',
        pass: typeof h.typ === 'string' && mediaType(h.typ) === mediaType(policy.tokenType),
        detail: [`${shown(h.typ)}; required: ${mediaType(policy.tokenType)} (tokenType)`]
      })
    }
    if (policy.maxAge !== undefined) {
      const iat = p.iat
      steps.push({
        name: 'iat',
        pass: typeof iat === 'number' && iat <= nowSec + leeway && nowSec - iat <= policy.maxAge + leeway,
        detail: [`${iat === undefined ? 'absent' : when(iat, nowSec, 'issued', 'issued')}; maxAge ${policy.maxAge} s`]
      })
    }
  }
  if (verified !== null && c.tokenCheck !== null) error = c.tokenCheck(verified.header, verified.payload, nowSec)
  const requirements = (entries: readonly CompiledRequirement[], key: string, src: Obj, Ctor: new (path: string) => Error): void => {
    entries.forEach((r, i) => {
      const e = r.explain(src)
      steps.push({ name: `${key}[${i}]`, pass: e.pass, detail: outcomeLines(e) })
      if (!e.pass && verified !== null && error === null) {
        error = new Ctor(r.path) as unknown as FjgError
        if (r.status !== error.statusCode) error.statusCode = r.status
      }
    })
  }
  if (decoded !== null) {
    requirements(c.claimChecks, 'requireClaims', p, FJG_ERR_CLAIM_REQUIREMENT)
    requirements(c.headerChecks, 'requireHeaders', h, FJG_ERR_HEADER_REQUIREMENT)
  }
  if (c.require !== null) steps.push({ name: 'require', pass: null, detail: ['a function: not run by explain'] })
  const err = error as FjgError | null
  return {
    header: decoded?.header ?? null,
    payload: decoded?.payload ?? null,
    steps,
    error: err,
    answer: err === null ? null : compileAnswer(c.realm, c.challengeParams)(err)
  }
}
