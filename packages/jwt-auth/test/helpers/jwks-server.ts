// A real HTTP server on 127.0.0.1:0 for key-set tests and fault injection:
// every path is a `Route` whose answer (JSON document, status, delay, headers,
// raw body, fault) can be changed while the server runs, and which counts the
// requests it got. No mocks: the code under test talks HTTP to it.
//
//   const srv = await jwksServer(t, { '/jwks.json': { json: { keys: [jwk] } } })
//   srv.url('/jwks.json')            // http://127.0.0.1:<port>/jwks.json
//   srv.route('/jwks.json').status = 500
//   srv.route('/jwks.json').fault = 'hang'
//   srv.route('/jwks.json').hits     // requests so far
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Fault =
  /** Accept the request, never answer (until the server closes). */
  | 'hang'
  /** Destroy the socket without an answer (ECONNRESET / "other side closed"). */
  | 'reset'
  /** 200 with a JSON-looking body of `hugeSize` bytes, streamed. */
  | 'huge'
  /** 200 with an HTML page: not JSON. */
  | 'non-json'
  /** 200 with a body cut in the middle of the JSON. */
  | 'truncated'

export interface Route {
  /** JSON document served (JWKS, keyval, discovery...). */
  json: unknown
  /** Raw body; when not null it is sent instead of `json`. */
  body: string | Buffer | null
  status: number
  /** Milliseconds to wait before answering. */
  delay: number
  /** Extra response headers, e.g. `{ 'cache-control': 'max-age=60' }`. */
  headers: Record<string, string>
  fault: Fault | null
  /** Size of the 'huge' body. */
  hugeSize: number
  /** Requests received on this path. */
  hits: number
  /** ms since epoch of each request. */
  times: number[]
}

export interface JwksServer {
  readonly server: Server
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  /** Absolute URL of a path on this server. */
  url (path?: string): string
  /** The route of a path, created (404 until given a document) if new. */
  route (path: string): Route
  /** Requests on every path, unknown ones included. */
  readonly total: number
  /** Resets every route's counters. */
  resetCounts (): void
  close (): Promise<void>
}

function newRoute (init: Partial<Route> = {}): Route {
  return {
    json: undefined,
    body: null,
    status: 200,
    delay: 0,
    headers: {},
    fault: null,
    hugeSize: 1024 * 1024,
    hits: 0,
    times: [],
    ...init
  }
}

/** Starts a server; close it yourself (or use `jwksServer(t, ...)`). */
export async function createJwksServer (routes: Record<string, Partial<Route>> = {}): Promise<JwksServer> {
  const table = new Map<string, Route>()
  for (const [path, init] of Object.entries(routes)) table.set(path, newRoute(init))
  let total = 0
  const pending = new Set<NodeJS.Timeout>()

  function answer (route: Route, req: IncomingMessage, res: ServerResponse): void {
    switch (route.fault) {
      case 'hang':
        return
      case 'reset':
        req.socket.destroy()
        return
      case 'non-json':
        res.writeHead(200, { 'content-type': 'text/html', ...route.headers })
        res.end('<html><body>502 Bad Gateway</body></html>')
        return
      case 'truncated': {
        const text = JSON.stringify(route.json ?? { keys: [] })
        res.writeHead(200, { 'content-type': 'application/json', ...route.headers })
        res.end(text.slice(0, Math.max(1, Math.floor(text.length / 2))))
        return
      }
      case 'huge': {
        // No content-length: the client must count bytes itself to stop.
        res.writeHead(200, { 'content-type': 'application/json', ...route.headers })
        const chunk = Buffer.alloc(16 * 1024, 0x20)
        let left = route.hugeSize
        res.write('{"keys":[')
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, chunk.length)
            left -= n
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump)
              return
            }
          }
          res.end(']}')
        }
        res.on('error', () => {})
        pump()
        return
      }
    }
    if (route.body === null && route.json === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end('{"error":"not found"}')
      return
    }
    const body = route.body ?? JSON.stringify(route.json)
    res.writeHead(route.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...route.headers })
    res.end(body)
  }

  const server = createServer((req, res) => {
    total++
    const path = (req.url ?? '/').split('?')[0] as string
    const route = table.get(path)
    if (route === undefined) {
      res.writeHead(404).end()
      return
    }
    route.hits++
    route.times.push(Date.now())
    if (route.delay > 0 && route.fault !== 'hang') {
      const timer = setTimeout(() => {
        pending.delete(timer)
        if (!res.destroyed) answer(route, req, res)
      }, route.delay)
      pending.add(timer)
    } else {
      answer(route, req, res)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const origin = `http://127.0.0.1:${port}`

  return {
    server,
    port,
    origin,
    url: (path = '/') => origin + path,
    route (path) {
      let r = table.get(path)
      if (r === undefined) table.set(path, (r = newRoute()))
      return r
    },
    get total () { return total },
    resetCounts () {
      total = 0
      for (const r of table.values()) {
        r.hits = 0
        r.times = []
      }
    },
    close () {
      for (const timer of pending) clearTimeout(timer)
      pending.clear()
      return new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Hanging and keep-alive sockets would hold close() forever.
        server.closeAllConnections()
      })
    }
  }
}

interface T { teardown (fn: () => unknown): void }

/** Starts a server and closes it when the test ends. */
export async function jwksServer (t: T, routes: Record<string, Partial<Route>> = {}): Promise<JwksServer> {
  const srv = await createJwksServer(routes)
  t.teardown(() => srv.close())
  return srv
}

/** Resolves once `check()` is true, polling every `every` ms; rejects after `within` ms. */
export async function until (check: () => boolean, within = 3000, every = 10): Promise<number> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > within) throw new Error(`condition not met within ${within} ms`)
    await new Promise((resolve) => setTimeout(resolve, every))
  }
  return Date.now() - start
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
