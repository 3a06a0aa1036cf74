import t from 'tap'
import Fastify from 'fastify'
import { buildGateway, checkGatewayConfig, gatewayPlugin, type GatewayConfig, type GatewayConfigError } from '../src/index.js'
import { bearer, echoUpstream, hs, request, SECRET } from './helpers/servers.js'

// Issue 11 point 3: a config is validated once per start. buildGateway checks
// it and hands the plugin a private copy of what it checked, so a change the
// caller makes after the call (the plugin loads later, at ready) reaches
// nothing that is built; the plugin registered by an application still checks
// what it is given.

t.test('buildGateway builds what it validated, whatever the caller changes afterwards', async (t) => {
  const up = await echoUpstream(t)
  const config: GatewayConfig = {
    jwt: { secret: SECRET, audience: 'api' },
    routes: [{ prefix: '/api', upstream: up.url }, { prefix: '/', upstream: up.url, jwt: false }]
  }
  const building = buildGateway(config)
  // After the check, before the plugin has loaded: neither edit may take effect.
  ;(config.jwt as { audience: string }).audience = 'other'
  ;(config.routes[0] as { jwt?: unknown }).jwt = false
  const app = await building
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address() as { port: number }
  const url = `http://127.0.0.1:${address.port}`
  const none = await request(`${url}/api/x`)
  t.equal(none.status, 401, 'the route keeps the policy that was validated')
  t.equal(none.body.code, 'FJG_ERR_TOKEN_MISSING')
  const other = await request(`${url}/api/x`, { headers: bearer(hs({ sub: 'u', aud: 'other' })) })
  t.equal(other.status, 401)
  t.equal(other.body.code, 'FJG_ERR_TOKEN_AUDIENCE', 'the audience that was validated')
  t.equal((await request(`${url}/api/x`, { headers: bearer(hs({ sub: 'u', aud: 'api' })) })).status, 200)
})

t.test('the plugin registered by an application validates its options', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(gatewayPlugin, { jwt: { secret: SECRET, leeway: 'x' as any }, routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:9' }] })
  const err = await app.ready().then(() => null, (e: unknown) => e) as GatewayConfigError
  t.equal(err?.code, 'FJG_ERR_GATEWAY_CONFIG')
  t.same(err.problems, ['jwt.leeway: must be number, got "x"'])
})

// A host that checks first (the preset, which reads server.tls and the listen
// address before building) has buildGateway build the config without a second
// check while it reads the same; a change made since is checked.

t.test('checkGatewayConfig: every problem at once, or the config, built without a second check while unchanged', async (t) => {
  const err = (() => { try { checkGatewayConfig({ jwt: { leeway: 'x' }, routes: [{ prefix: 'a', upstream: 'http://127.0.0.1:9' }] }) } catch (e) { return e } return null })() as GatewayConfigError
  t.equal(err?.code, 'FJG_ERR_GATEWAY_CONFIG')
  t.ok(err.problems.length >= 2, 'the problems of the policy and of the route together')
  t.ok(err.problems.some((p) => p.startsWith('jwt.leeway: ')), err.problems.join('; '))
  t.ok(err.problems.some((p) => p.startsWith('routes[0].prefix: ')), err.problems.join('; '))

  const up = await echoUpstream(t)
  const input = {
    jwt: { secret: SECRET, audience: 'api' },
    routes: [{ prefix: '/api', upstream: up.url }, { prefix: '/', upstream: up.url, jwt: false }]
  }
  const checked = checkGatewayConfig(input)
  t.equal(checked, input, 'the config itself, still the caller\'s')
  const app = await buildGateway(checked)
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  t.equal((await request(`${url}/api/x`)).status, 401)
  t.equal((await request(`${url}/api/x`, { headers: bearer(hs({ sub: 'u', aud: 'api' })) })).status, 200)
})

t.test('checkGatewayConfig: a change after the check is checked when built', async (t) => {
  const input = { jwt: { secret: SECRET }, routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9' }] }
  checkGatewayConfig(input)
  // Deep inside, after the check: buildGateway sees the config no longer reads as checked.
  ;(input.jwt as { leeway?: unknown }).leeway = 'x'
  const err = await buildGateway(input as GatewayConfig).then(() => null, (e: unknown) => e) as GatewayConfigError
  t.equal(err?.code, 'FJG_ERR_GATEWAY_CONFIG')
  t.same(err.problems, ['jwt.leeway: must be number, got "x"'])
  // A new route with a bad prefix, pushed after the check.
  const other = { jwt: { secret: SECRET }, routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9' }] }
  checkGatewayConfig(other)
  other.routes.push({ prefix: 'nope', upstream: 'http://127.0.0.1:9' })
  const err2 = await buildGateway(other).then(() => null, (e: unknown) => e) as GatewayConfigError
  t.equal(err2?.code, 'FJG_ERR_GATEWAY_CONFIG')
  t.match(err2.problems, [/^routes\[1\]\.prefix: /])
})

t.test('checkGatewayConfig: a config holding a function is checked again when built, even unchanged', async (t) => {
  let calls = 0
  const require = (): boolean => { calls++; return true }
  const input: GatewayConfig = { jwt: { secret: SECRET, require }, routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9' }] }
  t.equal(checkGatewayConfig(input), input)
  // JSON cannot show a function swapped for something else: such a config is not remembered.
  ;(input.jwt as { require?: unknown }).require = 'not a function'
  const err = await buildGateway(input).then(() => null, (e: unknown) => e) as GatewayConfigError
  t.equal(err?.code, 'FJG_ERR_GATEWAY_CONFIG')
  t.ok(err.problems.some((p) => p.startsWith('jwt.require: ')), err.problems.join('; '))
  t.equal(calls, 0)
})
