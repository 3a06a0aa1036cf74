import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { hostname } from 'node:os'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'

// Reload without dropping a request (nginx's `nginx -s reload`, done in one
// process). The preset owns the one listening http.Server; every Fastify app
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
// Seam for edge TLS (HTTPS / HTTP2 listeners): `createListener` is the one
// place the listening server is made, and `Listener.server` the object whose
// certificates a reload would renew (`setSecureContext`); see start.ts
// `reloadables`.

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
  readonly server: Server
  private current: Slot

  constructor (app: FastifyInstance) {
    this.current = slotOf(app)
    // Fastify's own server settings (it leaves a serverFactory's server alone).
    const c = app.initialConfig as { keepAliveTimeout?: number, requestTimeout?: number, connectionTimeout?: number, maxRequestsPerSocket?: number }
    this.server = createServer((req, res) => {
      const slot = this.current
      slot.inflight++
      res.once('close', slot.done)
      slot.handler(req, res)
    })
    this.server.keepAliveTimeout = c.keepAliveTimeout ?? 72_000
    this.server.requestTimeout = c.requestTimeout ?? 0
    this.server.setTimeout(c.connectionTimeout ?? 0)
    if ((c.maxRequestsPerSocket ?? 0) > 0) this.server.maxRequestsPerSocket = c.maxRequestsPerSocket as number
    for (const event of APP_EVENTS) {
      this.server.on(event, (...args: unknown[]) => {
        const target = this.current.app.server
        for (const l of target.listeners(event)) (l as (...a: unknown[]) => void).apply(target, args)
      })
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
   * that turn idle are closed as they do), then closes the app.
   */
  async close (sweepInterval: number): Promise<void> {
    const sweep = setInterval(() => this.server.closeIdleConnections(), sweepInterval)
    try {
      if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()))
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

/** One pino-shaped line on stdout; a stdout whose reader has gone is ignored (see start.ts). */
export function writeLine (level: number, msg: string, extra: Record<string, unknown> = {}): void {
  try {
    process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: hostname(), ...extra, msg }) + '\n')
  } catch {}
}
