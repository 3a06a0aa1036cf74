import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

// The real CLI, spawned as a user runs it: node bin/fastify-jwt-gateway.js.
// It runs the built dist/ (the root `pretest` builds it).

export const BIN = join(__dirname, '..', '..', 'bin', 'fastify-jwt-gateway.js')
const DIST = join(__dirname, '..', '..', 'dist', 'cli.js')

interface T {
  teardown (fn: () => unknown): void
  bailout? (reason: string): void
}

export function assertBuilt (): void {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npx -y pnpm@12.21.0 run build\` first`)
}

export interface RunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
}

export interface Result {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the CLI to completion. */
export function run (args: string[], opts: RunOptions = {}): Promise<Result> {
  assertBuilt()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** A pino line, parsed; null for a plain-text line. */
export function parseLine (line: string): Record<string, any> | null {
  if (!line.startsWith('{')) return null
  try {
    return JSON.parse(line)
  } catch {
    return null
  }
}

export interface Running {
  child: ChildProcess
  /** `http://127.0.0.1:<real port>` (`https://` with server.tls). */
  url: string
  /** Everything printed so far. */
  stdout (): string
  stderr (): string
  /** Parsed pino lines so far. */
  logs (): Array<Record<string, any>>
  /** Resolves when a stdout line matches. */
  waitFor (test: (line: string) => boolean, ms?: number): Promise<string>
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

const LISTENING = /fastify-jwt-gateway listening on (https?:\/\/\S+?)( \(|"|$)/

/**
 * Starts the CLI and waits for the listening line. Teardown kills it (and,
 * through the cluster, its workers) if the test did not stop it.
 */
export async function startCli (t: T, args: string[], opts: RunOptions & { timeout?: number } = {}): Promise<Running> {
  assertBuilt()
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  const waiters: Array<{ test: (l: string) => boolean, resolve: (l: string) => void }> = []
  let pending = ''
  child.stdout?.on('data', (d) => {
    out += d
    pending += d
    let nl
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      for (const w of [...waiters]) {
        if (w.test(line)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  })
  child.stderr?.on('data', (d) => { err += d })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const waitFor = (test: (line: string) => boolean, ms = opts.timeout ?? 10_000): Promise<string> => {
    const existing = out.split('\n').find(test)
    if (existing !== undefined) return Promise.resolve(existing)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a line\nstdout:\n${out}\nstderr:\n${err}`)), ms)
      const w = { test, resolve: (l: string) => { clearTimeout(timer); resolve(l) } }
      waiters.push(w)
      exited.then(({ code, signal }) => {
        clearTimeout(timer)
        if (waiters.includes(w)) reject(new Error(`the CLI exited (${code ?? signal}) before the line\nstdout:\n${out}\nstderr:\n${err}`))
      })
    })
  }
  const line = await waitFor((l) => LISTENING.test(l))
  const url = (LISTENING.exec(line) as RegExpExecArray)[1] as string
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    logs: () => out.split('\n').map(parseLine).filter((l): l is Record<string, any> => l !== null),
    waitFor,
    exited
  }
}
