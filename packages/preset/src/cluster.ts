import cluster, { type Worker } from 'node:cluster'
import { availableParallelism, hostname } from 'node:os'

// `server.workers`: N processes sharing the port through node:cluster. The
// primary only forks, replaces workers that die, and relays shutdown; every
// worker runs the same `start` (the cluster module hands each `listen` the
// primary's socket, so `port: 0` gives every worker the same free port).

export const DEFAULT_WORKERS = 1
/** A worker that dies this soon after forking, before it ever listened, counts as a failed start. */
const RESTART_WINDOW = 10_000
/** After this many failed starts in a row, the primary gives up. */
const MAX_FAILED_STARTS = 5
export const SHUTDOWN_MESSAGE = 'fjg:shutdown'
// What stops the primary gracefully. A single process stops on these too (close-with-grace);
// unhandled, SIGHUP or SIGQUIT would kill the primary at once and orphan the workers' shutdown.
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']

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

    const fork = (): Worker => {
      const w = cluster.fork()
      bornAt.set(w.id, Date.now())
      return w
    }

    const finish = (): void => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return
      for (const s of SIGNALS) process.removeListener(s, onSignal)
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
