import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// A real redis-server per test (issue 14): the OS package, on a free loopback
// port, no persistence unless the test saves on purpose (`stop({ save: true })`
// then `start()` again reloads the dump from its own folder).

interface T { teardown (fn: () => unknown): void }

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export interface RedisServer {
  port: number
  url: string
  start (): Promise<void>
  /** `save: true` writes the dataset first, so the next start() reloads it. */
  stop (opts?: { save?: boolean }): Promise<void>
}

function launch (port: number, dir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`redis-server did not start: ${out}`)) }, 10_000)
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
    child.stdout?.on('data', (d) => {
      out += d
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer)
        resolve(child)
      }
    })
  })
}

export async function redisServer (t: T): Promise<RedisServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'fjg-redis-'))
  let child: ChildProcess | null = await launch(port, dir)
  const stop = async (opts: { save?: boolean } = {}): Promise<void> => {
    const c = child
    if (c === null) return
    child = null
    const exited = new Promise((resolve) => c.once('exit', resolve))
    if (opts.save === true) {
      // SHUTDOWN SAVE writes dump.rdb to `dir` even with --save ''.
      await new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.end('SHUTDOWN SAVE\r\n'))
        s.on('error', () => resolve())
        s.on('close', () => resolve())
      })
    } else {
      c.kill('SIGKILL')
    }
    await exited
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start () {
      if (child === null) child = await launch(port, dir)
    },
    stop
  }
}

/**
 * A TCP relay to a Redis: `cut()` drops every connection and refuses new ones
 * (a network partition for whoever connects through it), `heal()` lets them in.
 */
export interface Relay { url: string, cut (): void, heal (): Promise<void> }

export async function relay (t: T, target: number): Promise<Relay> {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server: Server | null = null
  const listen = (): Promise<void> => new Promise((resolve) => {
    server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1')
      sockets.add(client)
      sockets.add(upstream)
      client.pipe(upstream).pipe(client)
      const end = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
      client.on('error', end).on('close', end)
      upstream.on('error', end).on('close', end)
    })
    server.listen(port, '127.0.0.1', () => resolve())
  })
  await listen()
  const cut = (): void => {
    server?.close()
    server = null
    for (const s of sockets) s.destroy()
    sockets.clear()
  }
  t.teardown(cut)
  return { url: `redis://127.0.0.1:${port}`, cut, heal: listen }
}
