import { Writable } from 'node:stream'
import { buildGateway } from '@fastify-jwt-gateway/gateway'
import t from 'tap'
import { loggerOptions, queryTokenNames, redactUrl } from '../src/logging.js'
import type { GatewayConfig } from '../src/gateway.js'
import { createSigner } from 'fast-jwt'
import { connect, type AddressInfo } from 'node:net'

// Issue 10.8: `GET /q#access_token=<jwt>` was served (the router took `#` for
// the start of the query) and the access log held the token.

const SECRET = 'a-long-enough-secret-for-hs256-tokens-0123'
const jwt = createSigner({ key: SECRET })({ sub: 'u' })

t.test('redactUrl: from the first "?" or "#"', async (t) => {
  const names = queryTokenNames({ routes: [] } as unknown as GatewayConfig)
  t.equal(redactUrl(`/q#access_token=${jwt}`, names), '/q#access_token=[redacted]')
  t.equal(redactUrl(`/q#${jwt}`, names), '/q#[redacted]')
  t.equal(redactUrl(`/q#a=1&token=${jwt}`, names), '/q#a=1&token=[redacted]')
  t.equal(redactUrl(`/q?x=1#access_token=${jwt}`, names), '/q?x=1#access_token=[redacted]')
  t.equal(redactUrl(`/q#frag?access_token=${jwt}`, names), '/q#frag?access_token=[redacted]')
  t.equal(redactUrl('/q#frag', names), '/q#frag')
  t.equal(redactUrl('/api?page=2&q=x', names), '/api?page=2&q=x')
})

t.test('a "#" target: refused with 400, and the log line holds no token', async (t) => {
  const lines: string[] = []
  const config: GatewayConfig = { jwt: { secret: SECRET, token: 'query:access_token' }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] } as GatewayConfig
  const app = await buildGateway(config as any, {
    logger: { ...loggerOptions(config), stream: new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } }) }
  })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const answer = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1')
    let got = ''
    s.on('data', (c) => { got += String(c); if (got.includes('}')) { s.destroy(); resolve(got) } })
    s.write(`GET /q#access_token=${jwt} HTTP/1.1\r\nhost: x\r\n\r\n`)
  })
  t.match(answer, /^HTTP\/1\.1 400 /)
  t.match(answer, /"code":"FJG_ERR_PATH_NOT_CANONICAL"/)
  const log = lines.join('')
  t.match(log, '/q#access_token=[redacted]')
  t.notOk(log.includes(jwt.split('.')[2] as string), 'no token in any log line')
})
