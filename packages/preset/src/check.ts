import { loadConfig } from './config.js'
import { buildServer } from './server.js'
import { resolveConfigFile } from './start.js'
import { FJG_ERR_CLI_USAGE, UserError } from './errors.js'

interface Status { source: string, kids: Array<string | null>, lastError: string | null }

export interface CheckResult {
  file: string
  routes: number
  keySources: Status[]
  /** Remote key sources that could not be loaded: reported, not fatal (they may be reachable from the server). */
  warnings: string[]
}

/** Every step of `start` short of listening. Throws a UserError naming every problem. */
export async function check (file: string, env: NodeJS.ProcessEnv = process.env): Promise<CheckResult> {
  const loaded = loadConfig(file, env)
  // Policy warnings that name a config path (`!in` on a list claim) are part of the report.
  const policyWarnings: string[] = []
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === 'FJG_WARN_NOT_IN_LIST') policyWarnings.push(w.message)
  }
  process.on('warning', onWarning)
  try {
    const app = await buildServer(loaded.config, { logger: false, baseDir: loaded.baseDir, source: file })
    try {
      // onReady makes the first fetch of remote key sets, bounded by their timeout.
      await app.ready()
      const keySources = ((app as unknown as { jwtAuth?: { keyStatus (): Status[] } }).jwtAuth?.keyStatus() ?? [])
      const warnings = keySources
        .filter((s) => s.lastError !== null)
        .map((s) => `${s.source}: ${s.lastError}`)
      return { file, routes: loaded.config.routes.length, keySources, warnings: [...policyWarnings, ...warnings] }
    } finally {
      await app.close()
    }
  } finally {
    process.off('warning', onWarning)
  }
}

export async function checkCommand (values: { config?: string }, out: NodeJS.WritableStream): Promise<number> {
  const file = resolveConfigFile(values.config)
  if (file === null) throw new UserError(FJG_ERR_CLI_USAGE, 'check needs a config: --config <file> (no ./gateway.json here)')
  const result = await check(file)
  for (const w of result.warnings) out.write(`warning: ${w}\n`)
  out.write(`${file}: configuration OK (${result.routes} route${result.routes === 1 ? '' : 's'}, ${result.keySources.length} key source${result.keySources.length === 1 ? '' : 's'})\n`)
  return 0
}
