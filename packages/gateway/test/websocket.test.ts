import { once } from 'node:events'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { bearer, echoUpstream, hs, SECRET, startGateway, type Seen } from './helpers/servers.js'

// WebSocket upgrades go through the same route table, policy and header
// forwarding as plain requests. The echo upstream sends the handshake it saw
// as its first message.

interface Opened { socket: WebSocket, handshake: Seen }
interface Refused { status: number, body: any }

function connect (url: string, headers: Record<string, string> = {}): Promise<Opened | Refused> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode as number, body: text === '' ? null : JSON.parse(text) })
      })
    })
    socket.once('message', (data) => resolve({ socket, handshake: JSON.parse(String(data)) }))
    socket.once('error', reject)
  })
}

async function setup (t: Test) {
  const up = await echoUpstream(t)
  const gw = await startGateway(t, {
    jwt: { secret: SECRET, claimsToHeaders: { 'x-user-id': 'sub', 'x-name': 'name' } },
    routes: [
      { prefix: '/ws', upstream: up.url, websocket: true },
      { prefix: '/ws-q', upstream: up.url, websocket: true, jwt: { token: 'query:access_token', forwardToken: false } },
      { prefix: '/open-ws', upstream: up.url, websocket: true, jwt: false },
      { prefix: '/', upstream: up.url, jwt: false }
    ]
  })
  return { up, ws: gw.url.replace('http:', 'ws:') }
}

t.test('an upgrade without a token is answered 401, and never reaches the upstream', async (t) => {
  const { up, ws } = await setup(t)
  const res = await connect(`${ws}/ws/chat`) as Refused
  t.equal(res.status, 401)
  t.equal(res.body.code, 'FJG_ERR_TOKEN_MISSING')
  const bad = await connect(`${ws}/ws/chat`, bearer(hs({ sub: 'u' }).slice(0, -3) + 'AAA')) as Refused
  t.equal(bad.status, 401)
  t.equal(bad.body.code, 'FJG_ERR_TOKEN_SIGNATURE')
  t.equal(up.handshakes.length, 0)
})

t.test('an upgrade with a token is proxied, with the forwarded headers and without spoofed ones', async (t) => {
  const { up, ws } = await setup(t)
  const token = hs({ sub: 'u-9', name: 'Zoë 山田' })
  const res = await connect(`${ws}/ws/chat?room=1`, { ...bearer(token), 'x-user-id': 'evil', connection: 'Upgrade, x-user-id' }) as Opened
  t.ok(res.socket, 'connected')
  t.teardown(() => res.socket.terminate())
  const h = res.handshake
  t.equal(h.url, '/chat?room=1')
  t.equal(h.headers['x-user-id'], 'u-9')
  t.equal(h.headers['x-name'], 'Zoë 山田', 'UTF-8 bytes intact')
  t.equal(h.headers.authorization, `Bearer ${token}`)
  t.equal(up.handshakes.length, 1)
  res.socket.send('hello')
  const [echo] = await once(res.socket, 'message')
  t.equal(String(echo), 'echo:hello')
})

t.test('forwardToken: false over WebSocket: the query token is not passed on', async (t) => {
  const { ws } = await setup(t)
  const token = hs({ sub: 'u-q' })
  const res = await connect(`${ws}/ws-q/feed?a=1&access_token=${token}`) as Opened
  t.teardown(() => res.socket.terminate())
  t.equal(res.handshake.url, '/feed?a=1')
  t.equal(res.handshake.headers['x-user-id'], 'u-q')
  t.notOk('authorization' in res.handshake.headers)
})

t.test('an open WebSocket route strips spoofed headers too', async (t) => {
  const { ws } = await setup(t)
  const res = await connect(`${ws}/open-ws/x`, { 'x-user-id': 'evil', 'x-name': 'evil', cookie: 'a=1' }) as Opened
  t.teardown(() => res.socket.terminate())
  t.notOk('x-user-id' in res.handshake.headers)
  t.notOk('x-name' in res.handshake.headers)
  t.equal(res.handshake.headers.cookie, 'a=1')
})

t.test('an upgrade on a route without websocket is refused at once, not left hanging', async (t) => {
  const { up, ws } = await setup(t)
  const res = await connect(`${ws}/plain`) as Refused
  t.equal(res.status, 400)
  t.equal(res.body.code, 'FJG_ERR_WEBSOCKET_DISABLED')
  t.equal(up.handshakes.length, 0)
})
