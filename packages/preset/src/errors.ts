// The preset's own errors: mistakes in the config or the command line, shown to
// the operator as plain lines (no stack) with exit code 1. A class rather than
// @fastify/error because the value is the list of problems, not an HTTP status.

export class UserError extends Error {
  readonly code: string
  /** One line each, `path: message` where a path applies. */
  readonly problems: readonly string[]

  constructor (code: string, headline: string, problems: readonly string[] = []) {
    super(problems.length === 0 ? headline : `${headline}\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'UserError'
    this.code = code
    this.problems = problems
  }
}

export const FJG_ERR_CONFIG_READ = 'FJG_ERR_CONFIG_READ'
export const FJG_ERR_CONFIG_SYNTAX = 'FJG_ERR_CONFIG_SYNTAX'
export const FJG_ERR_CONFIG_ENV = 'FJG_ERR_CONFIG_ENV'
export const FJG_ERR_CONFIG_INVALID = 'FJG_ERR_CONFIG_INVALID'
export const FJG_ERR_CLI_USAGE = 'FJG_ERR_CLI_USAGE'
export const FJG_ERR_LISTEN = 'FJG_ERR_LISTEN'
export const FJG_ERR_CHECK_STRICT = 'FJG_ERR_CHECK_STRICT'
export const FJG_ERR_PID_FILE = 'FJG_ERR_PID_FILE'
export const FJG_ERR_REVOKE_STORE = 'FJG_ERR_REVOKE_STORE'
