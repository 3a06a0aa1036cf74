import { accessSync, constants, readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { jsonPath } from '@fastify-jwt-gateway/jwt-auth/internal'
import { findJsonSyntaxError } from './json-text.js'
import {
  FJG_ERR_CONFIG_ENV, FJG_ERR_CONFIG_INVALID, FJG_ERR_CONFIG_READ, FJG_ERR_CONFIG_SYNTAX, UserError, type UserErrorConstructor
} from './errors.js'
import { checkGatewayConfig, gatewayConfigProblems, type GatewayConfig } from './gateway.js'

// The config loader is a pipeline (platformatic foundation/lib/configuration.js):
// read → ${ENV} placeholders → resolve paths → validate. Each step reports every
// problem it finds at once; building (which reads key and revocation files)
// is the last step, in build.ts.

export const DEFAULT_CONFIG_FILE = 'gateway.json'

/** A config after the pipeline, with the folder its relative paths were resolved against. */
export interface LoadedConfig {
  file: string
  baseDir: string
  config: GatewayConfig
}

/** `a.b[0].c` from a list of keys and indexes: jwt-auth's path format, so every message reads the same. */
export function formatPath (parts: ReadonlyArray<string | number>): string {
  if (parts.length === 0) return '(config)'
  return jsonPath('', parts.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join(''))
}

/** Reads and parses the file; a syntax error names its line and column. */
export function readConfigFile (file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (err as Error).message
    throw new FJG_ERR_CONFIG_READ(`${file}: cannot read the config: ${why}`)
  }
  // Editors on Windows like to start UTF-8 files with a BOM; JSON.parse does not.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  try {
    return JSON.parse(text)
  } catch (err) {
    const where = findJsonSyntaxError(text)
    if (where === null) throw new FJG_ERR_CONFIG_SYNTAX(`${file}: invalid JSON: ${(err as Error).message}`)
    throw new FJG_ERR_CONFIG_SYNTAX(`${file}:${where.line}:${where.column}: invalid JSON: ${where.message}`)
  }
}

const PLACEHOLDER = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/**
 * Replaces `${NAME}` in every string of the document with the environment's
 * value (`$${NAME}` stays literally `${NAME}`). Every missing name is reported
 * at once, with the paths that use it.
 */
// Keys whose values are numbers or booleans: `"port": "${PORT}"` must work,
// and the environment only has strings. Only a string that is exactly one
// placeholder is converted, only under these keys, and only when the value is
// a plain number or true/false; anything else stays a string for the schema to
// refuse with its path. A secret that happens to be digits is never touched.
const NUMERIC_KEYS = new Set(['port', 'workers', 'trustProxy', 'leeway', 'cacheTtl', 'timeout', 'cooldown', 'maxStale', 'maxTokenSize', 'size', 'ttl'])
const BOOLEAN_KEYS = new Set(['validateExp', 'validateSig', 'optional', 'forwardToken', 'websocket', 'trustProxy', 'http2'])
const WHOLE_PLACEHOLDER = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?$/

function typed (key: string | number | undefined, raw: string, value: string): unknown {
  if (typeof key !== 'string' || !WHOLE_PLACEHOLDER.test(raw)) return value
  if (NUMERIC_KEYS.has(key) && NUMBER.test(value.trim())) return Number(value)
  if (BOOLEAN_KEYS.has(key) && (value === 'true' || value === 'false')) return value === 'true'
  return value
}

export function substituteEnv (doc: unknown, env: NodeJS.ProcessEnv = process.env, file = 'config'): unknown {
  const missing = new Map<string, string[]>()
  const walk = (value: unknown, path: Array<string | number>): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value
      const replaced = value.replace(PLACEHOLDER, (whole, escaped: string, name: string) => {
        if (escaped === '$') return whole.slice(1)
        const v = env[name]
        if (v !== undefined) return v
        const at = formatPath(path)
        const list = missing.get(name)
        if (list === undefined) missing.set(name, [at])
        else if (!list.includes(at)) list.push(at)
        return whole
      })
      return typed(path[path.length - 1], value, replaced)
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i]))
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, [...path, k])
      return out
    }
    return value
  }
  const out = walk(doc, [])
  if (missing.size > 0) {
    const lines = [...missing].map(([name, at]) => `${at.join(', ')}: environment variable ${name} is not set`)
    throw new FJG_ERR_CONFIG_ENV(`${file}: ${missing.size === 1 ? 'an environment variable is' : `${missing.size} environment variables are`} not set: ${[...missing.keys()].join(', ')}`, lines)
  }
  return out
}

/**
 * Schema and policy problems, every one as `path: message`. The gateway
 * builds the config without checking it again, unless it changed since.
 */
export function validateConfig (doc: unknown, file = 'config'): GatewayConfig {
  try {
    return checkGatewayConfig(doc)
  } catch (err) {
    const problems = (err as { problems?: unknown }).problems
    if (!Array.isArray(problems)) throw err
    throw new FJG_ERR_CONFIG_INVALID(`${file}: invalid configuration`, problems.map(String))
  }
}

type PolicyLike = { keys?: Array<Record<string, unknown>>, revocation?: Record<string, string> } & Record<string, unknown>

function resolvePolicy (policy: unknown, baseDir: string): unknown {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) return policy
  const p = { ...(policy as PolicyLike) }
  // Only non-empty names are resolved: what the schema refuses reads as written.
  const abs = (f: string): string => f === '' || isAbsolute(f) ? f : resolve(baseDir, f)
  if (Array.isArray(p.keys)) {
    p.keys = p.keys.map((k) => k !== null && typeof k === 'object' && !Array.isArray(k) && typeof k.file === 'string' ? { ...k, file: abs(k.file) } : k)
  }
  if (p.revocation !== null && typeof p.revocation === 'object' && !Array.isArray(p.revocation)) {
    const r: Record<string, string> = {}
    for (const [kind, f] of Object.entries(p.revocation)) r[kind] = typeof f === 'string' ? abs(f) : f
    p.revocation = r
  }
  return p
}

/**
 * A copy where relative key and revocation files are absolute, against
 * `baseDir`. Runs before the check (what is checked is what is built), so it
 * takes any shape and leaves what it does not recognise as it is.
 */
export function resolveConfigPaths<T> (config: T, baseDir: string): T {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return config
  const out = { ...config } as Record<string, unknown>
  if (out.jwt !== undefined) out.jwt = resolvePolicy(out.jwt, baseDir)
  if (Array.isArray(out.routes)) {
    out.routes = out.routes.map((r: unknown) => r === null || typeof r !== 'object' || Array.isArray(r) || (r as { jwt?: unknown }).jwt === undefined
      ? r
      : { ...r, jwt: resolvePolicy((r as { jwt?: unknown }).jwt, baseDir) })
  }
  return out as T
}

/**
 * Key and revocation files named by the config that cannot be read, as
 * `path: cannot read 'file': CODE` (jwt-auth's words). Only used when the
 * schema refuses the config: then nothing is built, and without this the file
 * problems would only show up once the schema problems are fixed.
 */
export function fileProblems (doc: unknown, baseDir: string): string[] {
  const out: string[] = []
  const test = (f: unknown, at: Array<string | number>): void => {
    if (typeof f !== 'string' || f === '' || f.includes('${')) return
    const abs = isAbsolute(f) ? f : resolve(baseDir, f)
    let code: string | null = null
    try {
      if (statSync(abs).isDirectory()) code = 'EISDIR'
      else accessSync(abs, constants.R_OK)
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    }
    if (code !== null) out.push(`${formatPath(at)}: cannot read '${abs}': ${code}`)
  }
  const policy = (p: unknown, at: Array<string | number>): void => {
    if (p === null || typeof p !== 'object') return
    const { keys, revocation } = p as { keys?: unknown, revocation?: unknown }
    if (Array.isArray(keys)) keys.forEach((k, i) => test((k as { file?: unknown } | null)?.file, [...at, 'keys', i, 'file']))
    if (revocation !== null && typeof revocation === 'object') {
      for (const kind of ['sub', 'kid', 'jti']) test((revocation as Record<string, unknown>)[kind], [...at, 'revocation', kind])
    }
  }
  if (doc === null || typeof doc !== 'object') return out
  const d = doc as { jwt?: unknown, routes?: unknown }
  policy(d.jwt, ['jwt'])
  if (Array.isArray(d.routes)) d.routes.forEach((r, i) => policy((r as { jwt?: unknown } | null)?.jwt, ['routes', i, 'jwt']))
  return out
}

/**
 * read → env → resolve paths → validate. Throws a UserError naming every
 * problem: missing variables, schema problems and unreadable files together.
 */
export function loadConfig (file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const abs = resolve(file)
  const baseDir = dirname(abs)
  const raw = readConfigFile(file)
  let substituted: unknown
  try {
    substituted = substituteEnv(raw, env, file)
  } catch (err) {
    if (!(err instanceof UserError)) throw err
    // Still check the rest, leaving out what a missing variable explains.
    const unset = new Set(err.problems.flatMap((p) => p.slice(0, p.indexOf(': environment variable')).split(', ')))
    const others = gatewayConfigProblems(raw).filter((p) => !unset.has(p.slice(0, p.indexOf(': '))))
    throw new (err.constructor as UserErrorConstructor)(err.message.split('\n')[0] as string, [...err.problems, ...others, ...fileProblems(raw, baseDir)])
  }
  let config: GatewayConfig
  try {
    config = validateConfig(resolveConfigPaths(substituted, baseDir), file)
  } catch (err) {
    if (!(err instanceof UserError)) throw err
    throw new (err.constructor as UserErrorConstructor)(`${file}: invalid configuration`, [...err.problems, ...fileProblems(substituted, baseDir)])
  }
  return { file, baseDir, config }
}
