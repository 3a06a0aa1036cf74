import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

/** The repository root. */
export const ROOT = resolve(__dirname, '../../../..')

interface T { teardown (fn: () => unknown): void }

/**
 * A folder outside the workspace whose node_modules resolve the given names
 * (links to the built packages and their peers, as after `npm install`), with
 * a package.json of the given module type. Removed at teardown.
 */
export function consumerProject (t: T, name: string, type: 'module' | 'commonjs', links: Record<string, string>): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `fjg-${name}-`)))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const [pkg, target] of Object.entries(links)) {
    mkdirSync(dirname(join(dir, 'node_modules', pkg)), { recursive: true })
    symlinkSync(realpathSync(join(ROOT, target)), join(dir, 'node_modules', pkg), 'dir')
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type }))
  return dir
}
