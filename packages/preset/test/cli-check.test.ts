import tap, { type Test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, type Result } from './helpers/cli.js'
import { keys, tempDir, writeJson } from './helpers/fixtures.js'

// `check --config F` like `nginx -t`: the real CLI on real files. A user error
// is a message naming the path and exit code 1, never a stack trace.

const STACK = /^\s+at .+:\d+:\d+\)?$/m

function failsWith (t: Test, r: Result, lines: Array<string | RegExp>): void {
  t.equal(r.code, 1, 'exit code 1')
  t.equal(r.stdout, '', 'nothing on stdout')
  t.notMatch(r.stderr, STACK, 'no stack trace')
  for (const l of lines) t.match(r.stderr, l)
}

tap.test('check', async (t) => {
  const dir = tempDir(t)
  keys(dir)
  mkdirSync(join(dir, 'lists'))
  writeJson(join(dir, 'lists', 'revoked-sub.json'), { 'user-42': 1 })
  mkdirSync(join(dir, 'lists', 'folder.json'))
  writeFileSync(join(dir, 'lists', 'broken.json'), '{ "user-42": ')
  const upstream = 'http://127.0.0.1:9'
  // Relative paths resolve against the config's folder, not the working folder.
  const good = {
    $schema: './node_modules/fastify-jwt-gateway/schema.json',
    server: { host: '127.0.0.1', port: 8080, logLevel: 'warn', workers: 2 },
    jwt: {
      keys: [{ file: 'keys/rsa.pem' }, { file: 'keys/all.jwks.json' }],
      issuer: 'https://issuer.example',
      revocation: { sub: 'lists/revoked-sub.json' },
      requireClaims: [{ claim: 'scope', op: 'intersect', value: ['read'] }]
    },
    routes: [
      { prefix: '/api', upstream, rewritePrefix: '/api', jwt: { claimsToHeaders: { 'x-user-id': 'sub' } } },
      // eslint-disable-next-line no-template-curly-in-string
      { prefix: '/admin', upstream: '${ADMIN_UPSTREAM}', jwt: { secret: '${JWT_SECRET}', keys: [] } },
      { prefix: '/', upstream, jwt: false }
    ]
  }
  const bad = (name: string, config: unknown): string => writeJson(join(dir, name), config)
  const cfg = (patch: (c: any) => void): any => {
    const c = structuredClone(good)
    patch(c)
    return c
  }
  const env = { ADMIN_UPSTREAM: 'http://127.0.0.1:10', JWT_SECRET: 'a-long-enough-secret-for-hs256-tokens' }
  const files2 = {
    good: bad('gateway.json', good),
    syntax: bad('syntax.json', '{\n  "routes": [\n    { "prefix": "/", "upstream": "http://x" },\n  ]\n}\n'),
    unknownKey: bad('unknown-key.json', cfg((c) => { c.server.prot = 1; c.routes[0].prefx = '/x' })),
    unknownOp: bad('unknown-op.json', cfg((c) => { c.jwt.requireClaims[0].op = 'like' })),
    // Two problems in two policies: both reported, in one run.
    missingKey: bad('missing-key.json', cfg((c) => {
      c.routes[0].jwt.keys = [{ file: 'keys/nope.pem' }]
      c.routes[2].jwt = { revocation: { kid: 'lists/broken.json' } }
    })),
    revocationFolder: bad('revocation-folder.json', cfg((c) => { c.jwt.revocation = { sub: 'lists/folder.json' } }))
  }
  const other = tempDir(t)
  // Independent processes: run them side by side.
  const [ok, syntax, unknownKey, unknownOp, missingEnv, missingKey, revFolder, noConfig] = await Promise.all([
    run(['check', '--config', files2.good], { cwd: other, env }),
    run(['check', '--config', files2.syntax], { env }),
    run(['check', '-c', files2.unknownKey], { env }),
    run(['check', '--config', files2.unknownOp], { env }),
    run(['check', '--config', files2.good], { env: { ADMIN_UPSTREAM: undefined, JWT_SECRET: undefined } }),
    run(['check', '--config', files2.missingKey], { env }),
    run(['check', '--config', files2.revocationFolder], { env }),
    run(['check'], { cwd: other })
  ])

  t.test('a good config: exit 0 and a summary', async (t) => {
    t.equal(ok.code, 0, ok.stderr)
    t.equal(ok.stderr, '')
    t.match(ok.stdout, /gateway\.json: configuration OK \(3 routes, \d+ key sources\)\n$/)
  })
  t.test('bad JSON: file, line and column', async (t) => {
    failsWith(t, syntax, [`${files2.syntax}:4:3: invalid JSON: trailing comma before "]"`])
  })
  t.test('unknown keys: every one, by path', async (t) => {
    failsWith(t, unknownKey, [`${files2.unknownKey}: invalid configuration`, /^ {2}server\.prot: unknown key$/m, /^ {2}routes\[0\]\.prefx: unknown key$/m])
  })
  t.test('unknown op: the path and the allowed ops', async (t) => {
    failsWith(t, unknownOp, [/^ {2}jwt\.requireClaims\[0\]\.op: must be one of "eq", "!eq", .*"!exists", "contains", "!contains", "match", "!match", got "like"$/m])
  })
  t.test('missing environment variables: all names at once, with where they are used', async (t) => {
    failsWith(t, missingEnv, [
      /2 environment variables are not set: ADMIN_UPSTREAM, JWT_SECRET/,
      /^ {2}routes\[1\]\.upstream: environment variable ADMIN_UPSTREAM is not set$/m,
      /^ {2}routes\[1\]\.jwt\.secret: environment variable JWT_SECRET is not set$/m
    ])
  })
  t.test('missing key file (and a broken revocation file elsewhere): both, by path', async (t) => {
    failsWith(t, missingKey, [
      `  routes[0].jwt.keys[0].file: cannot read '${join(dir, 'keys', 'nope.pem')}': ENOENT`,
      /^ {2}routes\[2\]\.jwt\.revocation\.kid: '.*broken\.json' is not valid JSON/m
    ])
  })
  t.test('unreadable revocation file', async (t) => {
    failsWith(t, revFolder, [`  jwt.revocation.sub: cannot read '${join(dir, 'lists', 'folder.json')}': EISDIR`])
  })
  t.test('no --config and no ./gateway.json: usage error', async (t) => {
    failsWith(t, noConfig, ['check needs a config: --config <file>'])
  })
})

tap.test('usage: --help per command, --version, unknown command or option', async (t) => {
  const [help, startHelp, checkHelp, version, unknown, badOption, badPort] = await Promise.all([
    run(['--help']), run(['start', '--help']), run(['check', '-h']), run(['--version']),
    run(['serve']), run(['start', '--prot', '80']), run(['start', '--port', '80a'])
  ])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: fastify-jwt-gateway <command>[\s\S]*start[\s\S]*check/)
  t.equal(startHelp.code, 0)
  t.match(startHelp.stdout, /Usage: fastify-jwt-gateway start \[--config <file>\] \[--host <host>\] \[--port <port>\]/)
  t.match(startHelp.stdout, /--port <port>/)
  t.equal(checkHelp.code, 0)
  t.match(checkHelp.stdout, /Usage: fastify-jwt-gateway check --config <file>/)
  t.equal(version.code, 0)
  t.equal(version.stdout, `${require('../package.json').version}\n`)
  for (const [r, msg] of [[unknown, "unknown command 'serve'"], [badOption, "Unknown option '--prot'"], [badPort, "--port must be a port number from 0 to 65535, got '80a'"]] as const) {
    t.equal(r.code, 1)
    t.match(r.stderr, msg)
    t.notMatch(r.stderr, STACK)
  }
})
