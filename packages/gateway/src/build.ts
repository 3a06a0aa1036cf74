import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { GatewayConfigError } from './errors.js'
import { gatewayPlugin } from './plugin.js'
import { gatewayConfigProblems } from './schema.js'
import type { BuildGatewayOptions, GatewayConfig } from './types.js'

function loggerOptions (config: GatewayConfig, logger: BuildGatewayOptions['logger']): Partial<FastifyServerOptions> {
  const level = config.server?.logLevel ?? 'info'
  if (logger === true) return { logger: { level } }
  if (logger === undefined || logger === false || logger === null) return { logger: false }
  // A ready pino instance goes to Fastify 5's loggerInstance; plain options get the config's level.
  if (typeof (logger as { child?: unknown }).child === 'function') return { loggerInstance: logger as FastifyServerOptions['loggerInstance'] }
  return { logger: { level, ...logger } }
}

/** TLS versions below this are refused (nginx's default ssl_protocols drop TLSv1 and TLSv1.1 too). */
export const DEFAULT_TLS_MIN_VERSION = 'TLSv1.2'

/**
 * HTTPS, and HTTP/2 with HTTP/1.1 by ALPN (`allowHTTP1`: clients that do not
 * offer h2, and WebSocket upgrades, which are HTTP/1.1), from `server.tls` and
 * its loaded files (`https`: cert, key and ca as PEM). The listener's settings
 * come from the config, so what was validated is what listens. `server.tls`
 * with nothing loaded would listen on plain HTTP where HTTPS was meant: refused.
 */
function listenerOptions (config: GatewayConfig, https: BuildGatewayOptions['https']): Record<string, unknown> {
  const tls = config.server?.tls
  if (tls === undefined && https === undefined) return {}
  if (tls === undefined) throw new GatewayConfigError(['server.tls: is required with opts.https (it says how the listener treats client certificates)'])
  if (https === undefined) throw new GatewayConfigError(['server.tls: buildGateway needs the loaded certificate and key as opts.https (the preset\'s start and check load them)'])
  const options = {
    ...https,
    minVersion: tls.minVersion ?? DEFAULT_TLS_MIN_VERSION,
    // "optional": Node completes the handshake with any certificate, or none;
    // only one that verified (socket.authorized) counts, per route (client-cert.ts).
    ...(tls.clientAuth === undefined ? {} : { requestCert: true, rejectUnauthorized: tls.clientAuth === 'required' })
  }
  return config.server?.http2 === true ? { http2: true, https: { ...options, allowHTTP1: true } } : { https: options }
}

/**
 * A Fastify instance serving the config's routes, ready to listen (not
 * listening). A bad config throws a GatewayConfigError listing every problem
 * as `routes[1].jwt.keys[0].file: ...`, before anything is started.
 */
export async function buildGateway (config: GatewayConfig, opts: BuildGatewayOptions = {}): Promise<FastifyInstance> {
  const problems = gatewayConfigProblems(config)
  if (problems.length > 0) throw new GatewayConfigError(problems)
  const trustProxy = config.server?.trustProxy
  const app = Fastify({
    ...opts.fastify,
    ...loggerOptions(config, opts.logger),
    ...(trustProxy === undefined ? {} : { trustProxy }),
    ...listenerOptions(config, opts.https)
  } as FastifyServerOptions)
  app.register(gatewayPlugin, { ...config, ...(opts.baseDir === undefined ? {} : { baseDir: opts.baseDir }) })
  try {
    await app.ready()
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  return app
}
