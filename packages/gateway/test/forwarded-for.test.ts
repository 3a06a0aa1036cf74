import t from 'tap'
import WebSocket from 'ws'
import { bearer, collect, echoUpstream, hs, request, SECRET, startGateway } from './helpers/servers.js'

// X-Forwarded-For / -Proto / -Host, as nginx's usual proxy_set_header lines.

t.test('the upstream learns the client address, scheme and host', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, {
    jwt: { secret: SECRET },
    routes: [{ prefix: '/api', upstream: up.url, websocket: true }, { prefix: '/', upstream: up.url, jwt: false }]
  })
  const host = new URL(url).host

  const open = await request(`${url}/about`)
  t.equal(open.status, 200)
  t.equal(open.body.headers['x-forwarded-for'], '127.0.0.1', 'the client address (the socket peer: trustProxy is off)')
  t.equal(open.body.headers['x-forwarded-proto'], 'http')
  t.equal(open.body.headers['x-forwarded-host'], host)

  const chained = await request(`${url}/api/x`, {
    headers: { ...bearer(hs({ sub: 'u' })), 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }
  })
  t.equal(chained.status, 200)
  t.equal(chained.body.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'appended to what the client sent, never replaced by it')
  t.equal(chained.body.headers['x-forwarded-proto'], 'http', 'the scheme is ours, not the client\'s')
  t.equal(chained.body.headers['x-forwarded-host'], host, 'the host is the one asked for')

  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/socket`, { headers: bearer(hs({ sub: 'u' })) })
  t.teardown(() => ws.terminate())
  const first = await new Promise<string>((resolve, reject) => {
    ws.once('message', (data) => resolve(String(data)))
    ws.once('error', reject)
  })
  const handshake = JSON.parse(first)
  t.equal(handshake.headers['x-forwarded-for'], '127.0.0.1', 'the WebSocket handshake carries them too')
  t.equal(handshake.headers['x-forwarded-proto'], 'http')
})

t.test('server.trustProxy: behind a load balancer, scheme, host and request.ip come from it', async (t) => {
  const up = await echoUpstream(t)
  const lines: Array<Record<string, any>> = []
  const { url } = await startGateway(t, {
    server: { trustProxy: '127.0.0.1' },
    routes: [{ prefix: '/', upstream: up.url, jwt: false }]
  }, { logger: collect(lines) })
  const res = await request(`${url}/x`, {
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' }
  })
  t.equal(res.status, 200)
  t.equal(res.body.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'the hop appends its peer, once')
  t.equal(res.body.headers['x-forwarded-proto'], 'https', 'the scheme the client used at the load balancer')
  t.equal(res.body.headers['x-forwarded-host'], 'api.example.com')
  const incoming = lines.find((l) => l.msg === 'incoming request')
  t.equal(incoming?.req?.remoteAddress, '203.0.113.7', 'logs show the client, not the load balancer')
})

t.test('server.trustProxy is validated', async (t) => {
  const { gatewayConfigProblems } = await import('../src/index.js')
  t.same(gatewayConfigProblems({ server: { trustProxy: 0 }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:1' }] }),
    ['server.trustProxy: must be >= 1, got 0'])
  t.same(gatewayConfigProblems({ server: { trustProxy: [] }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:1' }] }),
    ['server.trustProxy: must be true, a list of proxy addresses or CIDRs, or a number of hops, got []'])
})
