// The preset's own errors: mistakes in the config or the command line, shown
// to the operator as plain lines (no stack) with exit code 1. One table of
// @fastify/error constructors, as in jwt-auth and the gateway: constants named
// by their code, pinned by test/errors.test.ts. Each takes a headline and the
// problems (one line each) and is a UserError; the status is @fastify/error's
// 500 (a config that cannot run), never sent: these errors stop a command.
import createError from '@fastify/error'

/**
 * What every preset error is (`err instanceof UserError`): `code`, the
 * `problems` (one line each, `path: message` where a path applies), and a
 * message of the headline and one indented line per problem. Made by the
 * constructors below, never directly.
 */
export class UserError extends Error {
  declare readonly code: string
  declare readonly statusCode: number
  declare readonly problems: readonly string[]
}

/** One entry of the table: `new FJG_ERR_CONFIG_INVALID(headline, problems)`. */
export type UserErrorConstructor = new (headline: string, problems?: readonly string[]) => UserError

function userError (code: string): UserErrorConstructor {
  // @fastify/error with UserError as its base (its prototype, for instanceof).
  const Coded = createError(code, '%s', 500, UserError as unknown as ErrorConstructor) as unknown as new (message: string) => UserError
  return class extends Coded {
    constructor (headline: string, problems: readonly string[] = []) {
      super(problems.length === 0 ? headline : `${headline}\n${problems.map((p) => `  ${p}`).join('\n')}`)
      this.name = 'UserError'
      ;(this as { problems: readonly string[] }).problems = problems
    }
  }
}

export const FJG_ERR_CONFIG_READ = userError('FJG_ERR_CONFIG_READ')
export const FJG_ERR_CONFIG_SYNTAX = userError('FJG_ERR_CONFIG_SYNTAX')
export const FJG_ERR_CONFIG_ENV = userError('FJG_ERR_CONFIG_ENV')
export const FJG_ERR_CONFIG_INVALID = userError('FJG_ERR_CONFIG_INVALID')
export const FJG_ERR_CLI_USAGE = userError('FJG_ERR_CLI_USAGE')
export const FJG_ERR_LISTEN = userError('FJG_ERR_LISTEN')
export const FJG_ERR_CHECK_STRICT = userError('FJG_ERR_CHECK_STRICT')
export const FJG_ERR_PID_FILE = userError('FJG_ERR_PID_FILE')
export const FJG_ERR_REVOKE_STORE = userError('FJG_ERR_REVOKE_STORE')
/** `token`: the key file cannot sign (public only, unreadable, unsupported). */
export const FJG_ERR_TOKEN_KEY = userError('FJG_ERR_TOKEN_KEY')
