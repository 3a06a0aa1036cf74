// The preset's CLI (`fastify-jwt-gateway start`) with `server.workers`: N
// processes sharing the port through node:cluster. Measured apart from the
// one-process gateway variants (issue 6: "measure workers > 1 separately").

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, spawnTracked, stop } from './children.mjs'
import { waitForHttp } from './load.mjs'

const here = dirname(fileURLToPath(import.meta.url))
export const PRESET_BIN = join(here, '..', '..', 'packages', 'preset', 'bin', 'fastify-jwt-gateway.js')

/** `profileDir`: every process of the preset (primary, workers) writes a .cpuprofile there. */
export async function startPreset ({ upstreamPort, workers, jwt, token, profileDir = null }) {
  if (!existsSync(join(dirname(PRESET_BIN), '..', 'dist', 'cli.js'))) {
    throw new Error('the preset is not built (packages/preset/dist/cli.js): run `pnpm run build`')
  }
  const dir = mkdtempSync(join(tmpdir(), 'fjg-bench-preset-'))
  const port = await freePort()
  const config = join(dir, 'gateway.json')
  writeFileSync(config, JSON.stringify({
    // warn: no per-request log lines, as in every other variant.
    server: { host: '127.0.0.1', port, logLevel: 'warn', workers },
    jwt,
    routes: [{ prefix: '/api', upstream: `http://127.0.0.1:${upstreamPort}`, rewritePrefix: '/api' }]
  }, null, 2))
  // Node flags before the script: cluster workers inherit them (cluster.settings.execArgv).
  const flags = profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
  const child = spawnTracked(`preset-${workers}w`, process.execPath, [...flags, PRESET_BIN, 'start', '--config', config])
  const close = async () => {
    await stop(child, { grace: 5000 })
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForHttp(port, token, 20_000, () => !child.exited)
    if (child.exited) throw new Error('exited')
    // The first worker answers before the others listen; the warm-up that
    // follows gives them time too, this gives the cluster a head start.
    if (workers > 1) await new Promise((resolve) => setTimeout(resolve, 1000))
  } catch (err) {
    await close()
    throw new Error(`the preset did not start: ${err.message}\n${child.stderr}`)
  }
  return { child, port, close }
}
