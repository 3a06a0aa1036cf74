import { loadConfig } from './config.js'
import { buildServer } from './server.js'
import { keyWarnings, resolveConfigFile } from './start.js'
import { FJG_ERR_CHECK_STRICT, FJG_ERR_CLI_USAGE } from './errors.js'
import { certificateWarnings, loadTls } from './tls.js'

interface Status { source: string, kids: Array<string | null>, lastError: string | null }

export interface CheckResult {
  file: string
  routes: number
  keySources: Status[]
  /** Remote key sources that could not be loaded: reported, not fatal (they may be reachable from the server); fatal with --strict. */
  warnings: string[]
}

/** Every step of `start` short of listening (the same steps a reload runs). Throws a UserError naming every problem. */
export async function check (file: string, env: NodeJS.ProcessEnv = process.env): Promise<CheckResult> {
  // The policies' start-up warnings (`!in` on a list claim, signatures or
  // expiry not checked, a short secret, a key source whose certificate is not
  // verified...) are part of the report, and refused by --strict.
  const policyWarnings: string[] = []
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.name === 'FastifyJwtGatewayWarning' && w.code?.startsWith('FJG_WARN_') === true) policyWarnings.push(w.message)
  }
  process.on('warning', onWarning)
  try {
    const loaded = loadConfig(file, env)
    // Building makes the first fetch of remote key sets, bounded by their timeout.
    const app = await buildServer(loaded.config, { logger: false, baseDir: loaded.baseDir, source: file })
    try {
      const keySources = ((app as unknown as { jwtAuth?: { keyStatus (): Status[] } }).jwtAuth?.keyStatus() ?? [])
      const warnings = [...policyWarnings, ...keyWarnings(app)]
      // buildServer has checked that the certificate and key match; their dates are a warning (nginx starts with them too).
      const tls = loaded.config.server?.tls
      if (tls !== undefined) warnings.push(...certificateWarnings(loadTls(tls, loaded.baseDir, file).certificate))
      return { file, routes: loaded.config.routes.length, keySources, warnings }
    } finally {
      await app.close()
    }
  } finally {
    process.off('warning', onWarning)
  }
}

export async function checkCommand (values: { config?: string, strict?: boolean }, out: NodeJS.WritableStream): Promise<number> {
  const file = resolveConfigFile(values.config)
  if (file === null) throw new FJG_ERR_CLI_USAGE('check needs a config: --config <file> (no ./gateway.json here)')
  const result = await check(file)
  for (const w of result.warnings) out.write(`warning: ${w}\n`)
  if (values.strict === true && result.warnings.length > 0) {
    // A warning of check is a key source no token can pass today: an unreachable
    // endpoint, or an issuer whose discovery document names another issuer.
    throw new FJG_ERR_CHECK_STRICT(`${file}: ${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'}, refused by --strict`, result.warnings)
  }
  out.write(`${file}: configuration OK (${result.routes} route${result.routes === 1 ? '' : 's'}, ${result.keySources.length} key source${result.keySources.length === 1 ? '' : 's'})\n`)
  return 0
}
