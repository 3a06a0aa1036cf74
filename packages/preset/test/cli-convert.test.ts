import tap from 'tap'
import { createHmac, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { start } from '../src/index.js'
import { convertNginx } from '../src/convert.js'
import { parseNginx } from '../src/nginx-conf.js'
import { run } from './helpers/cli.js'
import { tempDir, upstream, writeJson } from './helpers/fixtures.js'

// `convert nginx.conf`: the real CLI on the nginx configs of the READMEs (and
// one after the open-source modules' test configs); the output passes `check`
// and, started, behaves as the nginx config does: 401 / 403 / 200 with the
// claim headers reaching the upstream.

// Many CLI processes, each loading Fastify: far more than the 60 s default per file on a loaded 2-core machine.
tap.setTimeout(300_000)

const FIXTURES = join(__dirname, 'fixtures', 'nginx')

function hs256 (secret: Buffer | string, payload: Record<string, unknown>): string {
  const b = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${b({ alg: 'HS256', typ: 'JWT' })}.${b({ iat: now, exp: now + 300, ...payload })}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

tap.test('the NGINX Plus config of the gateway README', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  // The fixture as printed, with its upstream pointed at the test's.
  const conf = readFileSync(join(FIXTURES, 'plus-readme.conf'), 'utf8').replaceAll('127.0.0.1:9000', up.slice('http://'.length))
  writeFileSync(join(dir, 'nginx.conf'), conf)
  const secret = randomBytes(32)
  mkdirSync(join(dir, 'conf'))
  writeJson(join(dir, 'conf', 'secret.jwk'), { kty: 'oct', k: secret.toString('base64url'), alg: 'HS256' })

  const r = await run(['convert', join(dir, 'nginx.conf')])
  t.equal(r.code, 0)
  t.equal(r.stderr, [
    'nginx.conf:7: keepalive 128: upstream connections are pooled already (DEFAULT_UPSTREAM_CONNECTIONS)',
    'nginx.conf:12: proxy_http_version 1.1: the gateway speaks HTTP/1.1 with keep-alive to upstreams already',
    ''
  ].join('\n'), 'every untranslated directive, with its line and why')
  const config = JSON.parse(r.stdout)
  t.same(config.routes.map((x: any) => [x.prefix, x.rewritePrefix ?? null, x.jwt === false ? false : x.jwt === undefined ? null : Object.keys(x.jwt).sort()]), [
    ['/api/employees', '/api/employees', ['audience', 'claimsToHeaders', 'issuer', 'keys', 'realm', 'requireClaims']],
    ['/api', '/api', ['audience', 'claimsToHeaders', 'issuer', 'keys', 'realm']],
    ['/', null, null]
  ])
  t.same(config.routes[0].jwt.requireClaims, [{ claim: 'role', op: 'in', value: ['hr', 'admin'] }], 'the map on $jwt_claim_role became a requirement')
  t.same(config.routes[1].jwt.claimsToHeaders, { 'x-user-id': 'sub', 'x-user-role': 'role' })
  t.equal(config.routes[1].jwt.issuer, 'https://issuer.example', 'map $jwt_claim_iss → issuer')
  t.equal(config.routes[1].jwt.audience, 'leads-api', 'map $jwt_claim_aud → audience')

  // --out, then check accepts it.
  const out = join(dir, 'gateway.json')
  const written = await run(['convert', join(dir, 'nginx.conf'), '--out', out])
  t.equal(written.stdout, '', 'with --out, nothing on stdout')
  t.same(JSON.parse(readFileSync(out, 'utf8')), config)
  const checked = await run(['check', '--config', out])
  t.equal(checked.code, 0, `check accepts it: ${checked.stderr}`)
  t.match(checked.stdout, /configuration OK \(3 routes/)

  const gw = await start({ config: out, port: 0 })
  t.teardown(() => gw.close())
  const get = async (path: string, token?: string): Promise<{ status: number, body: any }> => {
    const res = await fetch(`${gw.url}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() }
  }
  const claims = { iss: 'https://issuer.example', aud: 'leads-api', sub: 'alice' }
  const sales = hs256(secret, { ...claims, role: 'sales' })
  const hr = hs256(secret, { ...claims, role: 'hr' })

  const none = await get('/api/leads')
  t.equal(none.status, 401, 'no token: 401')
  t.equal(none.body.code, 'FJG_ERR_TOKEN_MISSING')
  const leads = await get('/api/leads', sales)
  t.equal(leads.status, 200, 'a valid token: 200')
  t.equal(leads.body.url, '/api/leads', 'the path reached the upstream unchanged (proxy_pass without a URI)')
  t.equal(leads.body.headers['x-user-id'], 'alice', 'the claim header reached the upstream')
  t.equal(leads.body.headers['x-user-role'], 'sales')
  const employees = await get('/api/employees', sales)
  t.equal(employees.status, 403, 'the role requirement: 403')
  t.equal(employees.body.code, 'FJG_ERR_CLAIM_REQUIREMENT')
  t.equal((await get('/api/employees', hr)).status, 200, 'role hr: 200')
  t.equal((await get('/api/leads', hs256(secret, { ...claims, aud: 'other', role: 'sales' }))).status, 401, 'another audience: 401')
  const open = await get('/about')
  t.equal(open.status, 200, 'location / is open')
  t.notOk('x-user-id' in open.body.headers, 'no claim header on the open route')
})

tap.test('an open-source module config (jwt_* / auth_jwt_*)', async (t) => {
  const r = await run(['convert', join(FIXTURES, 'open-source.conf')])
  t.equal(r.code, 0)
  const config = JSON.parse(r.stdout)
  t.same(config.server, { workers: 2, port: 8081 })
  // eslint-disable-next-line no-template-curly-in-string
  t.same(config.jwt, { realm: 'api', token: 'cookie:jwt', secret: '${JWT_SECRET}', issuer: 'https://issuer.example', leeway: 30 })
  t.same(config.routes, [
    {
      prefix: '/secure',
      upstream: 'http://127.0.0.1:9000',
      jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }], claimsToHeaders: { 'x-user': 'sub' }, joseHeadersToHeaders: { 'x-kid': 'kid' } }
    },
    { prefix: '/public', upstream: 'http://127.0.0.1:9000', rewritePrefix: '/public', jwt: false }
  ])
  t.equal(r.stderr, [
    'open-source.conf:4: events: not translated (top level)',
    'open-source.conf:7: access_log off: the gateway logs JSON lines on stdout',
    'open-source.conf:11: server_name api.example: the gateway serves every Host on its address',
    'open-source.conf:14: jwt_secret [redacted]: the secret is read from the environment variable JWT_SECRET',
    'open-source.conf:23: proxy_set_header X-Custom $request_id: only claim variables ($jwt_claim_*, $jwt_header_*, auth_jwt_claim_set variables) are forwarded',
    "open-source.conf:27: location = /health: location modifier '=': only prefix locations become routes",
    ''
  ].join('\n'))
  t.notMatch(r.stderr, /do-not-keep-secrets/, 'the secret is never repeated')
  const dir = tempDir(t)
  writeFileSync(join(dir, 'gateway.json'), r.stdout)
  const checked = await run(['check', '--config', join(dir, 'gateway.json')], { env: { JWT_SECRET: randomBytes(32).toString('hex') } })
  t.equal(checked.code, 0, `check accepts it: ${checked.stderr}`)
})

tap.test('syntax errors name the line; usage', async (t) => {
  t.throws(() => parseNginx('server {\n  listen 80;\n'), { message: "line 2: unexpected end of file, expecting '}'" })
  t.throws(() => parseNginx('server {\n  listen 80\n}\n'), { message: "line 3: unexpected '}'" })
  t.throws(() => parseNginx('a "b;\n'), { message: 'line 1: unterminated quoted string' })
  // eslint-disable-next-line no-template-curly-in-string -- a literal placeholder, not a template
  t.same(parseNginx('a "x y" \'z\' ${v}w; # c\nb { c; }'), [
    { name: 'a', args: ['x y', 'z', '${v}w'], line: 1, block: null }, // eslint-disable-line no-template-curly-in-string
    { name: 'b', args: [], line: 2, block: [{ name: 'c', args: [], line: 2, block: null }] }
  ])
  const dir = tempDir(t)
  writeFileSync(join(dir, 'bad.conf'), 'server {\n  location / {\n    proxy_pass http://x;\n')
  const bad = await run(['convert', join(dir, 'bad.conf')])
  t.equal(bad.code, 1)
  t.equal(bad.stdout, '')
  t.equal(bad.stderr, `fastify-jwt-gateway: ${join(dir, 'bad.conf')}:3: unexpected end of file, expecting '}'\n`)
  const none = await run(['convert'])
  t.equal(none.code, 1)
  t.equal(none.stderr, 'fastify-jwt-gateway: an nginx config file is required\nRun `fastify-jwt-gateway convert --help` for usage.\n')
})

tap.test('auth_jwt_type: signed is the default; encrypted and nested are listed with the "decrypt" to add', async (t) => {
  const conf = (type: string): string => `http { server { listen 8080; location /api/ { auth_jwt "api"; auth_jwt_type ${type}; auth_jwt_key_file keys.jwk; proxy_pass http://127.0.0.1:9000; } } }\n`
  const signed = convertNginx(parseNginx(conf('signed')))
  t.same(signed.notes, [], 'signed: nothing to say')
  for (const type of ['encrypted', 'nested']) {
    const { config, notes } = convertNginx(parseNginx(conf(type)))
    t.same(notes.map((n) => [n.line, n.directive]), [[1, `auth_jwt_type ${type}`]], type)
    t.equal(notes[0]?.why, `add "decrypt": { "type": "${type}", "keys": [{ "file": <the private decryption key> }], "algorithms": [<alg>, <enc>] } to the policy: nginx's key set mixes decryption and signing keys and names no JWE algorithms`)
    t.equal(config.routes[0].jwt?.decrypt ?? config.jwt?.decrypt, undefined, 'no half-made decrypt')
  }
})
