import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { FJG_ERR_CLI_USAGE, UserError } from './errors.js'
import { COMMANDS, commandHelp, mainHelp, parseArgsOptions } from './help.js'

export interface Io {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

export function version (): string {
  // dist/cli.js → ../package.json; read at run time so the build needs no JSON import.
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
}

function parse (command: keyof typeof COMMANDS, args: string[]): Record<string, string | boolean | string[] | undefined> {
  // `pnpm start -- --config x` may hand the separator through: it means nothing here.
  if (args[0] === '--') args = args.slice(1)
  try {
    // `convert` takes the nginx.conf file, `explain` the token (or "-").
    const parsed = parseArgs({ args, options: parseArgsOptions(COMMANDS[command].options), allowPositionals: command === 'convert' || command === 'explain', strict: true })
    if (command === 'explain') return { ...parsed.values, positionals: parsed.positionals }
    if (parsed.positionals.length > 1) throw new Error(`one file expected, got ${parsed.positionals.length}`)
    return { ...parsed.values, ...(parsed.positionals.length === 1 ? { file: parsed.positionals[0] } : {}) }
  } catch (err) {
    // parseArgs says what is wrong ("Unknown option '--prot'"); add where to look.
    throw new FJG_ERR_CLI_USAGE(`${(err as Error).message}\nRun \`fastify-jwt-gateway ${command} --help\` for usage.`)
  }
}

async function run (argv: string[], io: Io): Promise<number | undefined> {
  const [first, ...rest] = argv
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined
    if (topic !== undefined && topic in COMMANDS) io.stdout.write(commandHelp(COMMANDS[topic as keyof typeof COMMANDS]))
    else io.stdout.write(mainHelp(version()))
    return 0
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${version()}\n`)
    return 0
  }
  if (!(first in COMMANDS)) {
    throw new FJG_ERR_CLI_USAGE(`unknown command '${first}'\nRun \`fastify-jwt-gateway --help\` for the commands.`)
  }
  const command = first as keyof typeof COMMANDS
  let values: ReturnType<typeof parse>
  try {
    values = parse(command, rest)
  } catch (err) {
    // explain keeps 1 for "refused": its usage errors exit 2.
    if (command !== 'explain' || !(err instanceof UserError)) throw err
    io.stderr.write(`fastify-jwt-gateway: ${err.message}\n`)
    return 2
  }
  if (values.help === true) {
    io.stdout.write(commandHelp(COMMANDS[command]))
    return 0
  }
  // Commands load Fastify and the gateway: only when one runs, so --help and --version are instant.
  if (command === 'token') return (await import('./token.js')).tokenCommand(values as import('./token.js').TokenOptions, io.stdout)
  if (command === 'convert') return (await import('./convert.js')).convertCommand(values as { file?: string, out?: string }, io)
  if (command === 'check') return (await import('./check.js')).checkCommand(values as { config?: string, strict?: boolean }, io.stdout)
  if (command === 'explain') return (await import('./explain.js')).explainCommand(values as { config?: string, route?: string, positionals: string[] }, io.stdout, io.stderr)
  if (command === 'reload') return (await import('./pid-file.js')).reloadCommand(values as { 'pid-file'?: string }, io.stdout)
  if (command === 'revoke') return (await import('./revoke.js')).revokeCommand(values, io.stdout)
  return (await import('./start.js')).startCommand(values as { config?: string, host?: string, port?: string, 'pid-file'?: string })
}

/**
 * The CLI: `bin/fastify-jwt-gateway.js` calls this with process.argv.slice(2).
 * Resolves with the exit code, or undefined while `start` keeps running. A user
 * error prints its message, never a stack, and resolves 1.
 */
export async function main (argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number | undefined> {
  let code: number | undefined
  try {
    code = await run(argv, io)
  } catch (err) {
    if (err instanceof UserError) {
      io.stderr.write(`fastify-jwt-gateway: ${err.message}\n`)
    } else {
      io.stderr.write(`fastify-jwt-gateway: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`)
    }
    code = 1
  }
  // A cluster worker that is done (it failed to start) would be kept alive by
  // its IPC channel: let go of it so the process exits and the primary sees it.
  if (code !== undefined && cluster.isWorker) process.disconnect?.()
  return code
}
