import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import tap, { type Test } from 'tap'
import { jwksServer } from '../../jwt-auth/test/helpers/jwks-server.js'
import { BIN, run, type Result } from './helpers/cli.js'
import { keys, sign, tempDir, writeJson } from './helpers/fixtures.js'

// `explain` (issue 13 point 10): the real CLI on real files and a real JWKS
// server. Output pinned for each kind of failure; never the token, its
// signature or a secret; exit 0 accepted, 1 refused, 2 usage.

const SECRET = 'explain-test-secret-that-is-long-enough-for-hs256'
const OTHER = 'another-secret-of-the-same-size-for-the-bad-signature'
const now = Math.floor(Date.now() / 1000)

function hs256 (payload: unknown, header: unknown = { alg: 'HS256', typ: 'JWT' }, secret = SECRET): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${enc(header)}.${enc(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** The CLI with `input` on stdin. */
function runWithStdin (args: string[], input: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
    child.stdin.end(input)
  })
}

/** Nothing printed holds the token, its signature or a secret. */
function clean (t: Test, r: Result, token: string, secrets: string[] = [SECRET, OTHER]): void {
  const all = r.stdout + r.stderr
  t.notOk(all.includes(token), 'the token is not printed')
  const sig = token.slice(token.lastIndexOf('.') + 1)
  if (sig.length > 8) t.notOk(all.includes(sig), 'the signature is not printed')
  for (const s of secrets) t.notOk(all.includes(s), 'no secret is printed')
}

// Each run spawns a whole Node process (~1 s, more on a loaded machine): more than the default 60 s per file.
tap.setTimeout(300_000)

tap.test('explain', async (t) => {
  const dir = tempDir(t)
  const config = writeJson(join(dir, 'gateway.json'), {
    jwt: { secret: SECRET, issuer: 'https://idp.example', audience: 'shop', challenge: { scope: 'api:write' } },
    routes: [
      { prefix: '/api', upstream: 'http://127.0.0.1:9', jwt: { requireClaims: [{ claim: 'scope', op: 'contains', value: ['api:write'] }, { anyOf: [{ claim: 'roles[0]', op: 'eq', value: 'admin' }, { claim: 'tenant', op: 'match', value: '^t[0-9]+$' }] }] } },
      { prefix: '/at', upstream: 'http://127.0.0.1:9', jwt: { tokenType: 'at+jwt', maxAge: 600 } },
      { prefix: '/', upstream: 'http://127.0.0.1:9', jwt: false }
    ]
  })
  const good = { sub: 'alice', iss: 'https://idp.example', aud: 'shop', scope: 'api:read api:write', tenant: 't42' }

  t.test('accepted: exit 0, every check shown', async (t) => {
    const token = hs256(good)
    const r = await run(['explain', '--config', config, '--route', '/api/orders', token])
    t.equal(r.code, 0)
    t.equal(r.stderr, '')
    t.equal(r.stdout, [
      'token',
      '  header:  {"alg":"HS256","typ":"JWT"}',
      '  payload: {"sub":"alice","iss":"https://idp.example","aud":"shop","scope":"api:read api:write","tenant":"t42"}',
      'route: /api (routes[0]); policy: routes[0].jwt over jwt',
      'checks',
      '  ok   format            JWS, ' + token.length + ' bytes; signature not shown',
      '  ok   alg               "HS256"; allowed: HS256, HS384, HS512',
      '  ok   key               kid absent: 1 candidate key in secret',
      '  ok   signature         valid',
      '  ok   exp               absent (no expiry)',
      '  ok   iss               "https://idp.example"; allowed: https://idp.example',
      '  ok   aud               "shop"; allowed: shop',
      '  ok   requireClaims[0]  scope contains ["api:write"]: "api:read api:write"',
      '  ok   requireClaims[1]  any of:',
      '                           roles[0] eq "admin": absent',
      '                           tenant match "^t[0-9]+$": "t42"',
      'answer: accepted (the request goes on to the upstream)',
      ''
    ].join('\n'))
    clean(t, r, token)
  })

  t.test('expired: the date and how long ago; 401 with the challenge', async (t) => {
    const token = hs256({ ...good, exp: now - (3 * 3600 + 12 * 60 + 30) })
    const r = await run(['explain', '-c', config, '-r', '/api', token])
    t.equal(r.code, 1)
    t.match(r.stdout, /\n {2}FAIL exp {15}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(expired 3 h 1[23] min ago\)\n/)
    t.match(r.stdout, /\nanswer: 401 FJG_ERR_TOKEN_EXPIRED: The token has expired\n {2}WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="The token has expired", scope="api:write"\n$/)
    clean(t, r, token)
  })

  t.test('bad signature', async (t) => {
    const token = hs256(good, undefined, OTHER)
    const r = await run(['explain', '-c', config, '-r', '/api', token])
    t.equal(r.code, 1)
    t.match(r.stdout, '\n  FAIL signature         invalid for every candidate key\n')
    t.match(r.stdout, '\nanswer: 401 FJG_ERR_TOKEN_SIGNATURE: The token signature is invalid\n')
    clean(t, r, token)
  })

  t.test('disallowed algorithm', async (t) => {
    const token = hs256(good, { alg: 'none' })
    const r = await run(['explain', '-c', config, '-r', '/api', token])
    t.equal(r.code, 1)
    t.match(r.stdout, '\n  FAIL alg               "none"; allowed: HS256, HS384, HS512\n')
    t.match(r.stdout, '\nanswer: 401 FJG_ERR_TOKEN_ALGORITHM: The token algorithm is not allowed\n')
    clean(t, r, token)
  })

  t.test('wrong issuer and audience', async (t) => {
    const token = hs256({ ...good, iss: 'https://evil.example', aud: ['a', 'b'] })
    const r = await run(['explain', '-c', config, '-r', '/api', token])
    t.equal(r.code, 1)
    t.match(r.stdout, '\n  FAIL iss               "https://evil.example"; allowed: https://idp.example\n  FAIL aud               ["a","b"]; allowed: shop\n')
    t.match(r.stdout, '\nanswer: 401 FJG_ERR_TOKEN_ISSUER: The token issuer is not allowed\n')
    clean(t, r, token)
  })

  t.test('a requirement: 403 with the claim value or absent', async (t) => {
    const token = hs256({ ...good, scope: 'api:read', tenant: 'x' })
    const r = await run(['explain', '-c', config, '-r', '/api/x', token])
    t.equal(r.code, 1)
    t.match(r.stdout, '\n  FAIL requireClaims[0]  scope contains ["api:write"]: "api:read"\n  FAIL requireClaims[1]  any of:\n                           roles[0] eq "admin": absent\n                           tenant match "^t[0-9]+$": "x"\n')
    t.match(r.stdout, '\nanswer: 403 FJG_ERR_CLAIM_REQUIREMENT: The token does not satisfy the requirement on claim scope\n  WWW-Authenticate: Bearer realm="api", error="insufficient_scope", error_description="The token does not satisfy the requirement on claim scope", scope="api:write"\n')
    clean(t, r, token)
  })

  t.test('tokenType and maxAge', async (t) => {
    const token = hs256({ ...good, iat: now - 3600 }, { alg: 'HS256', typ: 'JWT' })
    const r = await run(['explain', '-c', config, '-r', '/at', token])
    t.equal(r.code, 1)
    t.match(r.stdout, 'route: /at (routes[1]); policy: routes[1].jwt over jwt\n')
    t.match(r.stdout, '\n  FAIL typ        "JWT"; required: at+jwt (tokenType)\n')
    t.match(r.stdout, /\n {2}FAIL iat {8}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(issued 1 h [01] min ago\); maxAge 600 s\n/)
    t.match(r.stdout, '\nanswer: 401 FJG_ERR_TOKEN_TYPE: The token type (typ) is not at+jwt\n')
    clean(t, r, token)
  })

  t.test('malformed, from stdin with a Bearer prefix', async (t) => {
    const r = await runWithStdin(['explain', '-c', config, '-r', '/api', '-'], 'Bearer not-a-token\n')
    t.equal(r.code, 1)
    t.match(r.stdout, '\n  FAIL format  cannot be decoded (11 bytes, 1 part)\n               The token is malformed: a JWS has three parts\n')
    t.match(r.stdout, '\nanswer: 401 FJG_ERR_TOKEN_MALFORMED: The token is malformed: a JWS has three parts\n')
  })

  t.test('a token on stdin is the same as one in argv', async (t) => {
    const token = hs256(good)
    const r = await runWithStdin(['explain', '--config', config, '--route', '/api'], token + '\n')
    t.equal(r.code, 0)
    t.match(r.stdout, '\nanswer: accepted')
    clean(t, r, token)
  })

  t.test('an open route', async (t) => {
    const r = await run(['explain', '-c', config, '-r', '/public', hs256(good)])
    t.equal(r.code, 0)
    t.equal(r.stdout, 'route: / (routes[2]); no jwt policy: every request goes on to the upstream unchecked\n')
  })

  t.test('usage errors: exit 2', async (t) => {
    const noRoute = writeJson(join(dir, 'one.json'), { jwt: { secret: SECRET }, routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9' }] })
    const [none, two, bad, missing, r] = await Promise.all([
      run(['explain', '-c', config]),
      run(['explain', '-c', config, 'a', 'b']),
      run(['explain', '-c', config, '--nope', 'x']),
      run(['explain', '-c', join(dir, 'nope.json'), 'x']),
      run(['explain', '-c', noRoute, '-r', '/other', 'x'])
    ]) as Result[]
    t.equal(none.code, 2)
    t.equal(none.stderr, 'fastify-jwt-gateway: explain needs a token: as an argument, or "-" and the token on stdin\n')
    t.equal(two.code, 2)
    t.equal(two.stderr, 'fastify-jwt-gateway: explain takes one token (or "-" for stdin)\n')
    t.equal(bad.code, 2)
    t.match(bad.stderr, /^fastify-jwt-gateway: Unknown option '--nope'/)
    t.equal(missing.code, 2)
    t.match(missing.stderr, /^fastify-jwt-gateway: .*nope\.json/)
    t.equal(r.code, 2)
    t.equal(r.stderr, 'fastify-jwt-gateway: no route serves /other\n')
  })

  t.test('a remote JWKS is fetched as at start; the kid and its source are shown', async (t) => {
    const { set } = keys(dir)
    const srv = await jwksServer(t, { '/jwks': { json: { keys: [set.rsa.jwk] } } })
    const remote = writeJson(join(dir, 'remote.json'), { jwt: { keys: [{ jwks: srv.url('/jwks') }] }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] })
    const token = sign(set.rsa, 'RS256', { sub: 'a' })
    const ok = await run(['explain', '-c', remote, token])
    t.equal(ok.code, 0)
    t.match(ok.stdout, 'route: / (routes[0]); policy: jwt (inherited)\n')
    t.match(ok.stdout, `\n  ok   key        kid "${set.rsa.kid}": 1 candidate key in jwks ${srv.url('/jwks')}\n`)
    clean(t, ok, token, [String(set.rsa.signingKey).split('\n')[1] as string])
    const unknown = sign(set.rsa2, 'RS256', { sub: 'a' }, { kid: 'rotated-away' })
    const no = await run(['explain', '-c', remote, unknown])
    t.equal(no.code, 1)
    t.match(no.stdout, '\n  FAIL key        kid "rotated-away": no key matches\n')
    t.match(no.stdout, '\nanswer: 401 FJG_ERR_TOKEN_KEY_UNKNOWN: No key matches the token\n')
  })
})
