import cluster, { type Worker } from 'node:cluster'
import { availableParallelism, hostname } from 'node:os'
import { AggregatorRegistry } from 'prom-client'
import type { LoadedConfig } from './config.js'

// `server.workers`: N processes sharing the port through node:cluster. The
// primary only forks, replaces workers that die, and relays shutdown; every
// worker runs the same `start` (the cluster module hands each `listen` the
// primary's socket, so `port: 0` gives every worker the same free port).
//
// The config: the primary reads and checks it, and hands the checked config to
// every worker it forks in a CONFIG_MESSAGE; a worker never reads the config
// file. So a worker replaced after a crash serves what the others serve, even
// when the file has changed since. SIGHUP to the primary checks the file again
// (every check `check` runs); when valid, workers are replaced one by one (a new
// one listens before an old one is told to stop), when invalid the problems
// are logged and nothing changes.

export const DEFAULT_WORKERS = 1
/** A worker that dies this soon after forking, before it ever listened, counts as a failed start. */
const RESTART_WINDOW = 10_000
/** After this many failed starts in a row, the primary gives up. */
const MAX_FAILED_STARTS = 5
export const SHUTDOWN_MESSAGE = 'fjg:shutdown'
/**
 * Worker → primary `{ type }`: my listener is closed; primary → worker, the
 * same back. Sent after the close, on the channel that carried the cluster's
 * own "close" message, so by the time the primary reads it no new connection
 * is handed to that worker. The answer comes after every connection the
 * primary handed over before (IPC keeps the order, a handle included): a
 * worker that exited before reading one would leave that client hanging (the
 * primary keeps the socket until the worker acknowledges it), so a stopping
 * worker waits for the answer (at most STOPPED_TIMEOUT) before it closes.
 */
export const STOPPED_MESSAGE = 'fjg:stopped'
const STOPPED_TIMEOUT = 2000
/** Milliseconds a reload waits for a retiring worker to stop accepting before going on. */
const STOP_TIMEOUT = 5000
/** Worker → primary `{ type }`: my config, please; primary → worker `{ type, loaded }`, the checked config to serve. */
export const CONFIG_MESSAGE = 'fjg:config'
/** Worker → primary `{ type, id }`: every worker's metrics, please; primary → worker `{ type, id, text | error }`. */
export const METRICS_MESSAGE = 'fjg:metrics'
/** Milliseconds a worker waits for the aggregated metrics (prom-client's own limit is 5 s). */
const METRICS_TIMEOUT = 6000
// What stops the primary gracefully. A single process stops on these too (close-with-grace);
// unhandled, SIGQUIT would kill the primary at once and orphan the workers' shutdown.
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGQUIT']

export function workerCount (setting: number | 'auto' | undefined): number {
  if (setting === 'auto') return availableParallelism()
  return setting ?? DEFAULT_WORKERS
}

export interface PrimaryOptions {
  workers: number
  /** Milliseconds workers get to finish in-flight requests before being killed. */
  graceDelay: number
  /** Line logged once every worker listens (the address). */
  describe: (address: { address: string | null, port: number }) => string
  /** The checked config every worker gets. */
  loaded: LoadedConfig
  /** SIGHUP: the config file checked again; a list of problems when it is refused. */
  recheck?: () => Promise<{ loaded: LoadedConfig, warnings: string[] } | { problems: string[] }>
}

// The primary has no Fastify instance; its few lines follow pino's JSON shape
// so one log pipeline reads them all.
function log (level: 30 | 40 | 50, msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: hostname(), role: 'primary', ...extra, msg }) + '\n')
}

/** Runs the primary until every worker has exited after a shutdown; resolves with the exit code. */
export function runPrimary (opts: PrimaryOptions): Promise<number> {
  return new Promise((resolve) => {
    let shuttingDown = false
    let failedStarts = 0
    let announced = false
    let exitCode = 0
    const listening = new Set<number>()
    const bornAt = new Map<number, number>()

    let current = opts.loaded
    /** Workers told to stop by a reload: their exit is not a crash. */
    const retiring = new Set<number>()
    const fork = (loaded = current): Worker => {
      const w = cluster.fork()
      bornAt.set(w.id, Date.now())
      // Sent when the worker asks: a message that arrives before its listener is lost.
      w.on('message', (m: { type?: unknown }) => {
        if (!w.isConnected()) return
        if (m?.type === CONFIG_MESSAGE) w.send({ type: CONFIG_MESSAGE, loaded })
        else if (m?.type === STOPPED_MESSAGE) w.send({ type: STOPPED_MESSAGE })
      })
      return w
    }

    // Scrapes: the worker that got one asks here for everyone's figures.
    const aggregator = new AggregatorRegistry()
    const onMessage = (worker: Worker, m: { type?: unknown, id?: unknown }): void => {
      if (m?.type !== METRICS_MESSAGE) return
      aggregator.clusterMetrics().then(
        (text) => { if (worker.isConnected()) worker.send({ type: METRICS_MESSAGE, id: m.id, text }) },
        (err: Error) => { if (worker.isConnected()) worker.send({ type: METRICS_MESSAGE, id: m.id, error: err.message }) }
      )
    }
    cluster.on('message', onMessage)

    let reloading = false
    const reload = async (): Promise<void> => {
      if (opts.recheck === undefined || shuttingDown) return
      if (reloading) return log(40, 'SIGHUP received while a reload runs: ignored')
      reloading = true
      try {
        log(30, 'SIGHUP received: checking the config')
        const checked = await opts.recheck()
        if ('problems' in checked) {
          return log(50, `reload: the config is invalid, the workers keep the running config:\n${checked.problems.map((p) => `  ${p}`).join('\n')}`, { problems: checked.problems })
        }
        for (const w of checked.warnings) log(40, `reload: key source not usable yet: ${w}`)
        // One by one: a new worker listens before an old one is told to stop.
        const old = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
        for (const [i, w] of old.entries()) {
          if (shuttingDown) return
          const fresh = fork(checked.loaded)
          const ok = await new Promise<boolean>((resolve) => {
            const onListening = (lw: Worker): void => { if (lw === fresh) done(true) }
            const onExit = (ew: Worker): void => { if (ew === fresh) done(false) }
            const done = (v: boolean): void => {
              cluster.removeListener('listening', onListening)
              cluster.removeListener('exit', onExit)
              resolve(v)
            }
            cluster.on('listening', onListening)
            cluster.on('exit', onExit)
          })
          if (!ok) return log(50, 'reload: a worker with the new config failed to start; the others keep the running config')
          // From the first new worker on, the new config is the one a crashed worker is replaced with.
          if (i === 0) current = checked.loaded
          retiring.add(w.id)
          await stopAccepting(w)
        }
        log(30, `reload: ${old.length} workers replaced, the new config is served`)
      } catch (err) {
        log(50, `reload failed: ${(err as Error).message}`)
      } finally {
        reloading = false
      }
    }
    /**
     * Tells a worker to stop and resolves once it accepts no more connections
     * (its STOPPED_MESSAGE, its exit, or STOP_TIMEOUT): only then does the new
     * config serve every new connection, and the next old worker is retired.
     */
    const stopAccepting = (w: Worker): Promise<void> => {
      if (!w.isConnected()) return Promise.resolve()
      const answered = messageOf(w, STOPPED_MESSAGE, 'exit', STOP_TIMEOUT)
      w.send(SHUTDOWN_MESSAGE)
      return answered
    }
    const onHup = (): void => { reload().catch(() => {}) }
    process.on('SIGHUP', onHup)

    const finish = (): void => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return
      for (const s of SIGNALS) process.removeListener(s, onSignal)
      process.removeListener('SIGHUP', onHup)
      cluster.removeListener('message', onMessage)
      log(30, 'all workers stopped')
      resolve(exitCode)
    }

    const shutdown = (reason: string, code: number): void => {
      exitCode = Math.max(exitCode, code)
      if (shuttingDown) return
      shuttingDown = true
      log(30, `${reason}: stopping ${Object.keys(cluster.workers ?? {}).length} workers`)
      for (const w of Object.values(cluster.workers ?? {})) {
        if (w !== undefined && w.isConnected()) w.send(SHUTDOWN_MESSAGE)
      }
      // Workers finish in flight requests within their own grace delay; this
      // only catches one that hangs past it.
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
      }, opts.graceDelay + 2000).unref()
      finish()
    }

    function onSignal (signal: NodeJS.Signals): void {
      if (shuttingDown) {
        log(50, `second ${signal}: killing workers`)
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
        exitCode = 1
        return
      }
      shutdown(`${signal} received`, 0)
    }
    for (const s of SIGNALS) process.on(s, onSignal)

    cluster.on('listening', (worker, address) => {
      listening.add(worker.id)
      failedStarts = 0
      if (!announced && listening.size >= opts.workers) {
        announced = true
        log(30, opts.describe(address), { workers: opts.workers })
      }
    })

    cluster.on('exit', (worker, code, signal) => {
      const everListened = listening.delete(worker.id)
      const age = Date.now() - (bornAt.get(worker.id) ?? 0)
      bornAt.delete(worker.id)
      if (shuttingDown) {
        if (code !== 0 && signal === null) exitCode = 1
        return finish()
      }
      if (retiring.delete(worker.id)) return
      // Before the gateway was ever up, a worker that fails has said why on
      // stderr (a port in use...): replacing it would only repeat that.
      if (!announced && !everListened) return shutdown('a worker failed to start', 1)
      log(40, `worker ${worker.process.pid} died (${signal ?? `exit code ${code}`}), starting a new one`, { worker: worker.id })
      if (!everListened && age < RESTART_WINDOW && ++failedStarts >= MAX_FAILED_STARTS) {
        return shutdown(`${failedStarts} workers in a row failed to start`, 1)
      }
      fork()
    })

    for (let i = 0; i < opts.workers; i++) fork()
  })
}

/**
 * In a worker: tells the primary this worker's listener is closed, and
 * resolves once the primary answered (see STOPPED_MESSAGE).
 */
export function stoppedAccepting (): Promise<void> {
  if (!process.connected || process.send === undefined) return Promise.resolve()
  const answered = messageOf(process, STOPPED_MESSAGE, 'disconnect', STOPPED_TIMEOUT)
  process.send({ type: STOPPED_MESSAGE })
  return answered
}

/** Resolves on the first `{ type }` message from `channel`, on its `end` event, or after `ms`, whichever comes first. */
function messageOf (channel: NodeJS.EventEmitter, type: string, end: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function onMessage (m: { type?: unknown }): void { if (m?.type === type) done() }
    function done (): void {
      clearTimeout(timer)
      channel.removeListener('message', onMessage)
      channel.removeListener(end, done)
      resolve()
    }
    channel.on('message', onMessage)
    channel.once(end, done)
  })
}

/**
 * In a worker: the config the primary checked. A worker never reads the
 * config file (see the top of this file).
 */
export function configFromPrimary (): Promise<LoadedConfig> {
  return new Promise((resolve) => {
    const onMessage = (m: { type?: unknown, loaded?: LoadedConfig }): void => {
      if (m?.type !== CONFIG_MESSAGE || m.loaded === undefined) return
      process.removeListener('message', onMessage)
      resolve(m.loaded)
    }
    process.on('message', onMessage)
    // The primary died before this worker asked (EPIPE): nobody to serve for.
    process.send?.({ type: CONFIG_MESSAGE }, undefined, undefined, (err) => {
      if (err !== null && err !== undefined) process.exit(1)
    })
  })
}

/**
 * In a worker: the metrics route answers with every worker's figures, asked
 * of the primary (prom-client's AggregatorRegistry sums counters and
 * histograms; the gauges say how they combine). Call `share` with this
 * worker's registry once it is built.
 */
export function workerMetrics (): { aggregate: () => Promise<string>, share: (registry: import('prom-client').Registry) => void } {
  // Constructed for its side effect in a worker: it answers the primary's requests.
  // eslint-disable-next-line no-new
  new AggregatorRegistry()
  let seq = 0
  const pending = new Map<number, { resolve: (t: string) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  process.on('message', (m: { type?: unknown, id?: unknown, text?: string, error?: string }) => {
    if (m?.type !== METRICS_MESSAGE || typeof m.id !== 'number') return
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    clearTimeout(p.timer)
    if (typeof m.text === 'string') p.resolve(m.text)
    else p.reject(new Error(`metrics from the other workers: ${m.error ?? 'no answer'}`))
  })
  return {
    aggregate: () => new Promise((resolve, reject) => {
      const id = ++seq
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error('metrics from the other workers: timed out'))
      }, METRICS_TIMEOUT)
      pending.set(id, { resolve, reject, timer })
      process.send?.({ type: METRICS_MESSAGE, id })
    }),
    share: (registry) => AggregatorRegistry.setRegistries([registry])
  }
}
