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
    ...(trustProxy === undefined ? {} : { trustProxy })
  } as FastifyServerOptions)
  app.register(gatewayPlugin, {
    ...config,
    ...(opts.baseDir === undefined ? {} : { baseDir: opts.baseDir }),
    ...(opts.aggregateMetrics === undefined ? {} : { aggregateMetrics: opts.aggregateMetrics })
  })
  try {
    await app.ready()
  } catch (err) {
    await app.close().catch(() => {})
    throw err
  }
  return app
}
