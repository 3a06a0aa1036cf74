import t from 'tap'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { run, startCli } from './helpers/cli.js'
import { keys, sign, tempDir, upstream, writeJson } from './helpers/fixtures.js'

// `start` on a real config, spawned as a user runs it, in front of a real upstream.

const STACK = /^\s+at .+:\d+:\d+\)?$/m
const json = (res: Response): Promise<any> => res.json()

t.test('start: serves the config, logs without tokens, shuts down gracefully', async (t) => {
  const dir = tempDir(t)
  const { set } = keys(dir)
  const up = await upstream(t)
  writeJson(join(dir, 'revoked.json'), ['revoked-user'])
  writeJson(join(dir, 'gateway.json'), {
    server: { host: '127.0.0.1', port: 8080, logLevel: 'info' },
    jwt: {
      realm: 'test',
      // Relative: resolved against the config's folder.
      keys: [{ file: 'keys/rsa.pem' }],
      token: ['header:authorization', 'query:access_token'],
      revocation: { sub: 'revoked.json' },
      claimsToHeaders: { 'x-user-id': 'sub' }
    },
    routes: [
      { prefix: '/api', upstream: up, rewritePrefix: '/api' },
      { prefix: '/', upstream: up, jwt: false }
    ]
  })
  // No --config: ./gateway.json in the working folder is used; --port overrides server.port.
  const gw = await startCli(t, ['start', '--port', '0'], { cwd: dir })
  t.match(gw.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(gw.url, 'http://127.0.0.1:8080')
  t.equal(gw.stdout().split('\n').filter((l) => l.includes('listening on')).length, 1, 'one line with the listening address')

  const good = sign(set.rsa, 'RS256', { sub: 'user-1' })
  const forged = sign(set.rsa2, 'RS256', { sub: 'mallory' }, { kid: 'k-forged' })
  const revoked = sign(set.rsa, 'RS256', { sub: 'revoked-user' })
  const tokens = [good, forged, revoked]

  let res = await fetch(`${gw.url}/about`)
  t.equal(res.status, 200, 'open route')
  t.equal((await json(res)).url, '/about')

  res = await fetch(`${gw.url}/api/leads`)
  t.equal(res.status, 401, 'protected, no token')
  t.equal(res.headers.get('www-authenticate'), 'Bearer realm="test"')
  t.equal((await json(res)).code, 'FJG_ERR_TOKEN_MISSING')

  res = await fetch(`${gw.url}/api/leads`, { headers: { authorization: `Bearer ${good}`, 'x-user-id': 'spoofed' } })
  t.equal(res.status, 200, 'protected, valid token')
  let body = await json(res)
  t.equal(body.url, '/api/leads')
  t.equal(body.headers['x-user-id'], 'user-1', 'the claim arrives, the spoofed header does not')

  res = await fetch(`${gw.url}/api/leads?page=2&access_token=${good}`)
  t.equal(res.status, 200, 'token from the query string')
  body = await json(res)
  t.equal(body.headers['x-user-id'], 'user-1')

  res = await fetch(`${gw.url}/api/leads?access_token=${forged}`)
  t.equal(res.status, 401, 'forged')
  t.equal((await json(res)).code, 'FJG_ERR_TOKEN_SIGNATURE')

  res = await fetch(`${gw.url}/api/leads`, { headers: { authorization: `Bearer ${revoked}` } })
  t.equal(res.status, 401, 'revoked')
  t.equal((await json(res)).code, 'FJG_ERR_TOKEN_REVOKED')

  res = await fetch(`${gw.url}/__gateway/health`)
  t.equal(res.status, 200, 'health route, no token')
  body = await json(res)
  t.equal(body.status, 'ok')
  t.match(body.keys, [{ source: join(dir, 'keys', 'rsa.pem'), lastError: null }])

  // SIGTERM while a slow request is in flight: it completes, then exit 0.
  const slow = fetch(`${gw.url}/api/slow?ms=1000`, { headers: { authorization: `Bearer ${good}` } })
  await gw.waitFor((l) => l.includes('"url":"/api/slow?ms=1000"'))
  gw.child.kill('SIGTERM')
  await gw.waitFor((l) => l.includes('SIGTERM received'))
  const slowRes = await slow
  t.equal(slowRes.status, 200, 'the request in flight completes')
  t.same(await slowRes.json(), { slow: true, ms: 1000 })
  t.same(await gw.exited, { code: 0, signal: null }, 'exit 0 after SIGTERM')
  await t.rejects(fetch(`${gw.url}/about`), 'no longer listening')

  const logs = gw.logs()
  const denials = logs.filter((l) => l.msg?.startsWith('jwt: denied'))
  t.match(denials, [
    { jwt: { reason: 'FJG_ERR_TOKEN_MISSING', status: 401, route: '/api/*' } },
    { jwt: { reason: 'FJG_ERR_TOKEN_SIGNATURE', status: 401, route: '/api/*', kid: 'k-forged', sub: 'mallory' } },
    { jwt: { reason: 'FJG_ERR_TOKEN_REVOKED', status: 401, route: '/api/*', sub: 'revoked-user' } }
  ], 'each denial logged with reason code, route, kid/sub')
  t.ok(logs.some((l) => l.req?.url === '/api/leads?page=2&access_token=[redacted]'), 'query token redacted in the access log')
  const all = gw.stdout() + gw.stderr()
  for (const tok of tokens) {
    t.notOk(all.includes(tok.split('.')[2] as string), 'no token (or its signature) in any log line')
  }
  t.equal(gw.stderr(), '')
})

t.test('start: user errors exit 1 with a message and no stack', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  // A port that is taken.
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const config = writeJson(join(dir, 'gw.json'), {
    jwt: { secret: '${JWT_SECRET}' }, // eslint-disable-line no-template-curly-in-string
    routes: [{ prefix: '/', upstream: up }]
  })
  const [missingEnv, inUse, noFile] = await Promise.all([
    run(['start', '--config', config], { env: { JWT_SECRET: undefined } }),
    run(['start', '--config', config, '--port', String(port)], { env: { JWT_SECRET: 'a-long-enough-secret-for-hs256-tokens' } }),
    run(['start', '--config', join(dir, 'nope.json')])
  ])
  t.equal(missingEnv.code, 1)
  t.match(missingEnv.stderr, 'jwt.secret: environment variable JWT_SECRET is not set')
  t.equal(inUse.code, 1)
  t.match(inUse.stderr, `fastify-jwt-gateway: cannot listen on 127.0.0.1:${port}: the address is already in use`)
  t.equal(noFile.code, 1)
  t.match(noFile.stderr, /nope\.json: cannot read the config: no such file/)
  for (const r of [missingEnv, inUse, noFile]) t.notMatch(r.stderr, STACK)
})
