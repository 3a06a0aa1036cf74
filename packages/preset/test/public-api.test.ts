import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

// The public surface of each package, as an application gets it (the built
// dist/, by package name, through package.json `exports`): the exact runtime
// names, for `require` and for `import`. A name added to or dropped from an
// entry is a deliberate edit of this list and of the package README's
// "Public API". `@fastify-jwt-gateway/jwt-auth/internal` is what our gateway
// and preset build on; it must resolve both ways too (the pack test installs
// the tarballs, where only `exports` counts).

const ROOT = resolve(__dirname, '../../..')

const JWT_AUTH = [
  'ALGORITHMS', 'DEFAULT_CACHE_SIZE', 'DEFAULT_CACHE_TTL', 'DEFAULT_JWKS_CACHE_TTL', 'DEFAULT_JWKS_COOLDOWN',
  'DEFAULT_JWKS_MAX_STALE', 'DEFAULT_JWKS_TIMEOUT', 'DEFAULT_LEEWAY', 'DEFAULT_MAX_TOKEN_SIZE', 'DEFAULT_PHASE',
  'DEFAULT_REALM', 'DEFAULT_REVOCATION_PREFIX', 'DEFAULT_SPACE_DELIMITED_CLAIMS', 'MAX_CACHE_CONTROL_TTL',
  'MAX_DOCUMENT_BYTES', 'MIN_CACHE_CONTROL_TTL', 'OPERATORS', 'REVOCATION_POLL_INTERVAL', 'REVOCATION_RESYNC_INTERVAL',
  'REVOCATION_START_TIMEOUT', 'compilePolicy', 'default', 'errors', 'explainToken', 'jwtAuth', 'loadRevoked',
  'policySchema', 'revokeInRedis', 'unrevokeInRedis'
]
const JWT_AUTH_INTERNAL = [
  'SharedResources', 'compileHeaderWriter', 'createHook', 'formatPath', 'formatSchemaErrors', 'headerValue', 'jsonPath', 'mergePolicy',
  'parsePath', 'peerCertificate', 'policyProblems', 'readPath', 'redisOptions', 'revocationKey', 'safeUrl', 'splitPath', 'wireValue', 'loadKeySourceTls',
  'setEcThreadPool'
]
const GATEWAY = [
  'CLIENT_CERT_FIELDS', 'DEFAULT_BODY_BUFFER', 'DEFAULT_BODY_TIMEOUT', 'DEFAULT_CONNECT_TIMEOUT', 'DEFAULT_HEALTH_PATH',
  'DEFAULT_KEEP_ALIVE_TIMEOUT', 'DEFAULT_METHODS', 'DEFAULT_METRICS_PATH', 'DEFAULT_READY_PATH', 'DEFAULT_REQUEST_TIMEOUT',
  'DEFAULT_TLS_MIN_VERSION', 'DEFAULT_UPSTREAM_CONNECTIONS', 'DEFAULT_UPSTREAM_TIMEOUT', 'DURATION_BUCKETS',
  'FJG_ERR_BODY_TIMEOUT', 'FJG_ERR_CLIENT_CERT_REQUIRED', 'FJG_ERR_GATEWAY_CONFIG', 'FJG_ERR_METHOD_NOT_ALLOWED',
  'FJG_ERR_PATH_NOT_CANONICAL', 'FJG_ERR_UPSTREAM_TIMEOUT', 'FJG_ERR_UPSTREAM_UNAVAILABLE', 'GatewayConfigError',
  'FJG_ERR_RATE_LIMITED', 'FJG_ERR_RATE_LIMIT_UNAVAILABLE', 'FJG_ERR_UPSTREAM_NO_MATCH', 'FJG_ERR_AUTH_UNTRUSTED',
  'FJG_ERR_AUTH_NO_ROUTE', 'FJG_ERR_WEBSOCKET_DISABLED',
  'READY_RETRY_AFTER', 'buildGateway', 'checkGatewayConfig', 'default', 'gatewayConfigProblems', 'gatewayConfigSchema', 'gatewayPlugin',
  'listenerOptions', 'normalizeTarget'
]
const PRESET = [
  'CERT_EXPIRY_WARNING_DAYS', 'DEFAULT_CONFIG_FILE', 'DEFAULT_GRACE_DELAY', 'DEFAULT_HOST', 'DEFAULT_LOG_LEVEL',
  'DEFAULT_PORT', 'DEFAULT_WORKERS', 'UserError', 'check', 'createDemoUpstream', 'handleSignals', 'loadConfig', 'main',
  'reloadTls', 'start', 'substituteEnv'
]

// Resolved from the preset's folder, as the preset itself resolves them.
const from = (name: string): string => require.resolve(name, { paths: [join(ROOT, 'packages/preset')] })
const names = (m: object): string[] => Object.keys(m).filter((k) => k !== '__esModule').sort()
const sorted = (list: string[]): string[] => [...list].sort()
/** The names an ES module gets from `import * as m from name`, in a plain node (no tsx), from the preset's folder. */
function esmNames (name: string): string[] {
  const script = `const m = await import(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m)))`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(ROOT, 'packages/preset'), env: { ...process.env, NODE_OPTIONS: '' }, encoding: 'utf8' })
  return (JSON.parse(out) as string[]).filter((k) => k !== '__esModule').sort()
}

const CASES: Array<[string, string[], string[] | null]> = [
  ['@fastify-jwt-gateway/jwt-auth', JWT_AUTH, null],
  ['@fastify-jwt-gateway/jwt-auth/internal', [...JWT_AUTH.filter((n) => n !== 'default'), ...JWT_AUTH_INTERNAL].sort(), null],
  ['@fastify-jwt-gateway/gateway', sorted(GATEWAY), null],
  // CommonJS without an ESM twin: Node's `import` adds `default` (module.exports).
  ['fastify-jwt-gateway', PRESET, [...PRESET, 'default'].sort()]
]

for (const [name, cjs, esm] of CASES) {
  t.test(name, async (t) => {
    t.same(names(require(from(name))), cjs, 'require() gives exactly these names')
    t.same(esmNames(name), esm ?? cjs, 'import gives the same names')
  })
}

t.test('./internal is declared like the main entry, for import and require, with types', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/jwt-auth/package.json'), 'utf8'))
  t.same(pkg.exports['./internal'], {
    import: { types: './dist/internal.d.mts', default: './dist/internal.mjs' },
    require: { types: './dist/internal.d.ts', default: './dist/internal.js' }
  })
  for (const file of ['internal.js', 'internal.mjs', 'internal.d.ts', 'internal.d.mts']) {
    t.ok(readFileSync(join(ROOT, 'packages/jwt-auth/dist', file), 'utf8').length > 0, `dist/${file} is built`)
  }
})
