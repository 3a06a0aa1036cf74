import cluster from 'node:cluster'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { runPrimary, SHUTDOWN_MESSAGE, workerCount } from './cluster.js'
import { DEFAULT_CONFIG_FILE, loadConfig, type LoadedConfig } from './config.js'
import { demoBanner, prepareDemo, type Demo } from './demo.js'
import { FJG_ERR_CLI_USAGE, UserError } from './errors.js'
import type { GatewayConfig } from './gateway.js'
import { assertCanListen, buildServer, DEFAULT_HOST, DEFAULT_PORT, hostOf, listen, listenProblem, urlOf } from './server.js'
import { startRedirect } from './tls.js'

/** Milliseconds requests in flight get to finish after SIGTERM/SIGINT. */
export const DEFAULT_GRACE_DELAY = 10_000
/** Milliseconds between sweeps of connections that turned idle during a shutdown. */
const CLOSE_SWEEP_INTERVAL = 50

export interface StartOptions {
  /** Config file; default ./gateway.json when it exists, else the demo. */
  config?: string
  /** An already loaded config (skips reading `config`). */
  loaded?: LoadedConfig
  /** Folder where ./gateway.json is looked for; default process.cwd(). */
  cwd?: string
  host?: string
  port?: number
  env?: NodeJS.ProcessEnv
  /** Where the demo prints its curl lines; default stdout. */
  out?: { write (text: string): unknown }
}

export interface RunningGateway {
  app: FastifyInstance
  /** `http://host:port`, with the real port. */
  url: string
  port: number
  /** The port of the server.redirectHttp listener, null without one. */
  redirectPort: number | null
  config: GatewayConfig
  /** The config file, or 'demo'. */
  source: string
  demo: Demo | null
  /** Stops listening, lets requests in flight finish, stops the demo upstream. */
  close (): Promise<void>
}

/** The config file `start` uses: --config, else ./gateway.json if present, else null (demo). */
export function resolveConfigFile (config: string | undefined, cwd = process.cwd()): string | null {
  if (config !== undefined) return config
  const local = resolve(cwd, DEFAULT_CONFIG_FILE)
  return existsSync(local) ? local : null
}

/** Loads, builds and listens; returns the running gateway (signals are the caller's business). */
export async function start (opts: StartOptions = {}): Promise<RunningGateway> {
  const file = opts.loaded?.file ?? resolveConfigFile(opts.config, opts.cwd)
  let loaded: LoadedConfig | null = opts.loaded ?? null
  let demo: Demo | null = null
  if (loaded === null && file !== null) loaded = loadConfig(file, opts.env)
  const base = loaded?.config.server ?? {}
  const host = opts.host ?? base.host ?? DEFAULT_HOST
  const port = opts.port ?? base.port ?? DEFAULT_PORT
  let config: GatewayConfig
  if (loaded === null) {
    demo = await prepareDemo(host, port)
    config = demo.config
  } else {
    config = { ...loaded.config, server: { ...base, host, port } }
  }

  const stopDemo = async (): Promise<void> => { await demo?.upstream.close() }
  let app: FastifyInstance
  try {
    app = await buildServer(config, { source: file ?? 'demo', ...(loaded === null ? {} : { baseDir: loaded.baseDir }) })
  } catch (err) {
    await stopDemo()
    throw err
  }
  const close = async (): Promise<void> => {
    // Fastify closes the connections that are idle when close starts; a keep-alive
    // connection whose request was in flight turns idle later and would hold
    // server.close() open until the client lets go. Sweep those while closing
    // (only then: nothing is added to the hot path).
    // An HTTP/2 server has no closeIdleConnections (Fastify closes its sessions).
    const server = app.server as { closeIdleConnections?: () => void }
    const sweep = setInterval(() => server.closeIdleConnections?.(), CLOSE_SWEEP_INTERVAL)
    try {
      await Promise.all([app.close(), redirect?.close()])
    } finally {
      clearInterval(sweep)
      await stopDemo()
    }
  }
  let redirect: { port: number, close (): Promise<void> } | undefined
  let where: { url: string, port: number }
  try {
    where = await listen(app, host, port, config.server?.tls === undefined ? 'http' : 'https')
    // server.redirectHttp: the plain listener that sends clients to the TLS one (tls.ts).
    const redirectPort = config.server?.redirectHttp?.port
    if (redirectPort !== undefined) {
      redirect = await startRedirect(host, redirectPort, where.port, hostOf(host), app.log)
        .catch((err: unknown) => { throw listenProblem(err, host, redirectPort) ?? err })
    }
  } catch (err) {
    await close()
    throw err
  }
  if (demo !== null) (opts.out ?? process.stdout).write(demoBanner(where.url, demo))
  return { app, url: where.url, port: where.port, redirectPort: redirect?.port ?? null, config, source: file ?? 'demo', demo, close }
}

/**
 * SIGTERM/SIGINT (and fatal errors) close the gateway through close-with-grace:
 * requests in flight finish, then the process exits 0. In a cluster worker the
 * primary relays the signal as a message, so a Ctrl-C that reaches both does
 * not count as a "second signal" (which close-with-grace answers with exit 1).
 */
export function handleSignals (running: RunningGateway, graceDelay = DEFAULT_GRACE_DELAY): void {
  const log = running.app.log
  const worker = cluster.isWorker
  const grace = closeWithGrace({
    delay: graceDelay,
    logger: { error: (msg: unknown) => log.error(msg) },
    ...(worker ? { skip: ['SIGINT', 'SIGTERM'] } : {})
  }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'fatal error: closing')
    else log.info(`${signal ?? 'shutdown'} received: closing, requests in flight finish first`)
    await running.close()
    log.info('closed')
  })
  if (worker) {
    let closing = false
    const once = (): void => {
      // closeWithGrace.closing: it is already closing on a signal of its own (SIGHUP...).
      if (closing || (closeWithGrace as unknown as { closing: boolean }).closing) return
      closing = true
      grace.close()
    }
    process.on('SIGINT', once)
    process.on('SIGTERM', once)
    process.on('message', (m) => { if (m === SHUTDOWN_MESSAGE) once() })
    // The primary is gone: nobody would replace or stop this worker.
    process.on('disconnect', once)
  }
}

function parsePort (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65535) throw new UserError(FJG_ERR_CLI_USAGE, `--port must be a port number from 0 to 65535, got '${value}'`)
  return n
}

/** `start`: one process, or a cluster primary when server.workers > 1. Resolves only when done. */
export async function startCommand (values: { config?: string, host?: string, port?: string }): Promise<number | undefined> {
  const port = parsePort(values.port)
  const file = resolveConfigFile(values.config)
  const loaded = file === null ? undefined : loadConfig(file)
  const workers = workerCount(loaded?.config.server?.workers)
  if (cluster.isPrimary && loaded !== undefined && workers > 1) {
    // Check everything once here, so a bad key file is reported once, not by every worker.
    const probe = await buildServer(loaded.config, { logger: false, baseDir: loaded.baseDir, source: loaded.file })
    await probe.close()
    const host = values.host ?? loaded.config.server?.host ?? DEFAULT_HOST
    const listenPort = port ?? loaded.config.server?.port ?? DEFAULT_PORT
    if (listenPort !== 0) await assertCanListen(host, listenPort)
    return runPrimary({
      workers,
      graceDelay: DEFAULT_GRACE_DELAY,
      describe: (address) => `fastify-jwt-gateway listening on ${urlOf(host, address.port, loaded.config.server?.tls === undefined ? 'http' : 'https')} (${workers} workers)`
    })
  }
  const running = await start({
    ...(loaded === undefined ? {} : { loaded }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(port === undefined ? {} : { port })
  })
  handleSignals(running)
  return undefined
}
