import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { generateKeySet, writeKeyFiles, type KeyFiles, type KeySet } from '../../../jwt-auth/test/helpers/keys.js'

export { sign } from '../../../jwt-auth/test/helpers/keys.js'

interface T { teardown (fn: () => unknown): void }

/** A temp folder removed after the test. */
export function tempDir (t: T, prefix = 'fjg-preset-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Real keys written as files (PEM, JWK, JWKS, keyval) into `<dir>/keys`. */
export function keys (dir: string): { set: KeySet, files: KeyFiles } {
  const set = generateKeySet()
  return { set, files: writeKeyFiles(set, join(dir, 'keys')) }
}

export function writeJson (file: string, value: unknown): string {
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2))
  return file
}

/**
 * A real upstream on 127.0.0.1:0: `/api/*` and `/*` echo the path and the
 * headers they received; `/api/slow?ms=N` answers after N ms.
 */
export async function upstream (t: T): Promise<string> {
  const app = Fastify()
  app.get('/api/slow', async (request) => {
    const ms = Number((request.query as { ms?: string }).ms ?? 500)
    await new Promise((resolve) => setTimeout(resolve, ms))
    return { slow: true, ms }
  })
  app.get('/*', async (request) => ({ url: request.url, headers: request.headers, pid: process.pid }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const address = app.server.address()
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
}
