import { createServer } from 'node:net'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { FJG_ERR_CONFIG_INVALID, FJG_ERR_LISTEN, UserError } from './errors.js'
import { buildGateway, type BuildGatewayOptions, type GatewayConfig } from './gateway.js'
import { loggerOptions } from './logging.js'
import { certificateWarnings, loadTls, type LoadedTls } from './tls.js'

export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_PORT = 8080

/** Option mistakes found while building (key files, revocation files, routes): user errors, not crashes. */
export function isConfigError (err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' && (code.startsWith('FJG_ERR_') || code.startsWith('FST_ERR_'))
}

export interface BuildServerOptions {
  /** Folder relative file paths resolve against. */
  baseDir?: string
  /** Label for messages: the config file, or "demo". */
  source?: string
  /** false: no logs (check). Default: pino at the config's level. */
  logger?: boolean
  /** Extra Fastify options (the preset's reloadable listener passes a serverFactory). */
  fastify?: FastifyServerOptions
  /** In a cluster worker: metrics scrapes answer with every worker's figures. */
  aggregateMetrics?: BuildGatewayOptions['aggregateMetrics']
  /** `server.tls` already read and checked (start reads it once for the app and its Listener). */
  tls?: LoadedTls
}

/**
 * Builds the gateway from a validated config, with the redacting logger. Not
 * listening. The gateway serves the health route (server.healthPath) itself.
 * A problem in key or revocation files is a UserError.
 */
export async function buildServer (config: GatewayConfig, opts: BuildServerOptions = {}): Promise<FastifyInstance> {
  let app: FastifyInstance
  // server.tls files, read and checked first (relative to the config's folder): a bad pair is a UserError.
  const tls = config.server?.tls === undefined ? null : opts.tls ?? loadTls(config.server.tls, opts.baseDir ?? process.cwd(), opts.source)
  try {
    app = await buildGateway(config, {
      ...(opts.baseDir === undefined ? {} : { baseDir: opts.baseDir }),
      ...(opts.fastify === undefined ? {} : { fastify: opts.fastify }),
      ...(opts.aggregateMetrics === undefined ? {} : { aggregateMetrics: opts.aggregateMetrics }),
      ...(tls === null ? {} : { https: tls.https }),
      logger: opts.logger === false ? false : loggerOptions(config)
    })
  } catch (err) {
    if (!isConfigError(err)) throw err
    // The gateway's and jwt-auth's option errors list their problems, one `path: message` each.
    const listed = (err as { problems?: unknown }).problems
    const problems = Array.isArray(listed) ? listed.map(String) : [(err as Error).message]
    throw new FJG_ERR_CONFIG_INVALID(`${opts.source ?? 'config'}: invalid configuration`, problems)
  }
  if (tls !== null) for (const w of certificateWarnings(tls.certificate)) app.log.warn(`tls: ${w}`)
  return app
}

/** The host part of a URL to reach `host` (a wildcard address becomes loopback). */
export function hostOf (host: string): string {
  return host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host
}

/** `http://host:port` (or https) as a client would type it. */
export function urlOf (host: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${hostOf(host)}:${port}`
}

export function listenProblem (err: unknown, host: string, port: number): UserError | null {
  const code = (err as NodeJS.ErrnoException).code
  const why = code === 'EADDRINUSE'
    ? 'the address is already in use'
    : code === 'EACCES'
      ? 'permission denied (ports below 1024 need privileges)'
      : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
        ? 'no such local address'
        : null
  return why === null ? null : new FJG_ERR_LISTEN(`cannot listen on ${host}:${port}: ${why}`)
}

/**
 * Binds and releases host:port, so a cluster primary reports a taken port once
 * instead of every worker failing with it. (A race with another process stays
 * possible; the workers then report it.)
 */
export function assertCanListen (host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (err) => reject(listenProblem(err, host, port) ?? err))
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()))
  })
}

/** Listens; logs one line with the address. Address errors become UserErrors. */
export async function listen (app: FastifyInstance, host: string, port: number, scheme: 'http' | 'https' = 'http'): Promise<{ url: string, port: number }> {
  try {
    await app.listen({ host, port, listenTextResolver: (address) => `fastify-jwt-gateway listening on ${address}` })
  } catch (err) {
    throw listenProblem(err, host, port) ?? err
  }
  const address = app.server.address()
  const actual = typeof address === 'object' && address !== null ? address.port : port
  return { url: urlOf(host, actual, scheme), port: actual }
}
