import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyError, type FastifyReply } from 'fastify'
import t from 'tap'
import { buildGateway, gatewayPlugin, type RouteConfig } from '../src/index.js'
import { bearer, hs, rawRequest, SECRET } from './helpers/servers.js'

// Every 4xx answer of the gateway (and jwt-auth's denials on its routes) is
// sent as its error (errors.ts sendAnswer): Fastify's default error handler
// writes `{ statusCode, code, error, message }`, a host's setErrorHandler may
// reshape the body; status and headers stay, and no answered request reaches
// the upstream. A 5xx answer is that same body sent directly, logged once by
// the gateway (not a second time by Fastify's error handler).

/** An upstream that counts what reached it. */
async function countingUpstream (t: { teardown (fn: () => unknown): void }): Promise<{ url: string, hits: () => number }> {
  let hits = 0
  const server = createServer((req, res) => {
    hits++
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"upstream":true}')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits }
}

/** A port nothing listens on. */
async function closedPort (): Promise<string> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as AddressInfo).port
  await new Promise((resolve) => s.close(resolve))
  return `http://127.0.0.1:${port}`
}

const ROUTES = (up: string, down: string): RouteConfig[] => [
  { prefix: '/api', upstream: up, methods: ['GET'], jwt: { requireClaims: [{ claim: 'role', op: 'eq', value: 'admin' }] } },
  { prefix: '/down', upstream: down, jwt: false }
]

t.test('a host setErrorHandler reshapes the gateway\'s 4xx answers and jwt denials; status and headers stay; a 502 keeps its body', async (t) => {
  const up = await countingUpstream(t)
  const app = Fastify()
  t.teardown(() => app.close())
  const seen: string[] = []
  app.setErrorHandler((err: FastifyError, _request, reply) => {
    seen.push(`${reply.statusCode} ${err.code}`)
    return reply.send({ problem: { status: reply.statusCode, type: err.code, title: err.message } })
  })
  app.register(gatewayPlugin, { jwt: { secret: SECRET }, routes: ROUTES(up.url, await closedPort()) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const missing = await app.inject('/api/x')
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"')
  t.strictSame(missing.json(), { problem: { status: 401, type: 'FJG_ERR_TOKEN_MISSING', title: 'No token was provided' } })

  const forbidden = await app.inject({ url: '/api/x', headers: bearer(hs({ role: 'user' })) })
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.headers['www-authenticate'], /^Bearer realm="api", error="insufficient_scope"/)
  t.strictSame(forbidden.json(), { problem: { status: 403, type: 'FJG_ERR_CLAIM_REQUIREMENT', title: 'The token does not satisfy the requirement on claim role' } })

  const method = await app.inject({ method: 'POST', url: '/api/x', headers: bearer(hs({ role: 'admin' })) })
  t.equal(method.statusCode, 405)
  t.equal(method.headers.allow, 'GET, HEAD')
  t.strictSame(method.json(), { problem: { status: 405, type: 'FJG_ERR_METHOD_NOT_ALLOWED', title: 'The method is not allowed on this route' } })

  // Over a socket: inject would normalize the target before the gateway sees it.
  const path = await rawRequest(url, '/api/./x')
  t.equal(path.status, 400)
  t.strictSame(path.body, { problem: { status: 400, type: 'FJG_ERR_PATH_NOT_CANONICAL', title: 'The request path is not canonical' } })

  const down = await app.inject('/down/x')
  t.equal(down.statusCode, 502)
  t.strictSame(down.json(), { statusCode: 502, code: 'FJG_ERR_UPSTREAM_UNAVAILABLE', error: 'Bad Gateway', message: 'The upstream server is unavailable' }, 'sent directly')

  t.strictSame(seen, [
    '401 FJG_ERR_TOKEN_MISSING', '403 FJG_ERR_CLAIM_REQUIREMENT', '405 FJG_ERR_METHOD_NOT_ALLOWED',
    '400 FJG_ERR_PATH_NOT_CANONICAL'
  ], 'the handler saw each 4xx answer as its coded error, the status already set')
  t.equal(up.hits(), 0, 'no answered request reached the upstream')

  const ok = await app.inject({ url: '/api/x', headers: bearer(hs({ role: 'admin' })) })
  t.same([ok.statusCode, ok.json()], [200, { upstream: true }], 'a proxied answer is not touched')
})

t.test('without a host handler: Fastify\'s error shape, exactly', async (t) => {
  const up = await countingUpstream(t)
  const app = await buildGateway({ jwt: { secret: SECRET }, routes: ROUTES(up.url, await closedPort()) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const cases: Array<[string, { method?: 'GET' | 'POST', url: string, headers?: Record<string, string> }, Record<string, unknown>]> = [
    ['401', { url: '/api/x' }, { statusCode: 401, code: 'FJG_ERR_TOKEN_MISSING', error: 'Unauthorized', message: 'No token was provided' }],
    ['405', { method: 'POST', url: '/api/x', headers: bearer(hs({ role: 'admin' })) }, { statusCode: 405, code: 'FJG_ERR_METHOD_NOT_ALLOWED', error: 'Method Not Allowed', message: 'The method is not allowed on this route' }],
    ['400', { url: '/api/./x' }, { statusCode: 400, code: 'FJG_ERR_PATH_NOT_CANONICAL', error: 'Bad Request', message: 'The request path is not canonical' }],
    ['400 bad url', { url: '/api/%c0%ae' }, { statusCode: 400, code: 'FJG_ERR_PATH_NOT_CANONICAL', error: 'Bad Request', message: 'The request path is not canonical' }],
    ['502', { url: '/down/x' }, { statusCode: 502, code: 'FJG_ERR_UPSTREAM_UNAVAILABLE', error: 'Bad Gateway', message: 'The upstream server is unavailable' }]
  ]
  for (const [label, req, body] of cases) {
    const res = await rawRequest(url, req.url, req)
    t.equal(res.status, body.statusCode, `${label}: status`)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8', `${label}: JSON`)
    t.strictSame(res.body, body, `${label}: body`)
  }
  t.equal(up.hits(), 0)
})

t.test('a host handler that throws, or sends nothing: fail closed', async (t) => {
  const up = await countingUpstream(t)
  const app = Fastify()
  t.teardown(() => app.close())
  let parked: FastifyReply | null = null
  let entered: () => void = () => {}
  const inHandler = new Promise<void>((resolve) => { entered = resolve })
  app.register(async (child) => {
    child.setErrorHandler(() => { throw new Error('the host handler broke') })
    child.register(gatewayPlugin, { jwt: { secret: SECRET }, routes: [{ prefix: '/throws', upstream: up.url }], server: { healthPath: '/throws/__h', readyPath: '/throws/__r', metricsPath: false } } as never)
  })
  app.register(async (child) => {
    child.setErrorHandler((_err, _request, reply) => {
      parked = reply
      entered()
    })
    child.register(gatewayPlugin, { jwt: { secret: SECRET }, routes: [{ prefix: '/silent', upstream: up.url }], server: { healthPath: '/silent/__h', readyPath: '/silent/__r', metricsPath: false } } as never)
  })
  await app.ready()

  const broken = await app.inject('/throws/x')
  t.equal(broken.statusCode, 401, 'the plugin\'s status stays')
  t.equal(broken.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal(broken.json().message, 'the host handler broke', 'the host\'s own error, under the 401')

  const pending = app.inject({ url: '/silent/x', headers: bearer(hs({ sub: 'u' }).slice(0, -4) + 'AAAA') })
  await inHandler
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal((parked as FastifyReply | null)?.sent, false, 'nothing sent while the handler holds the reply')
  t.equal(up.hits(), 0, 'the request was not forwarded')
  ;(parked as unknown as FastifyReply).send({ late: true })
  const res = await pending
  t.equal(res.statusCode, 401)
  t.strictSame(res.json(), { late: true })
  t.equal(up.hits(), 0, 'never forwarded')
})
