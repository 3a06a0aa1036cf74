// Child processes of a benchmark run: every server runs in its own process,
// registered here so that each one is stopped when it is no longer needed,
// when the run fails, and on SIGINT/SIGTERM. Only the processes started here
// are ever signalled, by their pid.

import { fork, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const SERVER_SCRIPT = join(here, '..', 'server.mjs')

const live = new Set()
let hooked = false

function hookSignals () {
  if (hooked) return
  hooked = true
  const onSignal = (signal) => {
    process.stderr.write(`\n${signal}: stopping ${live.size} child process(es)\n`)
    stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // Last resort on any exit path (uncaught error, process.exit): synchronous kill.
  process.once('exit', () => {
    for (const c of live) signal(c, 'SIGKILL', true)
  })
}

/**
 * Signals one tracked child. `group`: the whole process group it leads (only
 * children spawned with `detached`, which are group leaders: nginx's master
 * and workers, a cluster primary and its workers).
 */
function signal (child, sig, group = false) {
  try {
    if (group && child.group) process.kill(-child.proc.pid, sig)
    else child.proc.kill(sig)
  } catch {}
}

function track (name, proc, group = false) {
  hookSignals()
  const child = { name, proc, stderr: '', exited: false, group }
  proc.stderr?.setEncoding('utf8')
  proc.stderr?.on('data', (d) => {
    // Keep the tail only: enough to explain a failure.
    child.stderr = (child.stderr + d).slice(-8192)
  })
  proc.once('exit', () => {
    child.exited = true
    live.delete(child)
    // A group leader gone: nothing it forked may outlive it (normally none is left: ESRCH).
    if (group) signal(child, 'SIGKILL', true)
  })
  live.add(child)
  return child
}

/**
 * Forks server.mjs, sends it `spec`, and resolves with `{ child, port }` once it
 * listens on 127.0.0.1. `execArgv` adds Node flags (--cpu-prof for --profile).
 */
export async function startServer (name, spec, { execArgv = [], timeout = 20_000 } = {}) {
  const proc = fork(SERVER_SCRIPT, [name], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    execArgv: [...process.execArgv.filter((a) => !a.startsWith('--cpu-prof')), ...execArgv]
  })
  const child = track(name, proc)
  proc.send({ cmd: 'start', spec })
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not listening after ${timeout} ms`)), timeout)
    proc.on('message', (m) => {
      if (m?.ready) {
        clearTimeout(timer)
        resolve(m.port)
      } else if (m?.error) {
        clearTimeout(timer)
        reject(new Error(`${name}: ${m.error}`))
      }
    })
    proc.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${name}: exited (${signal ?? code}) before listening\n${child.stderr}`))
    })
  })
  try {
    return { child, port: await ready }
  } catch (err) {
    await stop(child)
    throw err
  }
}

/** Asks a server child something over IPC (`rss`); resolves with its answer. */
export function ask (child, cmd, timeout = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.proc.off('message', onMessage)
      reject(new Error(`${child.name}: no answer to ${cmd}`))
    }, timeout)
    function onMessage (m) {
      if (m?.answer !== cmd) return
      clearTimeout(timer)
      child.proc.off('message', onMessage)
      resolve(m.value)
    }
    child.proc.on('message', onMessage)
    child.proc.send({ cmd })
  })
}

/**
 * Spawns a server that cannot talk IPC (nginx, the preset's CLI) in the
 * foreground, tracked like the others. It leads its own process group, so a
 * last-resort SIGKILL also reaches the workers it forked.
 */
export function spawnTracked (name, command, args, opts = {}) {
  const proc = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...opts })
  return track(name, proc, true)
}

/**
 * Stops one child: a polite "stop" over IPC (the server closes and exits, so
 * --cpu-prof can write its profile), then SIGTERM, then SIGKILL.
 */
export async function stop (child, { grace = 3000 } = {}) {
  if (child.exited) return
  const exited = once(child.proc, 'exit').catch(() => {})
  // Unref'd: a timer left over once the child is gone must not hold the run open.
  const wait = (ms) => Promise.race([exited.then(() => true), new Promise((resolve) => setTimeout(resolve, ms, false).unref())])
  if (child.proc.connected) {
    try { child.proc.send({ cmd: 'stop' }) } catch {}
  } else {
    // nginx and the preset stop gracefully on SIGTERM, their workers with them.
    signal(child, 'SIGTERM')
  }
  if (await wait(grace)) return
  signal(child, 'SIGTERM')
  if (await wait(2000)) return
  signal(child, 'SIGKILL', true)
  await wait(2000)
}

export async function stopAll () {
  await Promise.all([...live].map((c) => stop(c)))
}

/** A free TCP port on 127.0.0.1 (for servers that cannot report the one they got, as nginx). */
export async function freePort () {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address()
  srv.close()
  await once(srv, 'close')
  return port
}

// CPU time of a server, from /proc (Linux): what one request costs the server
// itself, whatever else competes for the cores. A spawned server counts with
// every process of its group (nginx's workers, the preset's cluster workers).
let msPerTick = null

function ticksOf (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after "(comm)": state ppid pgrp ... utime(14) stime(15), counted from 1.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { pgrp: Number(rest[2]), ticks: Number(rest[11]) + Number(rest[12]) }
  } catch {
    return null
  }
}

/** Milliseconds of CPU (user + system) the child has used so far; null where /proc is not there. */
export function cpuMs (child) {
  if (process.platform !== 'linux') return null
  if (msPerTick === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
    msPerTick = 1000 / (Number(r.stdout) || 100)
  }
  const pid = child.proc.pid
  if (!child.group) {
    const s = ticksOf(pid)
    return s === null ? null : s.ticks * msPerTick
  }
  let ticks = 0
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) > 0x39) continue
    const s = ticksOf(name)
    if (s !== null && s.pgrp === pid) ticks += s.ticks
  }
  return ticks * msPerTick
}
