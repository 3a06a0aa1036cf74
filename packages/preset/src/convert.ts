import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import type { Io } from './cli.js'
import { FJG_ERR_CLI_USAGE, FJG_ERR_CONFIG_READ, FJG_ERR_CONFIG_SYNTAX } from './errors.js'
import { NginxSyntaxError, parseNginx, type Directive } from './nginx-conf.js'

// `convert nginx.conf`: the nginx JWT directives (NGINX Plus auth_jwt*, the
// open-source jwt_* / auth_jwt_* modules), `location` + `proxy_pass`,
// `upstream`, `proxy_set_header` with claim variables and `map` on claims,
// turned into a gateway.json. What it cannot translate is listed, with the line
// and why, rather than guessed: the output is a start that `check` accepts.

export interface Note { line: number, directive: string, why: string }
export interface Converted { config: Record<string, any>, notes: Note[] }

type Policy = Record<string, any>
interface MapRule { claim: string, values: string[] }

const PASS_THROUGH_HEADERS = new Set(['connection', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'upgrade'])
/** Directives with nothing to translate: what they do is built in, or not the gateway's business. */
const BUILT_IN: Record<string, string> = {
  proxy_http_version: 'the gateway speaks HTTP/1.1 with keep-alive to upstreams already',
  keepalive: 'upstream connections are pooled already (DEFAULT_UPSTREAM_CONNECTIONS)',
  worker_processes: 'use server.workers',
  access_log: 'the gateway logs JSON lines on stdout',
  error_log: 'use server.logLevel',
  server_name: 'the gateway serves every Host on its address'
}

function claimOfVariable (v: string): string | null {
  const m = /^\$jwt_claim_([A-Za-z0-9_]+)$/.exec(v)
  return m === null ? null : (m[1] as string)
}

function headerOfVariable (v: string): string | null {
  const m = /^\$jwt_header_([A-Za-z0-9_]+)$/.exec(v)
  return m === null ? null : (m[1] as string)
}

function seconds (text: string): number | null {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text)
  if (m === null) return null
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return unit === 'ms' ? Math.ceil(n / 1000) : n * ({ s: 1, m: 60, h: 3600, d: 86400 }[unit] as number)
}

function tokenSource (arg: string): string | null {
  const m = /^token=\$(cookie|arg|http)_([A-Za-z0-9_-]+)$/.exec(arg)
  if (m === null) return null
  if (m[1] === 'cookie') return `cookie:${m[2] as string}`
  if (m[1] === 'arg') return `query:${m[2] as string}`
  return `header:${(m[2] as string).replace(/_/g, '-')}`
}

/** Converts parsed nginx directives. Never throws for an untranslatable directive: it is noted. */
export function convertNginx (directives: Directive[]): Converted {
  const notes: Note[] = []
  // A secret is never repeated, not even in a note.
  const note = (d: Directive, why: string): void => { notes.push({ line: d.line, directive: d.name === 'jwt_secret' ? 'jwt_secret [redacted]' : [d.name, ...d.args].join(' '), why }) }
  const maps = new Map<string, MapRule>()
  const upstreams = new Map<string, string>()
  const internal = new Map<string, string>()
  const config: Record<string, any> = {}
  const server: Record<string, any> = {}
  const routes: Array<Record<string, any>> = []
  let servers = 0

  // First pass: map and upstream blocks anywhere, internal locations (key endpoints).
  const walk = (list: Directive[], fn: (d: Directive) => void): void => {
    for (const d of list) { fn(d); if (d.block !== null && d.name !== 'map') walk(d.block, fn) }
  }
  walk(directives, (d) => {
    if (d.name === 'map' && d.block !== null && d.args.length === 2) {
      const claim = claimOfVariable(d.args[0] as string)
      if (claim === null) return
      const values: string[] = []
      for (const e of d.block) {
        const key = e.name
        const truthy = e.args[0] !== undefined && e.args[0] !== '0' && e.args[0] !== ''
        if (key === 'default' || !truthy) continue
        if (key.startsWith('~')) {
          const alt = /^~\^\(?([^()$^|]+(?:\|[^()$^|]+)*)\)?\$$/.exec(key)
          if (alt === null) { note(e, 'a regular expression map entry other than ~^(a|b)$: write the requirement by hand (op "match")'); continue }
          values.push(...(alt[1] as string).split('|'))
        } else {
          values.push(key)
        }
      }
      maps.set(d.args[1] as string, { claim, values })
    }
    if (d.name === 'upstream' && d.block !== null) {
      const members = d.block.filter((e) => e.name === 'server')
      if (members.length > 0) upstreams.set(d.args[0] as string, `http://${members[0]?.args[0] as string}`)
      if (members.length > 1) for (const m of members.slice(1)) note(m, 'only the first server of an upstream block is used; add the others as an upstream list by hand')
      for (const e of d.block) if (e.name !== 'server') note(e, BUILT_IN[e.name] ?? 'not translated in an upstream block')
    }
    if (d.name === 'location' && d.block !== null && d.block.some((e) => e.name === 'internal')) {
      const pass = d.block.find((e) => e.name === 'proxy_pass')
      if (pass !== undefined) internal.set(d.args[d.args.length - 1] as string, pass.args[0] as string)
    }
  })

  const upstreamUrl = (url: string): { base: string, path: string | null } => {
    const m = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(url)
    if (m === null) return { base: url, path: null }
    const host = upstreams.get(m[2] as string)
    return { base: host !== undefined ? host.replace(/^http:/, `${m[1] as string}:`) : `${m[1] as string}://${m[2] as string}`, path: m[3] ?? null }
  }

  /** Applies one directive to a policy; false when it is not a policy directive. */
  function policyDirective (p: Policy, d: Directive, claimVars: Map<string, string>, headerVars: Map<string, string>): boolean {
    const a = d.args
    switch (d.name) {
      case 'auth_jwt':
        if (a[0] === 'off') { p.off = true; return true }
        p.realm = a[0] ?? ''
        if (p.realm === '') p.realm = 'api'
        for (const x of a.slice(1)) {
          const src = tokenSource(x)
          if (src === null) note(d, `token source '${x}' is not a $cookie_, $arg_ or $http_ variable`)
          else p.token = src
        }
        return true
      case 'jwt_secret':
        if (a[0] === 'off') { p.off = true; return true }
        // A secret does not belong in the JSON: taken from the environment (check says when it is missing).
        // eslint-disable-next-line no-template-curly-in-string
        p.secret = '${JWT_SECRET}'
        // eslint-disable-next-line no-template-curly-in-string -- a literal placeholder, not a template
        note(d, `the secret is read from the environment variable JWT_SECRET${a[1] === 'base64' ? ' (it was base64 in nginx: use { "base64": "${JWT_SECRET}" })' : ''}`)
        return true
      case 'auth_jwt_key_file': case 'jwt_key_file':
        (p.keys ??= []).push({ file: a[0] })
        return true
      case 'auth_jwt_key_request': case 'jwt_key_request': {
        const url = internal.get(a[0] as string)
        if (url === undefined) { note(d, `no internal location '${a[0] as string}' with a proxy_pass: give the key set URL as { "jwks": url }`); return true }
        ;(p.keys ??= []).push(a[1] === 'keyval' ? { keyval: url } : { jwks: url })
        return true
      }
      case 'auth_jwt_key_cache': {
        const s = seconds(a[0] ?? '')
        if (s === null) note(d, 'not a duration')
        else for (const k of p.keys ?? []) if (k.jwks !== undefined || k.keyval !== undefined) k.cacheTtl = s
        return true
      }
      case 'auth_jwt_leeway': case 'jwt_leeway': {
        const s = seconds(a[0] ?? '')
        if (s === null) note(d, 'not a duration'); else p.leeway = s
        return true
      }
      case 'jwt_issuer': p.issuer = a.length > 1 ? a : a[0]; return true
      case 'jwt_audience': p.audience = a.length > 1 ? a : a[0]; return true
      case 'auth_jwt_validate_exp': case 'jwt_validate_exp': p.validateExp = a[0] !== 'off'; return true
      case 'auth_jwt_validate_sig': case 'jwt_validate_sig': p.validateSig = a[0] !== 'off'; return true
      case 'auth_jwt_validate_alg': p.algorithms = a; return true
      case 'auth_jwt_phase': case 'jwt_phase': p.phase = a[0] === 'preaccess' ? 'preaccess' : 'access'; return true
      case 'auth_jwt_type':
        // nginx takes the decryption key from the same key set as the signing
        // keys and accepts every JWE algorithm it knows; "decrypt" needs the
        // private key apart and the alg/enc values allowed, which the config does not say.
        if (a[0] !== 'signed') note(d, `add "decrypt": { "type": "${a[0] === 'encrypted' ? 'encrypted' : 'nested'}", "keys": [{ "file": <the private decryption key> }], "algorithms": [<alg>, <enc>] } to the policy: nginx's key set mixes decryption and signing keys and names no JWE algorithms`)
        return true
      case 'jwt_revocation_list_sub': case 'auth_jwt_revocation_list_sub': (p.revocation ??= {}).sub = a[0]; return true
      case 'jwt_revocation_list_kid': case 'auth_jwt_revocation_list_kid': (p.revocation ??= {}).kid = a[0]; return true
      case 'auth_jwt_claim_set': claimVars.set(a[0] as string, a.slice(1).join('.')); return true
      case 'auth_jwt_header_set': headerVars.set(a[0] as string, a.slice(1).join('.')); return true
      case 'jwt_require_claim': case 'auth_jwt_require_claim': case 'jwt_require_header': case 'auth_jwt_require_header': {
        const [claim, op, ...rest] = a
        if (claim === undefined || op === undefined) { note(d, 'expected: name operator value'); return true }
        const raw = rest.join(' ')
        if (raw.startsWith('$')) { note(d, `the value is the variable ${raw}: give the literal value by hand`); return true }
        let value: unknown = raw
        try { value = raw === '' ? undefined : JSON.parse(raw) } catch {}
        const list = d.name.includes('header') ? (p.requireHeaders ??= []) : (p.requireClaims ??= [])
        list.push(value === undefined ? { claim, op } : { claim, op, value })
        return true
      }
      case 'auth_jwt_require': case 'jwt_require': {
        const error = a.find((x) => x.startsWith('error='))
        if (error !== undefined && error !== 'error=403') note(d, `${error}: requirement failures answer 403 here`)
        for (const v of a.filter((x) => x.startsWith('$'))) {
          const rule = maps.get(v)
          if (rule === undefined) { note(d, `${v} is not a map on a $jwt_claim_ variable: write the requirement as requireClaims by hand`); continue }
          if (rule.claim === 'iss' && error === undefined) p.issuer = rule.values.length === 1 ? rule.values[0] : rule.values
          else if (rule.claim === 'aud' && error === undefined) p.audience = rule.values.length === 1 ? rule.values[0] : rule.values
          else (p.requireClaims ??= []).push(rule.values.length === 1 ? { claim: rule.claim, op: 'eq', value: rule.values[0] } : { claim: rule.claim, op: 'in', value: rule.values })
        }
        return true
      }
    }
    return false
  }

  function headers (p: Policy, d: Directive, claimVars: Map<string, string>, headerVars: Map<string, string>): void {
    const [name, value] = d.args as [string, string | undefined]
    const lower = name.toLowerCase()
    if (value === undefined || value === '') return // clearing a header: built in for forwarded headers
    const claim = claimOfVariable(value) ?? claimVars.get(value)
    if (claim !== undefined && claim !== null) { (p.claimsToHeaders ??= {})[lower] = claim; return }
    const jose = headerOfVariable(value) ?? headerVars.get(value)
    if (jose !== undefined && jose !== null) { (p.joseHeadersToHeaders ??= {})[lower] = jose; return }
    if (value === '$jwt_claims' || value === '$jwt_payload') { p.payloadHeader = lower; return }
    if (PASS_THROUGH_HEADERS.has(lower)) { note(d, `${name}: the gateway sets it itself`); return }
    note(d, 'only claim variables ($jwt_claim_*, $jwt_header_*, auth_jwt_claim_set variables) are forwarded')
  }

  function clean (p: Policy): Policy | false | null {
    if (p.off === true) return false
    const { off: _off, ...rest } = p
    return Object.keys(rest).length === 0 ? null : rest
  }

  for (const top of directives) {
    const serverBlocks = top.name === 'http' && top.block !== null ? top.block.filter((d) => d.name === 'server') : top.name === 'server' ? [top] : []
    if (top.name === 'http' && top.block !== null) {
      for (const d of top.block) if (d.name !== 'server' && d.name !== 'map' && d.name !== 'upstream') note(d, BUILT_IN[d.name] ?? 'not translated (http level)')
    } else if (top.name === 'worker_processes' && /^(\d+|auto)$/.test(top.args[0] ?? '')) {
      server.workers = top.args[0] === 'auto' ? 'auto' : Number(top.args[0])
    } else if (top.name !== 'server' && top.name !== 'map' && top.name !== 'upstream') {
      note(top, BUILT_IN[top.name] ?? 'not translated (top level)')
    }
    for (const srv of serverBlocks) {
      servers++
      if (servers > 1) { note(srv, 'only the first server block is converted: one gateway.json per server'); continue }
      const base: Policy = {}
      const claimVars = new Map<string, string>()
      const headerVars = new Map<string, string>()
      const locations: Directive[] = []
      for (const d of srv.block ?? []) {
        if (d.name === 'location') { locations.push(d); continue }
        if (d.name === 'listen') {
          const m = /^(?:([^:\s]+):)?(\d+)$/.exec(d.args[0] ?? '')
          if (m === null) { note(d, 'not host:port'); continue }
          if (m[1] !== undefined) server.host = m[1] === '*' ? '0.0.0.0' : m[1]
          server.port = Number(m[2])
          if (d.args.length > 1) note(d, `listen parameters ${d.args.slice(1).join(' ')} are not translated`)
          continue
        }
        if (policyDirective(base, d, claimVars, headerVars)) continue
        if (d.name === 'proxy_set_header') { headers(base, d, claimVars, headerVars); continue }
        note(d, BUILT_IN[d.name] ?? 'not translated (server level)')
      }
      const top = clean(base)
      if (top !== null) config.jwt = top
      for (const loc of locations) {
        if (loc.block === null) continue
        if (loc.block.some((e) => e.name === 'internal')) continue // a key endpoint, consumed above
        if (loc.args.length !== 1) { note(loc, `location modifier '${loc.args[0] as string}': only prefix locations become routes`); continue }
        const prefix = (loc.args[0] as string).replace(/\/+$/, '') || '/'
        const own: Policy = {}
        const route: Record<string, any> = { prefix }
        for (const d of loc.block) {
          if (d.name === 'proxy_pass') {
            const { base: upstream, path } = upstreamUrl(d.args[0] ?? '')
            route.upstream = upstream
            // proxy_pass without a URI passes the path unchanged; with one, the prefix is replaced by it.
            if (path === null) { if (prefix !== '/') route.rewritePrefix = prefix } else if (path !== '/') route.rewritePrefix = path.replace(/\/+$/, '')
            continue
          }
          if (d.name === 'proxy_read_timeout') {
            const s = seconds(d.args[0] ?? '')
            if (s === null) note(d, 'not a duration'); else route.timeout = s * 1000
            continue
          }
          if (d.name === 'limit_except') { note(d, 'use "methods" on the route (limit_except denies the others; methods allows the listed ones)'); continue }
          if (policyDirective(own, d, claimVars, headerVars)) continue
          if (d.name === 'proxy_set_header') { headers(own, d, claimVars, headerVars); continue }
          note(d, BUILT_IN[d.name] ?? 'not translated (location level)')
        }
        if (route.upstream === undefined) { note(loc, 'no proxy_pass: not a route'); continue }
        const p = clean(own)
        if (p === false) route.jwt = false
        else if (p !== null) route.jwt = p
        // No auth directive of its own: nginx inherits the server's auth_jwt; none there means open.
        else if (config.jwt !== undefined && base.realm === undefined && base.secret === undefined && base.keys === undefined) route.jwt = false
        routes.push(route)
      }
    }
  }
  if (Object.keys(server).length > 0) config.server = server
  config.routes = routes
  if (routes.length === 0) notes.push({ line: 0, directive: '', why: 'no location with a proxy_pass: the config has no routes, check will refuse it' })
  return { config: { $schema: './node_modules/fastify-jwt-gateway/schema.json', ...config }, notes }
}

export function convertCommand (opts: { file?: string, out?: string }, io: Io): number {
  if (opts.file === undefined) throw new FJG_ERR_CLI_USAGE('an nginx config file is required\nRun `fastify-jwt-gateway convert --help` for usage.')
  let text: string
  try {
    text = readFileSync(opts.file, 'utf8')
  } catch (err) {
    throw new FJG_ERR_CONFIG_READ(`cannot read '${opts.file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let directives: Directive[]
  try {
    directives = parseNginx(text)
  } catch (err) {
    if (err instanceof NginxSyntaxError) throw new FJG_ERR_CONFIG_SYNTAX(`${opts.file}:${err.line}: ${err.message.replace(/^line \d+: /, '')}`)
    throw err
  }
  const { config, notes } = convertNginx(directives)
  const json = `${JSON.stringify(config, null, 2)}\n`
  if (opts.out !== undefined) writeFileSync(opts.out, json)
  else io.stdout.write(json)
  const name = basename(opts.file)
  for (const n of notes) io.stderr.write(`${name}:${n.line}: ${n.directive === '' ? '' : `${n.directive}: `}${n.why}\n`)
  return 0
}
