import { FJG_ERR_CLI_USAGE, UserError } from './errors.js'
import type { Io } from './cli.js'

export function convertCommand (_opts: { file?: string, out?: string }, _io: Io): number {
  throw new UserError(FJG_ERR_CLI_USAGE, 'convert: not implemented yet')
}
