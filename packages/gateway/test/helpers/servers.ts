// Real servers on loopback for the gateway tests: an echo upstream (HTTP and
// WebSocket on one port) and the gateway itself. No mocks.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { WebSocketServer } from 'ws'
import { buildGateway, type BuildGatewayOptions, type GatewayConfig } from '../../src/index.js'
import { generateKeySet, sign, type KeySet, type SignOptions, type TestKey } from '../../../jwt-auth/test/helpers/keys.js'

interface T { teardown (fn: () => unknown): void }

/** What the echo upstream saw. Header values are decoded from their bytes as UTF-8. */
export interface Seen {
  upstream: string
  method: string
  url: string
  headers: Record<string, string>
  /** Remote port of the gateway's socket: equal across requests when a connection is reused. */
  port: number
}

function seen (name: string, req: IncomingMessage): Seen {
  const headers: Record<string, string> = {}
  // Node decodes header bytes as latin1; the bytes themselves are what the gateway sent.
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = (req.rawHeaders[i] as string).toLowerCase()
    const v = Buffer.from(req.rawHeaders[i + 1] as string, 'latin1').toString('utf8')
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`
  }
  return { upstream: name, method: req.method as string, url: req.url as string, headers, port: req.socket.remotePort as number }
}

export interface Upstream {
  url: string
  server: Server
  /** Handshakes the WebSocket side accepted. */
  handshakes: Seen[]
}

/**
 * An upstream that answers every request with JSON of what it received
 * (`Seen`), and echoes WebSocket messages as `echo:<text>` after sending the
 * handshake it saw.
 */
export async function echoUpstream (t: T, name = 'up'): Promise<Upstream> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const body = JSON.stringify(seen(name, req))
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  const handshakes: Seen[] = []
  const wss = new WebSocketServer({ server })
  wss.on('connection', (socket, req) => {
    const s = seen(name, req)
    handshakes.push(s)
    socket.send(JSON.stringify(s))
    socket.on('message', (data) => socket.send(`echo:${String(data)}`))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate()
    wss.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, handshakes }
}

/** The gateway built from `config`, listening on 127.0.0.1:0. */
export async function startGateway (t: T, config: GatewayConfig, opts: BuildGatewayOptions = {}): Promise<{ app: FastifyInstance, url: string }> {
  const app = await buildGateway(config, opts)
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { app, url: `http://127.0.0.1:${port}` }
}

export interface Answer {
  status: number
  headers: Record<string, string>
  body: any
}

/** A real HTTP request (undici's fetch cannot send a `Connection` header, so node:http it is). */
export async function request (url: string, opts: { method?: string, headers?: Record<string, string> } = {}): Promise<Answer> {
  const { request: httpRequest } = await import('node:http')
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try { body = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode as number, headers: res.headers as Record<string, string>, body })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

let keySet: KeySet | undefined
/** A full key set (RSA, EC, EdDSA), made on first use: RSA generation is the slow part. */
export function keys (): KeySet {
  keySet ??= generateKeySet()
  return keySet
}

/** The HMAC secret the tests sign with (also the policy's `secret`). */
export const SECRET = randomBytes(32).toString('base64url')
const hmac: TestKey = { name: 'hmac', kid: 'hmac-1', signingKey: Buffer.from(SECRET), publicPem: null, jwk: {}, privateKey: null }

/** An HS256 token over `payload`, signed with SECRET. */
export function hs (payload: Record<string, unknown> = {}, opts: SignOptions = {}): string {
  return sign(hmac, 'HS256', payload, opts)
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/** A port nothing listens on (bound, then released): connection refused. */
export async function freePort (): Promise<number> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** A logger option that keeps every log line, parsed. */
export function collect (lines: Array<Record<string, any>>): BuildGatewayOptions['logger'] {
  return { level: 'info', stream: new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb() } }) }
}

/**
 * One request written byte for byte on a fresh socket (node:http and undici
 * normalize or refuse odd targets; an attacker's client does neither). The
 * answer is parsed just enough: status, lower-cased headers, body as JSON
 * when it is JSON.
 */
export async function rawRequest (url: string, target: string, opts: { method?: string, headers?: Record<string, string>, body?: string, timeout?: number } = {}): Promise<Answer> {
  const { connect } = await import('node:net')
  const { hostname, port } = new URL(url)
  const lines = [`${opts.method ?? 'GET'} ${target} HTTP/1.1`, `host: ${hostname}:${port}`, 'connection: close']
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`${k}: ${v}`)
  if (opts.body !== undefined) lines.push(`content-length: ${Buffer.byteLength(opts.body)}`)
  const socket = connect(Number(port), hostname)
  // write, not end: a half-closed client is a client that left (its upstream request is cancelled).
  socket.write(lines.join('\r\n') + '\r\n\r\n' + (opts.body ?? ''))
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => {
    chunks.push(c)
    // The answer is complete (the gateway may keep the socket open, whatever `connection: close` said).
    if (answerComplete(Buffer.concat(chunks).toString('latin1'), opts.method === 'HEAD')) socket.destroy()
  })
  // A server that keeps the socket open after its answer would hang the test: 5 s, then what came.
  socket.setTimeout(opts.timeout ?? 5000, () => socket.destroy())
  await new Promise<void>((resolve, reject) => { socket.on('close', () => resolve()); socket.on('error', reject) })
  return parseAnswer(Buffer.concat(chunks).toString('latin1'))
}

function answerComplete (text: string, head: boolean): boolean {
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) return false
  if (head) return true
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))
  if (m !== null) return Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(m[1])
  if (/\r\ntransfer-encoding:\s*chunked/i.test(text.slice(0, end))) return text.endsWith('0\r\n\r\n')
  return false
}

/** Status, headers and body of one HTTP/1.1 answer (chunked bodies joined). */
export function parseAnswer (text: string): Answer {
  const end = text.indexOf('\r\n\r\n')
  const head = (end === -1 ? text : text.slice(0, end)).split('\r\n')
  let rest = end === -1 ? '' : text.slice(end + 4)
  const status = Number((head[0] ?? '').split(' ')[1])
  const headers: Record<string, string> = {}
  for (const line of head.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  if (headers['transfer-encoding'] === 'chunked') {
    let out = ''
    for (;;) {
      const nl = rest.indexOf('\r\n')
      const size = parseInt(rest.slice(0, nl), 16)
      if (!(size > 0)) break
      out += rest.slice(nl + 2, nl + 2 + size)
      rest = rest.slice(nl + 2 + size + 2)
    }
    rest = out
  }
  const text8 = Buffer.from(rest, 'latin1').toString('utf8')
  let body: unknown = text8
  try { body = JSON.parse(text8) } catch {}
  return { status, headers, body }
}
