import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { jwtAuth, policySchema } from '@fastify-jwt-gateway/jwt-auth'
import {
  buildGateway, gatewayConfigProblems, gatewayConfigSchema, gatewayPlugin, GatewayConfigError, type GatewayConfig
} from '../src/index.js'
import { bearer, echoUpstream, hs, request, SECRET } from './helpers/servers.js'

// The config contract: every problem named by its path, at once, before
// anything starts; and the plugin in a host app.

const seed: GatewayConfig = {
  $schema: './node_modules/fastify-jwt-gateway/schema.json',
  server: { host: '127.0.0.1', port: 8080, logLevel: 'info', workers: 'auto' },
  jwt: { secret: 'a-long-enough-secret', issuer: 'https://issuer.example' },
  routes: [
    { prefix: '/api', upstream: 'http://127.0.0.1:9000', rewritePrefix: '/api', jwt: { claimsToHeaders: { 'x-user-id': 'sub' } } },
    { prefix: '/', upstream: 'http://127.0.0.1:9000', jwt: false }
  ]
}

t.test('the seed config of DESIGN.md is valid', async (t) => {
  t.same(gatewayConfigProblems(seed), [])
})

t.test('every problem, one "path: message" line each', async (t) => {
  t.same(gatewayConfigProblems(null), ['(config): must be an object, got null'])
  t.same(gatewayConfigProblems({}), ['routes: is required'])
  t.same(gatewayConfigProblems({
    server: { port: 'x', workers: 0, extra: 1 },
    jwt: 'x',
    routes: [
      { prefix: 'api', upstream: 'ftp://x', methods: ['GET', 'GET'], timeout: 0, jwt: { realm: 3, bogus: true } },
      { prefix: '/b', upstream: 'http://u:p@127.0.0.1:9000', websocket: true, methods: ['POST'] },
      { prefix: '/b/', upstream: 'http://127.0.0.1:99999' }
    ]
  }), [
    'server.port: must be an integer, got "x"',
    'server.workers: must be >= 1, got 0',
    'server.extra: unknown key',
    'jwt: must be a policy object or false, got "x"',
    'routes[0].prefix: must be a path starting with "/", without "*", ":", "?" or "#", got "api"',
    'routes[0].upstream: must be an http(s) URL, "http://host:port" with an optional base path, got "ftp://x"',
    'routes[0].methods: must not repeat "GET"',
    'routes[0].timeout: must be > 0, got 0',
    'routes[0].jwt.bogus: unknown key',
    'routes[0].jwt.realm: must be string, got 3',
    'routes[1].methods: a WebSocket route needs GET (the upgrade is a GET request)',
    'routes[1].upstream: must not contain credentials',
    'routes[2].prefix: "/b" is already routed for POST by routes[1]',
    'routes[2].upstream: is not a valid URL, got "http://127.0.0.1:99999"'
  ])
})

t.test('the published schema: the policy once under $defs', async (t) => {
  const { $id: _id, ...policy } = policySchema
  t.same(gatewayConfigSchema.$defs.policy, policy)
  const text = JSON.stringify(gatewayConfigSchema)
  t.equal(text.split('"$id"').length - 1, 1, 'one $id')
  t.equal(JSON.parse(text).$defs.route.additionalProperties, false)
})

t.test('buildGateway: key and file problems of every route at once, inherited ones reported once', async (t) => {
  const dir = t.testdir({})
  const err = await buildGateway({
    jwt: { keys: [{ file: 'top.pem' }] },
    routes: [
      { prefix: '/', upstream: 'http://127.0.0.1:9000' },
      { prefix: '/b', upstream: 'http://127.0.0.1:9000', jwt: { keys: [{ file: 'route.pem' }] } },
      { prefix: '/c', upstream: 'http://127.0.0.1:9000', jwt: { realm: 'c' } },
      { prefix: '/d', upstream: 'http://127.0.0.1:9000', jwt: { claimsToHeaders: { 'x-t': 'sub' }, token: 'header:x-t' } }
    ]
  }, { baseDir: dir }).catch((e: unknown) => e) as GatewayConfigError
  t.ok(err instanceof GatewayConfigError)
  t.equal(err.code, 'FJG_ERR_GATEWAY_CONFIG')
  t.same(err.problems, [
    `jwt.keys[0].file: cannot read '${join(dir, 'top.pem')}': ENOENT`,
    `routes[1].jwt.keys[0].file: cannot read '${join(dir, 'route.pem')}': ENOENT`,
    'routes[3].jwt: header "x-t" is both a token source and a forwarded header'
  ])
  t.equal(err.message, `Invalid gateway config:\n${err.problems.map((p) => `  ${p}`).join('\n')}`)

  const noKey = await buildGateway({ routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9000', jwt: { realm: 'x' } }] }).catch((e: unknown) => e) as GatewayConfigError
  t.same(noKey.problems, ['routes[0].jwt: no key to verify tokens with: give "secret" or "keys" (or "validateSig": false)'])

  const schema = await buildGateway({ server: { logLevel: 'loud' }, routes: [] } as any).catch((e: unknown) => e) as GatewayConfigError
  t.same(schema.problems, [
    'server.logLevel: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
    'routes: must have at least 1 item'
  ])
})

t.test('buildGateway: relative key files resolve against baseDir; the result is ready, not listening', async (t) => {
  const dir = t.testdir({})
  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [{ kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), alg: 'HS256' }] }))
  const app = await buildGateway({ jwt: { keys: [{ file: 'keys.json' }] }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] }, { baseDir: dir })
  t.teardown(() => app.close())
  t.equal(app.server.listening, false)
  const res = await app.inject({ url: '/x' })
  t.equal(res.statusCode, 401)
})

t.test('gatewayPlugin: one register line in an existing service', async (t) => {
  const up = await echoUpstream(t)
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/own', async () => ({ mine: true }))
  app.register(gatewayPlugin, { jwt: { secret: SECRET, claimsToHeaders: { 'x-user-id': 'sub' } }, routes: [{ prefix: '/api', upstream: up.url }] })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  t.same((await request(`${url}/own`)).body, { mine: true }, 'the host\'s own routes are untouched')
  t.equal((await request(`${url}/api/x`)).status, 401)
  const ok = await request(`${url}/api/x`, { headers: bearer(hs({ sub: 'u-e' })) })
  t.equal(ok.body.headers['x-user-id'], 'u-e')
  t.equal((await request(`${url}/__gateway/health`)).body.status, 'ok')
  t.same(app.jwtAuth.keyStatus().map((s) => s.source), ['secret'], 'the decorator is visible to the host')

  const bad = Fastify()
  t.teardown(() => bad.close())
  bad.register(gatewayPlugin, { routes: [{ prefix: '/x', upstream: 'nope' }] })
  await t.rejects(async () => { await bad.ready() }, { code: 'FJG_ERR_GATEWAY_CONFIG' })
})

t.test('gatewayPlugin next to the host\'s own jwtAuth: both work, keyStatus() lists both', async (t) => {
  const up = await echoUpstream(t)
  const dir = t.testdir({ 'gw.jwk.json': JSON.stringify({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), kid: 'gw' }) })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, { secret: 'the-host-service-secret-0123456789' })
  app.get('/me', async (request) => ({ sub: request.jwt?.payload.sub }))
  app.register(gatewayPlugin, { baseDir: dir, jwt: { keys: [{ file: 'gw.jwk.json' }] }, routes: [{ prefix: '/gw', upstream: up.url }] })
  await app.ready()
  t.same(app.jwtAuth.keyStatus().map((s) => s.source).length, 2)
  t.equal((await app.inject({ url: '/me' })).statusCode, 401, 'the host\'s plugin guards its route')
})
