import { once } from 'node:events'
import { createServer } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import t from 'tap'
import type { GatewayConfig } from '../src/index.js'
import { bearer, hs, parseAnswer, SECRET, startGateway, type Answer } from './helpers/servers.js'

// Issue 10.4: a client that announces a body and sends it slowly (or never)
// must not hold an upstream connection, and an anonymous one on a protected
// route is answered 401 before any body byte is read.

interface T { teardown (fn: () => unknown): void }

/** An upstream that answers with the body length it read, and records each request as it starts and ends. */
async function bodyUpstream (t: T): Promise<{ url: string, started: string[], aborted: string[] }> {
  const started: string[] = []
  const aborted: string[] = []
  const server = createServer((req, res) => {
    started.push(`${req.method} ${req.url}`)
    let n = 0
    req.on('data', (c: Buffer) => { n += c.length })
    req.on('aborted', () => aborted.push(`${req.method} ${req.url}`))
    req.on('end', () => res.end(JSON.stringify({ read: n })))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, started, aborted }
}

function config (upstream: string, server: GatewayConfig['server'] = {}): GatewayConfig {
  return {
    server,
    jwt: { secret: SECRET },
    routes: [
      { prefix: '/get-only', upstream, methods: ['GET'] },
      { prefix: '/api', upstream },
      { prefix: '/', upstream, jwt: false }
    ]
  }
}

/** Opens a socket and sends the head only; `answer()` resolves with the first complete head+body it gets, or what came when it closed. */
async function headOnly (url: string, head: string[]): Promise<{ socket: Socket, answer: () => Promise<Answer>, closed: Promise<void> }> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  socket.write(head.join('\r\n') + '\r\n\r\n')
  const chunks: Buffer[] = []
  let got: ((a: Answer) => void) | undefined
  const answered = new Promise<Answer>((resolve) => { got = resolve })
  const done = (): void => { got?.(parseAnswer(Buffer.concat(chunks).toString('latin1'))) }
  socket.on('data', (c: Buffer) => {
    chunks.push(c)
    const text = Buffer.concat(chunks).toString('latin1')
    const end = text.indexOf('\r\n\r\n')
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(text)
    if (end !== -1 && m !== null && text.length - end - 4 >= Number(m[1])) done()
  })
  const closed = new Promise<void>((resolve) => socket.on('close', () => { done(); resolve() }))
  socket.on('error', () => {})
  return { socket, answer: () => answered, closed }
}

const head = (method: string, path: string, headers: Record<string, string>): string[] =>
  [`${method} ${path} HTTP/1.1`, 'host: gw', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]

t.test('anonymous requests with a body on protected routes: 401 before any body byte', async (t) => {
  const up = await bodyUpstream(t)
  const { url } = await startGateway(t, config(up.url))
  const cases: Array<[string, string, Record<string, string>]> = [
    ['POST', '/get-only/x', { 'content-type': 'application/json', 'content-length': '100' }],
    ['POST', '/get-only/x', { 'content-type': 'text/plain', 'content-length': String(2 * 1024 * 1024) }],
    ['POST', '/get-only/x', { 'content-type': 'application/x-weird', 'content-length': '10' }],
    ['POST', '/api/x', { 'content-type': 'text/plain', 'content-length': String(2 * 1024 * 1024) }],
    ['PUT', '/api/x', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }]
  ]
  for (const [method, path, headers] of cases) {
    // No body byte is ever sent: an answer can only come before the body.
    const c = await headOnly(url, head(method, path, headers))
    const res = await c.answer()
    t.equal(res.status, 401, `${method} ${path} ${headers['content-type']}`)
    t.equal(res.body.code, 'FJG_ERR_TOKEN_MISSING')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
    c.socket.destroy()
  }
  t.same(up.started, [], 'nothing reached the upstream')
})

t.test('with a token, a 405 route still answers 405 without reading the body', async (t) => {
  const up = await bodyUpstream(t)
  const { url } = await startGateway(t, config(up.url))
  const c = await headOnly(url, head('POST', '/get-only/x', { ...bearer(hs({ sub: 'u' })), 'content-type': 'text/plain', 'content-length': String(2 * 1024 * 1024) }))
  const res = await c.answer()
  t.equal(res.status, 405)
  t.equal(res.body.code, 'FJG_ERR_METHOD_NOT_ALLOWED')
  c.socket.destroy()
})

t.test('no upstream request before the first body byte; 408 when none comes within bodyTimeout', async (t) => {
  const up = await bodyUpstream(t)
  const { url } = await startGateway(t, config(up.url, { bodyTimeout: 300 }))
  const c = await headOnly(url, head('POST', '/api/slow', { ...bearer(hs({ sub: 'u' })), 'content-type': 'text/plain', 'content-length': '100' }))
  const res = await c.answer()
  t.equal(res.status, 408)
  t.same(res.body, { statusCode: 408, error: 'Request Timeout', code: 'FJG_ERR_BODY_TIMEOUT', message: 'The request body was not received in time' })
  t.equal(res.headers.connection, 'close')
  await c.closed
  t.same(up.started, [], 'the upstream never saw the request')
})

t.test('slow clients hold no upstream connection; others are served meanwhile', async (t) => {
  const up = await bodyUpstream(t)
  const { url } = await startGateway(t, config(up.url, { bodyTimeout: 60_000 }))
  const slow = []
  for (let i = 0; i < 20; i++) slow.push(await headOnly(url, head('POST', `/api/slow${i}`, { ...bearer(hs({ sub: 'u' })), 'content-length': '100000' })))
  const fast = await headOnly(url, head('GET', '/api/fast', { ...bearer(hs({ sub: 'u' })), connection: 'close' }))
  t.equal((await fast.answer()).status, 200)
  t.same(up.started, ['GET /fast'], 'the 20 waiting bodies opened no upstream request')
  // The first byte starts the request; the body then streams to the upstream.
  const first = slow[0] as Awaited<ReturnType<typeof headOnly>>
  first.socket.write('x')
  await new Promise((resolve) => setTimeout(resolve, 100))
  first.socket.write('y'.repeat(99_999))
  const res = await first.answer()
  t.equal(res.status, 200)
  t.same(res.body, { read: 100_000 })
  t.same(up.started, ['GET /fast', 'POST /slow0'])
  for (const s of slow) s.socket.destroy()
})

t.test('a body that stalls between two chunks closes the connection and cancels the upstream request', async (t) => {
  const up = await bodyUpstream(t)
  const { url } = await startGateway(t, config(up.url, { bodyTimeout: 300 }))
  // Over the buffering size: streamed once the first bytes come.
  const c = await headOnly(url, head('POST', '/api/stall', { ...bearer(hs({ sub: 'u' })), 'content-length': '100000' }))
  c.socket.write('0'.repeat(70_000))
  await c.closed
  t.pass('the gateway closed the stalled connection')
  // The upstream request was started by the first bytes, and cancelled with the client.
  for (let i = 0; i < 50 && up.aborted.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(up.started, ['POST /stall'])
  t.same(up.aborted, ['POST /stall'])
})

t.test('a small body is read whole before the upstream request; stalled, it is a 408 the upstream never sees', async (t) => {
  const up = await bodyUpstream(t)
  const { url } = await startGateway(t, config(up.url, { bodyTimeout: 400 }))
  const c = await headOnly(url, head('POST', '/api/small', { ...bearer(hs({ sub: 'u' })), 'content-type': 'application/json', 'content-length': '20' }))
  c.socket.write('{"a":')
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.same(up.started, [], 'part of the body: no upstream request yet')
  c.socket.write('"0123456789ab"}')
  const res = await c.answer()
  t.equal(res.status, 200)
  t.same(res.body, { read: 20 }, 'the whole body, as sent (not re-encoded)')
  t.same(up.started, ['POST /small'])
  c.socket.destroy()

  const s = await headOnly(url, head('POST', '/api/stalled', { ...bearer(hs({ sub: 'u' })), 'content-length': '20' }))
  s.socket.write('0123')
  const stalled = await s.answer()
  t.equal(stalled.status, 408)
  t.equal(stalled.body.code, 'FJG_ERR_BODY_TIMEOUT')
  t.same(up.started, ['POST /small'], 'the stalled body never reached the upstream')
  s.socket.destroy()
})

t.test('server.requestTimeout and bodyTimeout: validated, applied to the server', async (t) => {
  const up = await bodyUpstream(t)
  const { app } = await startGateway(t, config(up.url, { requestTimeout: 12_345 }))
  t.equal(app.server.requestTimeout, 12_345)
  const { app: def } = await startGateway(t, config(up.url))
  t.equal(def.server.requestTimeout, 300_000)
  const { gatewayConfigProblems } = await import('../src/index.js')
  t.same(gatewayConfigProblems({ server: { bodyTimeout: 0, requestTimeout: 'x' }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:1' }] }),
    ['server.bodyTimeout: must be >= 1, got 0', 'server.requestTimeout: must be an integer, got "x"'])
})
