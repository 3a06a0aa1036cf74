import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { writeSync } from 'node:fs'
import { hostname } from 'node:os'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { ListenerOptions } from './gateway.js'

// Reload without dropping a request (nginx's `nginx -s reload`, done in one
// process). The preset owns the one listening server; every Fastify app
// (the first, and each one a reload builds) is built on a detached server that
// never listens (`serverFactory`). The listening server hands each event to
// the app of the moment, so a swap is one assignment:
//
// - new connections, and the next request of a keep-alive connection, go to
//   the new app (a keep-alive connection is not closed by a reload: its next
//   request simply meets the new config);
// - requests in flight finish on the app that took them; that app is closed
//   once its last request is done (or the grace delay has run out);
// - the listening socket is never closed, so no connection is refused.
//
// Edge TLS (server.tls, server.http2): the listening server is of the kind
// the gateway's `listenerOptions` says (http, https, or HTTP/2 with
// allowHTTP1), made here from those options. The detached app only needs the
// requests: Fastify tells an HTTP/2 compat request by `httpVersionMajor`, and
// `request.raw.socket` is the TLS socket of the listening server, so client
// certificates and `request.protocol` read the real connection. A reload
// renews the certificate with `setSecureContext` on `Listener.server` (start.ts).

/** The listening server: plain HTTP, HTTPS, or HTTP/2 over TLS with HTTP/1.1 by ALPN. */
export type ListeningServer = Server | HttpsServer | Http2SecureServer

/** Events of the listening server that belong to the application. */
const APP_EVENTS = ['upgrade', 'clientError', 'checkContinue', 'checkExpectation', 'connect'] as const

interface Slot {
  readonly app: FastifyInstance
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  inflight: number
  /** Resolves the drain wait once inflight is 0. */
  idle: (() => void) | null
  readonly done: () => void
}

/** Fastify option: build the app on a server that is never listened on (the Listener serves it). */
export function detachedServerFactory (): Pick<FastifyServerOptions, 'serverFactory'> {
  return { serverFactory: (handler) => createServer(handler as (req: IncomingMessage, res: ServerResponse) => void) }
}

function slotOf (app: FastifyInstance): Slot {
  const handler = app.server.listeners('request')[0] as Slot['handler'] | undefined
  if (handler === undefined) throw new Error('the app has no request handler: build it with detachedServerFactory()')
  const slot: Slot = {
    app,
    handler,
    inflight: 0,
    idle: null,
    done: () => {
      if (--slot.inflight === 0 && slot.idle !== null) slot.idle()
    }
  }
  return slot
}

export class Listener {
  readonly server: ListeningServer
  /** The kind of `server`, from the options it was made with. */
  readonly kind: 'http' | 'https' | 'http2'
  private current: Slot
  /** Open HTTP/2 sessions: closed (GOAWAY, open streams finish) when the listener closes. */
  private readonly sessions = new Set<Http2Session>()
  /** The listening server's forwarder of each APP_EVENTS event the current app listens to. */
  private readonly forwarders = new Map<string, (...args: unknown[]) => void>()

  /** `options`: the gateway's listenerOptions for the config (`{}`: plain HTTP). */
  constructor (app: FastifyInstance, options: ListenerOptions = {}) {
    this.current = slotOf(app)
    // Fastify's own server settings (it leaves a serverFactory's server alone).
    const c = app.initialConfig as { keepAliveTimeout?: number, requestTimeout?: number, connectionTimeout?: number, maxRequestsPerSocket?: number, http2SessionTimeout?: number }
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const slot = this.current
      slot.inflight++
      res.once('close', slot.done)
      slot.handler(req, res)
    }
    if (options.https !== undefined && options.http2 === true) {
      // As Fastify makes its own HTTP/2 server (lib/server.js): a session idle this long is closed.
      const server = createSecureServer(options.https, onRequest as unknown as Parameters<typeof createSecureServer>[1])
      const timeout = c.http2SessionTimeout ?? 72_000
      server.on('session', (session: Http2Session) => {
        this.sessions.add(session)
        session.once('close', () => this.sessions.delete(session))
        session.setTimeout(timeout, () => session.close())
      })
      server.setTimeout(c.connectionTimeout ?? 0)
      // HTTP/1.1 connections taken by ALPN fallback are served by Node's http
      // code, which reads these from the server: the same limits as on HTTP/1.
      const h1 = server as unknown as { keepAliveTimeout: number, requestTimeout: number }
      h1.keepAliveTimeout = c.keepAliveTimeout ?? 72_000
      if ((c.requestTimeout ?? 0) > 0) h1.requestTimeout = c.requestTimeout as number
      this.server = server
      this.kind = 'http2'
    } else {
      const server = options.https === undefined ? createServer(onRequest) : createHttpsServer(options.https, onRequest)
      server.keepAliveTimeout = c.keepAliveTimeout ?? 72_000
      server.requestTimeout = c.requestTimeout ?? 0
      server.setTimeout(c.connectionTimeout ?? 0)
      if ((c.maxRequestsPerSocket ?? 0) > 0) server.maxRequestsPerSocket = c.maxRequestsPerSocket as number
      this.server = server
      this.kind = options.https === undefined ? 'http' : 'https'
    }
    this.bind()
  }

  /**
   * Forwards to the current app only the events it listens to. Node's
   * default for an event nobody listens to must stay: `Expect: 100-continue`
   * is answered 100 and becomes a request (curl sends it for bodies over
   * 1 KiB), another expectation is answered 417, an `Upgrade` request to an
   * app without WebSocket routes is an ordinary request, a CONNECT closes the
   * socket. A forwarder that always listened would leave all of those
   * hanging. Called at each swap: the new app's events decide.
   */
  private bind (): void {
    const target = this.current.app.server
    for (const event of APP_EVENTS) {
      const wanted = target.listenerCount(event) > 0
      const bound = this.forwarders.get(event)
      if (wanted && bound === undefined) {
        const forward = (...args: unknown[]): void => {
          const app = this.current.app.server
          for (const l of app.listeners(event)) (l as (...a: unknown[]) => void).apply(app, args)
        }
        this.forwarders.set(event, forward)
        this.server.on(event, forward)
      } else if (!wanted && bound !== undefined) {
        this.server.removeListener(event, bound)
        this.forwarders.delete(event)
      }
    }
  }

  get app (): FastifyInstance {
    return this.current.app
  }

  /** Listens on host:port; resolves with the real port. */
  listen (host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err)
      this.server.once('error', onError)
      this.server.listen({ host, port }, () => {
        this.server.removeListener('error', onError)
        const address = this.server.address()
        resolve(typeof address === 'object' && address !== null ? address.port : port)
      })
    })
  }

  /**
   * From now on `app` serves every new request; resolves with the previous app
   * once its requests in flight are done (at most `graceDelay` ms). Closing it
   * is the caller's business.
   */
  async swap (app: FastifyInstance, graceDelay: number): Promise<FastifyInstance> {
    const old = this.current
    this.current = slotOf(app)
    this.bind()
    if (old.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceDelay)
        timer.unref()
        old.idle = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return old.app
  }

  /**
   * Stops accepting, lets requests in flight finish (keep-alive connections
   * that turn idle are closed as they do), then closes the app. `onStopped`
   * runs once no new connection can reach this process (a cluster worker tells
   * its primary, cluster.ts); the close waits for what it returns.
   */
  async close (sweepInterval: number, onStopped?: () => void | Promise<void>): Promise<void> {
    // HTTP/1.1 connections (also those an HTTP/2 server took by ALPN fallback:
    // Node 20 tracks them once it listens) that turn idle are closed as they do.
    // A connection that has not sent its first request yet is not idle to Node.
    const server = this.server as { closeIdleConnections?: () => void }
    const sweep = setInterval(() => server.closeIdleConnections?.(), sweepInterval)
    try {
      // HTTP/2: GOAWAY to every session; the streams already open finish first.
      for (const session of this.sessions) session.close()
      const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : undefined
      await Promise.all([closed, onStopped?.()])
      await this.current.app.close()
    } finally {
      clearInterval(sweep)
    }
  }
}

/**
 * The listening line, written straight to stdout in pino's shape: operators
 * (and scripts waiting for it) see it whatever `logLevel` says.
 */
export function announce (url: string, extra: Record<string, unknown> = {}): void {
  writeLine(30, `fastify-jwt-gateway listening on ${url}`, extra)
}

/**
 * One pino-shaped line on stdout. Written synchronously, so a reader that has
 * gone is known at once: false on EPIPE (the line is dropped; see start.ts
 * guardExitFlush, which must know before the process exits). A full
 * non-blocking pipe (EAGAIN) or a partial write hands the rest to
 * process.stdout, which queues it. A line is shorter than PIPE_BUF, so a pipe
 * takes it whole or not at all.
 */
export function writeLine (level: number, msg: string, extra: Record<string, unknown> = {}): boolean {
  const line = Buffer.from(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: hostname(), ...extra, msg }) + '\n')
  let written = 0
  try {
    written = writeSync(1, line)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return false
  }
  if (written < line.length) {
    try { process.stdout.write(line.subarray(written)) } catch {}
  }
  return true
}
