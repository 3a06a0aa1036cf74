import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import { FJG_ERR_PATH_NOT_CANONICAL, GatewayConfigError, sendAnswer } from './errors.js'
import { normalizeTarget } from './paths.js'
import { gatewayPlugin } from './plugin.js'
import { DEFAULT_REQUEST_TIMEOUT, gatewayConfigProblems } from './schema.js'
import type { SecureServerOptions } from 'node:http2'
import type { BuildGatewayOptions, GatewayConfig } from './types.js'
import { validatedOptions, wasChecked } from './validated.js'

function loggerOptions (config: GatewayConfig, logger: BuildGatewayOptions['logger']): Partial<FastifyServerOptions> {
  const level = config.server?.logLevel ?? 'info'
  if (logger === true) return { logger: { level } }
  if (logger === undefined || logger === false || logger === null) return { logger: false }
  // A ready pino instance goes to Fastify 5's loggerInstance; plain options get the config's level.
  if (typeof (logger as { child?: unknown }).child === 'function') return { loggerInstance: logger as FastifyServerOptions['loggerInstance'] }
  return { logger: { level, ...logger } }
}

// The router refuses escapes that do not decode (`%c0%ae`) before any hook: answered as the path guard answers.
function badUrl (err: Error & { code?: string }, _req: unknown, reply: FastifyReply): void {
  if (err.code !== 'FST_ERR_BAD_URL') {
    reply.send(err)
    return
  }
  sendAnswer(reply, FJG_ERR_PATH_NOT_CANONICAL)
}

/** TLS versions below this are refused (nginx's default ssl_protocols drop TLSv1 and TLSv1.1 too). */
export const DEFAULT_TLS_MIN_VERSION = 'TLSv1.2'

/** What listens: see listenerOptions. */
export interface ListenerOptions {
  http2?: true
  https?: SecureServerOptions
}

/**
 * HTTPS, and HTTP/2 with HTTP/1.1 by ALPN (`allowHTTP1`: clients that do not
 * offer h2, and WebSocket upgrades, which are HTTP/1.1), from `server.tls` and
 * its loaded files (`https`: cert, key and ca as PEM). The listener's settings
 * come from the config, so what was validated is what listens. `server.tls`
 * with nothing loaded would listen on plain HTTP where HTTPS was meant: refused.
 * Exported for a host that owns the listening server itself (the preset's
 * reload Listener): `{}` is plain HTTP, `{ https }` HTTPS, `{ http2: true,
 * https }` HTTP/2 with `allowHTTP1` in `https`.
 */
export function listenerOptions (config: GatewayConfig, https: BuildGatewayOptions['https']): ListenerOptions {
  const tls = config.server?.tls
  if (tls === undefined && https === undefined) return {}
  if (tls === undefined) throw new GatewayConfigError(['server.tls: is required with opts.https (it says how the listener treats client certificates)'])
  if (https === undefined) throw new GatewayConfigError(['server.tls: buildGateway needs the loaded certificate and key as opts.https (the preset\'s start and check load them)'])
  const options: SecureServerOptions = {
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
  // A config checkGatewayConfig accepted and that has not changed since is not checked again.
  const problems = wasChecked(config) ? [] : gatewayConfigProblems(config)
  if (problems.length > 0) throw new GatewayConfigError(problems)
  const server = config.server ?? {}
  const trustProxy = server.trustProxy
  const app = Fastify({
    ...opts.fastify,
    ...loggerOptions(config, opts.logger),
    ...(trustProxy === undefined ? {} : { trustProxy }),
    // The whole request (headers and body) within this, as nginx's client_header/body timeouts bound it.
    requestTimeout: server.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
    // Routes are chosen on the case-folded path unless caseSensitive (paths.ts);
    // the router folds too, so `/API/x` reaches `/api`'s route and policy.
    routerOptions: { ...opts.fastify?.routerOptions, caseSensitive: server.caseSensitive === true },
    // normalizePath: the router and the proxy see the normalized target (the
    // one the policy is chosen on); a target that cannot be normalized is left
    // as is and refused by the route's path guard.
    frameworkErrors: opts.fastify?.frameworkErrors ?? badUrl,
    ...(server.normalizePath === true ? { rewriteUrl: (req: { url?: string }) => normalizeTarget(req.url ?? '') ?? req.url ?? '' } : {}),
    ...listenerOptions(config, opts.https)
  } as FastifyServerOptions)
  // The plugin gets what was checked above and does not check it again (validated.ts).
  app.register(gatewayPlugin, validatedOptions(config, {
    ...(opts.baseDir === undefined ? {} : { baseDir: opts.baseDir }),
    ...(opts.aggregateMetrics === undefined ? {} : { aggregateMetrics: opts.aggregateMetrics })
  }))
  try {
    await app.ready()
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  return app
}
