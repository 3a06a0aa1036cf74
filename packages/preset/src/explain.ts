import { readFileSync } from 'node:fs'
import {
  compilePolicy, explainToken, mergePolicy, SharedResources, type ExplainStep, type Explanation, type JwtPolicy
} from '@fastify-jwt-gateway/jwt-auth/internal'
import { loadConfig } from './config.js'
import { FJG_ERR_CLI_USAGE, UserError } from './errors.js'
import type { GatewayConfig, RouteConfig } from './gateway.js'
import { resolveConfigFile } from './start.js'

// `fastify-jwt-gateway explain --config F [--route PATH] [TOKEN | -]`: why the
// gateway would accept or refuse one token on one route. Prints the decoded
// header and payload, each check with the values it saw, and the answer the
// gateway would give; never the token, its signature or a key. Exit 0 when the
// token would be accepted, 1 when not, 2 on usage errors (and configs that do not load).

export const EXIT_ACCEPTED = 0
export const EXIT_REFUSED = 1
export const EXIT_USAGE = 2

export interface ExplainOptions {
  config?: string
  route?: string
  positionals: string[]
  /** Read when the token is `-` or not given. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean }
}

function prefixOf (route: RouteConfig): string {
  let p = route.prefix.startsWith('/') ? route.prefix : '/' + route.prefix
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1)
  return p
}

/** The route the gateway would pick for `path` (longest prefix, case-insensitive), or the first with a policy. */
export function pickRoute (config: GatewayConfig, path: string | undefined): { index: number, route: RouteConfig } | null {
  const routes = config.routes.map((route, index) => ({ index, route }))
  if (path === undefined) return routes.find((r) => r.route.jwt !== false && (r.route.jwt !== undefined || (config.jwt !== undefined && config.jwt !== false))) ?? null
  const p = path.toLowerCase()
  let best: { index: number, route: RouteConfig } | null = null
  for (const r of routes) {
    const prefix = prefixOf(r.route).toLowerCase()
    const hit = prefix === '/' || p === prefix || p.startsWith(prefix + '/')
    if (hit && (best === null || prefixOf(best.route).length < prefix.length)) best = r
  }
  return best
}

async function readToken (opts: ExplainOptions): Promise<string> {
  const [given, ...extra] = opts.positionals
  if (extra.length > 0) throw new FJG_ERR_CLI_USAGE('explain takes one token (or "-" for stdin)')
  let raw: string
  if (given !== undefined && given !== '-') {
    raw = given
  } else {
    const stdin = opts.stdin ?? process.stdin
    if (given === undefined && stdin.isTTY === true) throw new FJG_ERR_CLI_USAGE('explain needs a token: as an argument, or "-" and the token on stdin')
    raw = given === '-' && stdin === process.stdin
      ? readFileSync(0, 'utf8')
      : await new Promise<string>((resolve, reject) => {
        let s = ''
        stdin.setEncoding('utf8')
        stdin.on('data', (d: string) => { s += d })
        stdin.on('end', () => resolve(s))
        stdin.on('error', reject)
      })
  }
  let token = raw.trim()
  // A pasted header value: the scheme is not part of the token.
  if (/^bearer\s+/i.test(token)) token = token.replace(/^bearer\s+/i, '')
  if (token.length === 0) throw new FJG_ERR_CLI_USAGE('explain needs a token: as an argument, or "-" and the token on stdin')
  return token
}

function mark (pass: boolean | null): string {
  return pass === null ? '  --  ' : pass ? '  ok  ' : '  FAIL'
}

/** The text `explain` prints; exported for tests of the layout. */
export function formatExplanation (ex: Explanation, where: string): string {
  const lines: string[] = []
  lines.push('token')
  lines.push(`  header:  ${ex.header === null ? '(cannot be decoded)' : JSON.stringify(ex.header)}`)
  lines.push(`  payload: ${ex.payload === null ? '(cannot be decoded)' : JSON.stringify(ex.payload)}`)
  lines.push(where)
  lines.push('checks')
  const width = Math.max(...ex.steps.map((s) => s.name.length))
  for (const s of ex.steps as ExplainStep[]) {
    const [first, ...rest] = s.detail
    lines.push(`${mark(s.pass)} ${s.name.padEnd(width)}  ${first ?? ''}`)
    for (const r of rest) lines.push(`${' '.repeat(6 + 1 + width + 2)}${r}`)
  }
  if (ex.answer === null) {
    lines.push('answer: accepted (the request goes on to the upstream)')
  } else {
    const a = ex.answer
    lines.push(`answer: ${a.status} ${a.body.code}: ${a.body.message}`)
    lines.push(`  WWW-Authenticate: ${a.wwwAuthenticate ?? '(none)'}`)
  }
  return lines.join('\n') + '\n'
}

export async function explainCommand (opts: ExplainOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let token: string
  let config: GatewayConfig
  let baseDir: string
  try {
    const file = resolveConfigFile(opts.config)
    if (file === null) throw new FJG_ERR_CLI_USAGE('explain needs a config: --config <file> (no ./gateway.json here)')
    const loaded = loadConfig(file)
    config = loaded.config
    baseDir = loaded.baseDir
    token = await readToken(opts)
  } catch (e) {
    if (!(e instanceof UserError)) throw e
    err.write(`fastify-jwt-gateway: ${e.message}\n`)
    return EXIT_USAGE
  }
  const picked = pickRoute(config, opts.route)
  if (picked === null) {
    err.write(`fastify-jwt-gateway: ${opts.route === undefined ? 'no route has a jwt policy' : `no route serves ${opts.route}`}\n`)
    return EXIT_USAGE
  }
  const { index, route } = picked
  const top = config.jwt === undefined || config.jwt === false ? null : config.jwt
  const routeLine = `route: ${prefixOf(route)} (routes[${index}])`
  const policy = route.jwt === false ? null : route.jwt === undefined ? top : mergePolicy(top, route.jwt)
  if (policy === null) {
    out.write(`${routeLine}; no jwt policy: every request goes on to the upstream unchecked\n`)
    return EXIT_ACCEPTED
  }
  const where = route.jwt === undefined ? 'jwt' : `routes[${index}].jwt`
  const shared = new SharedResources()
  const silent = { info () {}, warn () {}, error () {} }
  try {
    const compiled = compilePolicy(policy as JwtPolicy, { where, baseDir, shared, log: silent })
    // Remote key sets: fetched as at start (bounded by each source's timeout).
    await shared.ready()
    const ex = await explainToken(compiled, token)
    const sources = shared.status().filter((s) => s.lastError !== null).map((s) => `  (key source ${s.source}: ${s.lastError})`)
    out.write(formatExplanation(ex, [`${routeLine}; policy: ${where}${route.jwt === undefined ? ' (inherited)' : top === null ? '' : ' over jwt'}`, ...sources].join('\n')))
    return ex.answer === null ? EXIT_ACCEPTED : EXIT_REFUSED
  } catch (e) {
    const problems = (e as { problems?: unknown }).problems
    if (!Array.isArray(problems)) throw e
    err.write(`fastify-jwt-gateway: the policy of ${where} does not compile:\n${problems.map((p) => `  ${String(p)}`).join('\n')}\n`)
    return EXIT_USAGE
  } finally {
    shared.close()
  }
}
