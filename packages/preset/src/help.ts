// Help text kept as data (platformatic wattpm): each command lists its options
// once, and both `parseArgs` and `--help` are derived from that list.

export interface OptionSpec {
  name: string
  short?: string
  /** Placeholder of the value; absent for a flag. */
  value?: string
  description: string
}

export interface CommandSpec {
  name: string
  usage: string
  summary: string
  description: string
  options: OptionSpec[]
  examples: string[]
}

const help: OptionSpec = { name: 'help', short: 'h', description: 'Show this help' }

export const COMMANDS: Record<'start' | 'check' | 'revoke', CommandSpec> = {
  start: {
    name: 'start',
    usage: 'fastify-jwt-gateway start [--config <file>] [--host <host>] [--port <port>]',
    summary: 'Run the gateway (or, with no config, a demo)',
    description: [
      'Loads the config (default: ./gateway.json), checks it like `check` does, and listens.',
      'Without --config and without ./gateway.json, starts a demo: a leads / employees upstream,',
      'demo keys, and three curl lines that show the gateway at work.',
      'SIGTERM or SIGINT: stops accepting, lets requests in flight finish, exits 0.'
    ].join('\n'),
    options: [
      { name: 'config', short: 'c', value: 'file', description: 'Config file (JSON); relative paths in it resolve against its folder' },
      { name: 'host', value: 'host', description: 'Listen on this address (overrides server.host; default 127.0.0.1)' },
      { name: 'port', short: 'p', value: 'port', description: 'Listen on this port, 0 for any free one (overrides server.port; default 8080)' },
      help
    ],
    examples: [
      'fastify-jwt-gateway start',
      'fastify-jwt-gateway start --config gateway.json',
      'JWT_SECRET=... fastify-jwt-gateway start -c /etc/gateway/gateway.json --host 0.0.0.0 --port 80'
    ]
  },
  check: {
    name: 'check',
    usage: 'fastify-jwt-gateway check --config <file>',
    summary: 'Validate a config, its keys and revocation files, like `nginx -t`',
    description: [
      // eslint-disable-next-line no-template-curly-in-string
      'Runs every step of `start` short of listening: JSON syntax, ${ENV} placeholders, the schema,',
      'key files and revocation files. Prints every problem as `path: message` and exits 1,',
      'or prints a summary and exits 0. Remote key sets are fetched once and reported.'
    ].join('\n'),
    options: [
      { name: 'config', short: 'c', value: 'file', description: 'Config file to check (default: ./gateway.json)' },
      help
    ],
    examples: [
      'fastify-jwt-gateway check --config gateway.json && systemctl reload fastify-jwt-gateway'
    ]
  },
  revoke: {
    name: 'revoke',
    usage: 'fastify-jwt-gateway revoke --config <file> (--sub <v> | --kid <v> | --jti <v>) [--ttl <s>] [--remove] | --list',
    summary: 'Revoke a sub, kid or jti in the config\'s Redis: every instance refuses it within 1 s',
    description: [
      'Writes to every distinct `revocation.redis` store the config\'s policies read (url + prefix),',
      'and publishes the change: running gateways apply it at once, instances that were cut off',
      'apply it when they reconnect. --ttl: the revocation lapses after that many seconds (for a',
      'jti, the token\'s remaining lifetime). --remove lifts one; --list prints what is in force.',
      'Exits 1, naming it, when a store cannot be written.'
    ].join('\n'),
    options: [
      { name: 'config', short: 'c', value: 'file', description: 'Config file whose revocation.redis stores are written (default: ./gateway.json)' },
      { name: 'sub', value: 'value', description: 'Revoke every token of this subject' },
      { name: 'kid', value: 'value', description: 'Revoke every token of this signing key' },
      { name: 'jti', value: 'value', description: 'Revoke this one token' },
      { name: 'ttl', value: 'seconds', description: 'Lapse after this many seconds (default: for good)' },
      { name: 'remove', description: 'Lift the revocation instead' },
      { name: 'list', description: 'Print the revoked values in force, per store' },
      help
    ],
    examples: [
      'fastify-jwt-gateway revoke --config gateway.json --sub alice',
      'fastify-jwt-gateway revoke -c gateway.json --jti 5f1c... --ttl 3600',
      'fastify-jwt-gateway revoke -c gateway.json --sub alice --remove',
      'fastify-jwt-gateway revoke -c gateway.json --list'
    ]
  }
}

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: 'help', short: 'h', description: 'Show help (also: <command> --help)' },
  { name: 'version', short: 'v', description: 'Print the version' }
]

function optionLines (options: OptionSpec[]): string[] {
  const left = options.map((o) => `${o.short === undefined ? '    ' : `-${o.short}, `}--${o.name}${o.value === undefined ? '' : ` <${o.value}>`}`)
  const width = Math.max(...left.map((l) => l.length)) + 2
  return options.map((o, i) => `  ${(left[i] as string).padEnd(width)}${o.description}`)
}

export function commandHelp (spec: CommandSpec): string {
  return [
    `Usage: ${spec.usage}`,
    '',
    spec.summary + '.',
    '',
    spec.description,
    '',
    'Options:',
    ...optionLines(spec.options),
    '',
    'Examples:',
    ...spec.examples.map((e) => `  ${e}`),
    ''
  ].join('\n')
}

export function mainHelp (version: string): string {
  const names = Object.values(COMMANDS)
  const width = Math.max(...names.map((c) => c.name.length)) + 2
  return [
    `fastify-jwt-gateway ${version}: JWT authentication at the edge, from a JSON config.`,
    '',
    'Usage: fastify-jwt-gateway <command> [options]',
    '',
    'Commands:',
    ...names.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Run `fastify-jwt-gateway <command> --help` for the options of a command.',
    'Config reference: https://www.npmjs.com/package/fastify-jwt-gateway (README), schema: node_modules/fastify-jwt-gateway/schema.json',
    ''
  ].join('\n')
}

/** parseArgs options from a command's spec. */
export function parseArgsOptions (options: OptionSpec[]): Record<string, { type: 'string' | 'boolean', short?: string }> {
  const out: Record<string, { type: 'string' | 'boolean', short?: string }> = {}
  for (const o of options) out[o.name] = { type: o.value === undefined ? 'boolean' : 'string', ...(o.short === undefined ? {} : { short: o.short }) }
  return out
}
