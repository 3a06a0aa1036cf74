import cluster from 'node:cluster'
import { existsSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { resolve } from 'node:path'
import type { Server as TlsServer } from 'node:tls'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { configFromPrimary, runPrimary, SHUTDOWN_MESSAGE, stoppedAccepting, workerCount, workerMetrics } from './cluster.js'
import { DEFAULT_CONFIG_FILE, loadConfig, type LoadedConfig } from './config.js'
import { demoBanner, prepareDemo, type Demo } from './demo.js'
import { FJG_ERR_CLI_USAGE, FJG_ERR_CONFIG_INVALID, UserError } from './errors.js'
import { listenerOptions, type GatewayConfig } from './gateway.js'
import { announce, detachedServerFactory, Listener, writeLine, type ListeningServer } from './listener.js'
import { DEFAULT_LOG_LEVEL } from './logging.js'
import { writePidFile } from './pid-file.js'
import { assertCanListen, buildServer, DEFAULT_HOST, DEFAULT_PORT, hostOf, listenProblem, urlOf, type BuildServerOptions } from './server.js'
import { applyTls, listenerChanges, loadTls, startRedirect, type LoadedTls } from './tls.js'

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
  /** Milliseconds requests in flight get to finish (on close, and on the old config after a reload). */
  graceDelay?: number
  /** false: `reload()` is refused (a cluster worker: the primary reloads by replacing workers). */
  reloadable?: boolean
  /** Written once listening, before the listening line (a script that waits for the line finds the file). */
  pidFile?: string
  /** In a cluster worker: metrics scrapes answer with every worker's figures. */
  aggregateMetrics?: BuildServerOptions['aggregateMetrics']
  /** On close, once no new connection can reach this process (a cluster worker tells its primary). */
  onStopAccepting?: () => void | Promise<void>
}

/** What a reload did: `ok` false when the new config was refused (the running one stays). */
export interface ReloadResult {
  ok: boolean
  /** Every problem of a refused config, `path: message` each. */
  problems: string[]
  /** What `check` reports as warnings (unreachable key endpoints...): logged, not fatal. */
  warnings: string[]
}

/**
 * Run after each successful reload, with the config now served: the seam for
 * what lives outside the Fastify app (the listener's TLS certificates, when
 * edge TLS is configured). A reloadable that throws is logged; the new config
 * stays.
 */
export type Reloadable = (next: GatewayConfig, loaded: LoadedConfig) => Promise<void> | void

export interface RunningGateway {
  /** The app serving new requests (a reload replaces it). */
  readonly app: FastifyInstance
  /** The one listening server, for the whole life of the process (HTTPS or HTTP/2 with server.tls). */
  readonly server: ListeningServer
  /** `http://host:port` (`https://` with server.tls), with the real port. */
  url: string
  port: number
  /** The port of the server.redirectHttp listener, null without one. */
  redirectPort: number | null
  /** The config being served (a reload replaces it). */
  readonly config: GatewayConfig
  /** The config file, or 'demo'. */
  source: string
  demo: Demo | null
  /** Re-reads the config file, checks it as `check` does, and swaps it in; never rejects. */
  reload (): Promise<ReloadResult>
  /** See Reloadable. */
  readonly reloadables: Reloadable[]
  /** Stops listening, lets requests in flight finish, stops the demo upstream. */
  close (): Promise<void>
}

/** The config file `start` uses: --config, else ./gateway.json if present, else null (demo). */
export function resolveConfigFile (config: string | undefined, cwd = process.cwd()): string | null {
  if (config !== undefined) return config
  const local = resolve(cwd, DEFAULT_CONFIG_FILE)
  return existsSync(local) ? local : null
}

/** Remote key sources a config names (`jwks url`, `issuer url`...), each once, without query or credentials. */
export function remoteKeySources (config: GatewayConfig): string[] {
  const out = new Set<string>()
  const visit = (policy: unknown): void => {
    const keys = (policy as { keys?: unknown } | null | undefined)?.keys
    if (!Array.isArray(keys)) return
    for (const k of keys as Array<Record<string, unknown>>) {
      for (const kind of ['jwks', 'keyval', 'issuer']) {
        const url = k?.[kind]
        if (typeof url !== 'string') continue
        try {
          const u = new URL(url)
          out.add(`${kind} ${u.origin}${u.pathname}`)
        } catch {
          out.add(`${kind} (invalid URL)`)
        }
      }
    }
  }
  visit(config.jwt)
  for (const r of config.routes) visit(r.jwt)
  return [...out]
}

interface StatusLike { source: string, lastError: string | null }

/** What `check` reports as warnings: key sources that could not be loaded. */
export function keyWarnings (app: FastifyInstance): string[] {
  const status = (app as unknown as { jwtAuth?: { keyStatus (): StatusLike[] } }).jwtAuth?.keyStatus() ?? []
  return status.filter((s) => s.lastError !== null).map((s) => `${s.source}: ${s.lastError}`)
}

function problemsOf (err: unknown): string[] {
  if (err instanceof UserError) return err.problems.length > 0 ? [...err.problems] : [err.message]
  return [(err as Error)?.message ?? String(err)]
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

/** Loads, builds and listens; returns the running gateway (signals are the caller's business). */
export async function start (opts: StartOptions = {}): Promise<RunningGateway> {
  const file = opts.loaded?.file ?? resolveConfigFile(opts.config, opts.cwd)
  let loaded: LoadedConfig | null = opts.loaded ?? null
  let demo: Demo | null = null
  if (loaded === null && file !== null) loaded = loadConfig(file, opts.env)
  const base = loaded?.config.server ?? {}
  const host = opts.host ?? base.host ?? DEFAULT_HOST
  const port = opts.port ?? base.port ?? DEFAULT_PORT
  const graceDelay = opts.graceDelay ?? DEFAULT_GRACE_DELAY
  // The address listened on (--host/--port over the file's) is the preset's
  // business: the config goes to the gateway as loadConfig checked it, with no
  // second check. What the check saw only with that address, here.
  const checkedForAddress = (c: GatewayConfig): GatewayConfig => {
    const redirectPort = c.server?.redirectHttp?.port
    if (redirectPort !== undefined && redirectPort !== 0 && redirectPort === port) {
      throw new FJG_ERR_CONFIG_INVALID(`${file ?? 'config'}: invalid configuration`, [`server.redirectHttp.port: must differ from the port listened on, got ${port}`])
    }
    return c
  }
  let config: GatewayConfig
  if (loaded === null) {
    demo = await prepareDemo(host, port)
    config = demo.config
  } else {
    config = checkedForAddress(loaded.config)
  }
  // server.tls read once per build: the same PEMs go to the app and to the listener.
  const tlsOf = (c: GatewayConfig, baseDir: string | undefined): LoadedTls | null =>
    c.server?.tls === undefined ? null : loadTls(c.server.tls, baseDir ?? process.cwd(), file ?? 'demo')
  const build = (c: GatewayConfig, baseDir: string | undefined, tls: LoadedTls | null): Promise<FastifyInstance> => buildServer(c, {
    source: file ?? 'demo',
    fastify: detachedServerFactory(),
    ...(baseDir === undefined ? {} : { baseDir }),
    ...(tls === null ? {} : { tls }),
    ...(opts.aggregateMetrics === undefined ? {} : { aggregateMetrics: opts.aggregateMetrics })
  })
  const infoLogs = (LEVELS[config.server?.logLevel ?? DEFAULT_LOG_LEVEL] ?? 30) <= 30

  const stopDemo = async (): Promise<void> => { await demo?.upstream.close() }
  const waiting = remoteKeySources(config)
  // The first load of remote key sets happens while building (bounded by each source's timeout).
  if (waiting.length > 0 && infoLogs) writeLine(30, `waiting for ${waiting.length} key source${waiting.length === 1 ? '' : 's'}: ${waiting.join(', ')}`, { keySources: waiting })
  let first: FastifyInstance
  let tls: LoadedTls | null
  try {
    tls = tlsOf(config, loaded?.baseDir)
    first = await build(config, loaded?.baseDir, tls)
  } catch (err) {
    await stopDemo()
    throw err
  }
  for (const w of keyWarnings(first)) first.log.warn({ keySource: w }, `key source not usable yet: ${w}`)
  // The listening server of the config's kind: http, https, or HTTP/2 (allowHTTP1), as buildGateway would make it.
  const listener = new Listener(first, listenerOptions(config, tls?.https))
  let redirect: { port: number, close (): Promise<void> } | null = null
  const close = async (): Promise<void> => {
    try {
      await Promise.all([listener.close(CLOSE_SWEEP_INTERVAL, opts.onStopAccepting), redirect?.close()])
    } finally {
      await stopDemo()
    }
  }
  let actual: number
  try {
    actual = await listener.listen(host, port)
  } catch (err) {
    await close()
    throw listenProblem(err, host, port) ?? err
  }
  const url = urlOf(host, actual, tls === null ? 'http' : 'https')
  // server.redirectHttp: the plain listener that sends clients to the TLS one (tls.ts); it lives as long as the gateway.
  const redirectPort = config.server?.redirectHttp?.port
  if (redirectPort !== undefined) {
    try {
      redirect = await startRedirect(host, redirectPort, actual, hostOf(host), first.log)
    } catch (err) {
      await close()
      throw listenProblem(err, host, redirectPort) ?? err
    }
  }
  if (opts.pidFile !== undefined) {
    try {
      writePidFile(opts.pidFile)
    } catch (err) {
      await close()
      throw err
    }
  }
  announce(url, redirect === null ? {} : { redirectPort: redirect.port })
  announced = true
  if (demo !== null) (opts.out ?? process.stdout).write(demoBanner(url, demo))

  const reloadables: Reloadable[] = []
  // One reload at a time: a SIGHUP while one runs waits for it.
  let queue: Promise<unknown> = Promise.resolve()
  const reloadOnce = async (): Promise<ReloadResult> => {
    const log = listener.app.log
    if (file === null || opts.reloadable === false) {
      const why = file === null ? 'the demo has no config file to reload' : 'this process does not reload (its cluster primary does)'
      log.warn(`reload: ${why}`)
      return { ok: false, problems: [why], warnings: [] }
    }
    log.info(`reload: checking ${file}`)
    let next: LoadedConfig
    let nextConfig: GatewayConfig
    let app: FastifyInstance
    const refuse = (problems: string[], why = 'is invalid'): ReloadResult => {
      log.error({ reload: { file, problems } }, `reload: ${file} ${why}, the running config stays:\n${problems.map((p) => `  ${p}`).join('\n')}`)
      return { ok: false, problems, warnings: [] }
    }
    let nextTls: LoadedTls | null
    try {
      next = loadConfig(file, opts.env)
      nextConfig = checkedForAddress(next.config)
      // What the listening server was made with (its kind, client certificates) stays until a restart.
      const fixed = listenerChanges(config.server, nextConfig.server)
      if (fixed.length > 0) return refuse(fixed, 'needs a restart')
      // A certificate/key pair that does not load is a problem of the config, as for `check`: nothing is swapped.
      nextTls = tlsOf(nextConfig, next.baseDir)
      app = await build(nextConfig, next.baseDir, nextTls)
    } catch (err) {
      return refuse(problemsOf(err))
    }
    // The certificate first (new handshakes), then the app (new requests).
    if (nextTls !== null && !applyTls(listener.server as TlsServer, nextTls, nextConfig.server?.tls as NonNullable<NonNullable<GatewayConfig['server']>['tls']>, app.log)) {
      await app.close().catch(() => {})
      return { ok: false, problems: ['server.tls: the new certificate could not be installed (see the log)'], warnings: [] }
    }
    const warnings = keyWarnings(app)
    for (const w of warnings) app.log.warn({ keySource: w }, `reload: key source not usable yet: ${w}`)
    const moved = ['host', 'port'].filter((k) => next.config.server?.[k as 'host' | 'port'] !== undefined && next.config.server?.[k as 'host' | 'port'] !== loaded?.config.server?.[k as 'host' | 'port'])
    if (moved.length > 0) app.log.warn(`reload: server.${moved.join(' and server.')} changed: a restart is needed to listen elsewhere`)
    if (next.config.server?.redirectHttp?.port !== loaded?.config.server?.redirectHttp?.port) app.log.warn('reload: server.redirectHttp changed: a restart is needed to redirect elsewhere (the running redirect listener stays)')
    const drained = listener.swap(app, graceDelay)
    loaded = next
    config = nextConfig
    app.log.info({ reload: { file, routes: nextConfig.routes.length } }, `reload: ${file} is now served; requests in flight finish on the previous config`)
    for (const r of reloadables) {
      try {
        await r(nextConfig, next)
      } catch (err) {
        app.log.error({ err }, 'reload: a reloadable failed')
      }
    }
    const old = await drained
    await old.close().catch((err: unknown) => app.log.error({ err }, 'reload: closing the previous config failed'))
    return { ok: true, problems: [], warnings }
  }
  const reload = (): Promise<ReloadResult> => {
    const p = queue.then(reloadOnce, reloadOnce)
    queue = p.catch(() => {})
    return p.catch((err: unknown) => ({ ok: false, problems: problemsOf(err), warnings: [] }))
  }
  return {
    get app () { return listener.app },
    server: listener.server,
    url,
    port: actual,
    redirectPort: redirect?.port ?? null,
    get config () { return config },
    source: file ?? 'demo',
    demo,
    reload,
    reloadables,
    close
  }
}

/**
 * SIGTERM/SIGINT (and fatal errors) close the gateway through close-with-grace:
 * requests in flight finish, then the process exits 0. SIGHUP reloads the
 * config (systemd `ExecReload=/bin/kill -HUP $MAINPID`). In a cluster worker
 * the primary relays the signal as a message, so a Ctrl-C that reaches both
 * does not count as a "second signal" (which close-with-grace answers with
 * exit 1); a worker ignores SIGHUP (the primary reloads by replacing workers).
 */
export function handleSignals (running: RunningGateway, graceDelay = DEFAULT_GRACE_DELAY): void {
  const log = (): FastifyInstance['log'] => running.app.log
  const worker = cluster.isWorker
  ignoreBrokenStdout()
  guardExitFlush(running)
  const grace = closeWithGrace({
    delay: graceDelay,
    logger: { error: (msg: unknown) => log().error(msg) },
    skip: worker ? ['SIGINT', 'SIGTERM', 'SIGHUP'] : ['SIGHUP']
  }, async ({ signal, err }) => {
    if (err !== undefined) log().error({ err }, 'fatal error: closing')
    // Straight to stdout, at every level like the listening line; the write is
    // synchronous, so it also finds out at once whether stdout's reader is
    // still there (guardExitFlush), even when a second signal exits next.
    else if (!writeLine(30, `${signal ?? 'shutdown'} received: closing, requests in flight finish first`)) stdoutBroken = true
    await running.close()
    if (!writeLine(30, 'closed')) stdoutBroken = true
    // The EPIPE of a gone reader is emitted on a later tick: let it arrive before close-with-grace exits.
    await new Promise((resolve) => setImmediate(resolve))
  })
  if (!worker) {
    process.on('SIGHUP', () => {
      log().info('SIGHUP received: reloading the config')
      running.reload().catch(() => {})
    })
    return
  }
  process.on('SIGHUP', () => {})
  let closing = false
  const once = (): void => {
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

/**
 * `fastify-jwt-gateway start | head -1`: once `head` exits, every write to
 * stdout fails with EPIPE. Unhandled, that error is an uncaught exception on
 * each log line, and the shutdown logging its own progress never finished.
 * Logs are dropped instead (pino does the same for its own stream).
 */
export function ignoreBrokenStdout (): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err
      if (stream === process.stdout) stdoutBroken = true
    })
  }
}

let stdoutBroken = false
const noop = (): void => {}

interface PinoDestination {
  flushSync?: () => void
  on?: (event: 'error', listener: (err: NodeJS.ErrnoException) => void) => unknown
}

/** pino's destination of a logger: the value under its `pino.stream` symbol (own or inherited by a child). */
function destinationOf (log: object): PinoDestination | null {
  for (let o: object | null = log; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    for (const s of Object.getOwnPropertySymbols(o)) {
      if (s.description === 'pino.stream') return (o as Record<symbol, PinoDestination | undefined>)[s] ?? null
    }
  }
  return null
}

/**
 * The hang of `start | head -1` then SIGTERM (issue 12 point 7): pino's
 * default destination (sonic-boom 4, asynchronous) flushes synchronously on
 * process 'exit', and its flushSync retries a failed write every 100 ms for
 * ever, whatever the error: with a log line still queued when close-with-grace
 * calls process.exit (the "received" and "closed" lines of a quick shutdown),
 * EPIPE kept the process alive, no longer listening, until SIGKILL. pino stops
 * writing to a destination once an *asynchronous* write reports EPIPE, but the
 * queued line never gets that far. So: the shutdown lines are written with a
 * synchronous write (a broken pipe is EPIPE on the spot), and an 'exit'
 * listener that runs before pino's drops the queued lines of every logger seen
 * once stdout is known broken. Nobody is reading them.
 */
function guardExitFlush (running: RunningGateway): void {
  const seen = new Set<PinoDestination>()
  const record = (): void => {
    const dest = destinationOf(running.app.log)
    if (dest === null || seen.has(dest)) return
    seen.add(dest)
    dest.on?.('error', (err) => { if (err.code === 'EPIPE') stdoutBroken = true })
  }
  record()
  running.reloadables.push(record)
  process.prependListener('exit', () => {
    if (!stdoutBroken) return
    for (const dest of seen) if (typeof dest.flushSync === 'function') dest.flushSync = noop
  })
}

function parsePort (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65535) throw new FJG_ERR_CLI_USAGE(`--port must be a port number from 0 to 65535, got '${value}'`)
  return n
}

/** The config checked as `check` checks it (built, key sets fetched once), or its problems. */
async function recheck (file: string): Promise<{ loaded: LoadedConfig, warnings: string[] } | { problems: string[] }> {
  try {
    const loaded = loadConfig(file)
    const probe = await buildServer(loaded.config, { logger: false, baseDir: loaded.baseDir, source: file })
    const warnings = keyWarnings(probe)
    await probe.close()
    return { loaded, warnings }
  } catch (err) {
    return { problems: problemsOf(err) }
  }
}

/** `start`: one process, or a cluster primary when server.workers > 1. Resolves only when done. */
export async function startCommand (values: { config?: string, host?: string, port?: string, 'pid-file'?: string }): Promise<number | undefined> {
  const port = parsePort(values.port)
  const listenOn = {
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(port === undefined ? {} : { port })
  }
  if (cluster.isWorker) {
    // A worker serves what its primary checked and sent; it never reads the file.
    ignoreBrokenStdout()
    const loaded = await configFromPrimary()
    const metrics = workerMetrics()
    const running = await start({ loaded, reloadable: false, aggregateMetrics: metrics.aggregate, onStopAccepting: stoppedAccepting, ...listenOn })
    if (running.app.gatewayMetrics !== null) metrics.share(running.app.gatewayMetrics.registry)
    handleSignals(running)
    return undefined
  }
  const file = resolveConfigFile(values.config)
  const loaded = file === null ? undefined : loadConfig(file)
  const workers = workerCount(loaded?.config.server?.workers)
  if (loaded !== undefined && workers > 1) {
    ignoreBrokenStdout()
    // Check everything once here, so a bad key file is reported once, not by every worker.
    const probe = await buildServer(loaded.config, { logger: false, baseDir: loaded.baseDir, source: loaded.file })
    await probe.close()
    const host = values.host ?? loaded.config.server?.host ?? DEFAULT_HOST
    const listenPort = port ?? loaded.config.server?.port ?? DEFAULT_PORT
    if (listenPort !== 0) await assertCanListen(host, listenPort)
    if (values['pid-file'] !== undefined) writePidFile(values['pid-file'])
    return runPrimary({
      workers,
      graceDelay: DEFAULT_GRACE_DELAY,
      loaded,
      recheck: () => recheck(loaded.file),
      describe: (address) => `fastify-jwt-gateway listening on ${urlOf(host, address.port, loaded.config.server?.tls === undefined ? 'http' : 'https')} (${workers} workers)`
    })
  }
  const early = signalsWhileStarting()
  let running: RunningGateway
  try {
    running = await start({ ...(loaded === undefined ? {} : { loaded }), ...listenOn, ...(values['pid-file'] === undefined ? {} : { pidFile: values['pid-file'] }) })
  } catch (err) {
    early.done()
    throw err
  }
  handleSignals(running)
  early.done()
  return undefined
}

/** Set once the listening line is out: from then on a stop signal means a graceful close. */
let announced = false

/**
 * SIGTERM and SIGINT between the start and handleSignals. Before the
 * listening line: the process exits at once, as with no handler (128 + the
 * signal's number). After it, the signal waits the few ticks until
 * handleSignals is in place, then is raised again and closes gracefully: a
 * supervisor that stops the gateway as soon as it reads "listening" (or a
 * `start | head -1`) must get the same clean stop as later (exit 0), not
 * the default action's 143.
 */
function signalsWhileStarting (): { done: () => void } {
  let pending: NodeJS.Signals | null = null
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!announced) process.exit(128 + (osConstants.signals[signal] ?? 0))
    pending ??= signal
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return {
    done () {
      process.removeListener('SIGTERM', onSignal)
      process.removeListener('SIGINT', onSignal)
      if (pending !== null) process.kill(process.pid, pending)
    }
  }
}
