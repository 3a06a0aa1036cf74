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

// How operators run it, shown by `start --help` and `check --help`.
const OPERATIONS = [
  'Reload: SIGHUP (or `fastify-jwt-gateway reload --pid-file <file>`) checks the config file as',
  '`check` does. Valid: new requests get the new config, requests in flight finish on the old one,',
  'no connection is refused. Invalid: every problem is logged and the running config stays.',
  'With server.workers, the primary checks it and replaces the workers one by one.',
  'systemd: ExecStart=/usr/bin/fastify-jwt-gateway start --config /etc/fastify-jwt-gateway/gateway.json',
  '         ExecReload=/bin/kill -HUP $MAINPID   (then `systemctl reload fastify-jwt-gateway`)',
  'Kubernetes: livenessProbe on server.healthPath (/__gateway/health), readinessProbe on',
  'server.readyPath (/__gateway/ready: 503 while a key source is unusable); a changed ConfigMap',
  'is taken with `kubectl exec <pod> -- kill -HUP 1`, or by rolling the Deployment.',
  'Examples: examples/deploy/ (Dockerfile, systemd unit, Kubernetes Deployment).'
].join('\n')

export const COMMANDS: Record<'start' | 'check' | 'reload' | 'explain' | 'token' | 'convert' | 'revoke', CommandSpec> = {
  start: {
    name: 'start',
    usage: 'fastify-jwt-gateway start [--config <file>] [--host <host>] [--port <port>]',
    summary: 'Run the gateway (or, with no config, a demo)',
    description: [
      'Loads the config (default: ./gateway.json), checks it like `check` does, and listens.',
      'Without --config and without ./gateway.json, starts a demo: a leads / employees upstream,',
      'demo keys, and three curl lines that show the gateway at work.',
      'SIGTERM or SIGINT: stops accepting, lets requests in flight finish, exits 0.',
      '',
      OPERATIONS
    ].join('\n'),
    options: [
      { name: 'config', short: 'c', value: 'file', description: 'Config file (JSON); relative paths in it resolve against its folder' },
      { name: 'host', value: 'host', description: 'Listen on this address (overrides server.host; default 127.0.0.1)' },
      { name: 'port', short: 'p', value: 'port', description: 'Listen on this port, 0 for any free one (overrides server.port; default 8080)' },
      { name: 'pid-file', value: 'file', description: 'Write the process id here once listening (removed on exit), for `reload --pid-file`' },
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
      'or prints a summary and exits 0. Remote key sets are fetched once; one that cannot be used',
      '(unreachable, or an issuer whose discovery document names another issuer) is a warning,',
      'and with --strict a failure (exit 1).',
      '',
      OPERATIONS
    ].join('\n'),
    options: [
      { name: 'config', short: 'c', value: 'file', description: 'Config file to check (default: ./gateway.json)' },
      { name: 'strict', description: 'Fail on warnings too (a key source that cannot be used now)' },
      help
    ],
    examples: [
      'fastify-jwt-gateway check --config gateway.json && systemctl reload fastify-jwt-gateway',
      'fastify-jwt-gateway check --strict --config gateway.json'
    ]
  },
  reload: {
    name: 'reload',
    usage: 'fastify-jwt-gateway reload --pid-file <file>',
    summary: 'Tell a running gateway to reload its config (SIGHUP to the pid in the file)',
    description: [
      'Sends SIGHUP to the process whose id `start --pid-file <file>` wrote. The gateway then checks',
      'its config file and swaps it in, or logs the problems and keeps the running config:',
      'run `check` first to see them here.'
    ].join('\n'),
    options: [
      { name: 'pid-file', value: 'file', description: 'The file `start --pid-file` wrote' },
      help
    ],
    examples: [
      'fastify-jwt-gateway check -c gateway.json && fastify-jwt-gateway reload --pid-file /run/fjg.pid'
    ]
  },
  token: {
    name: 'token',
    usage: 'fastify-jwt-gateway token --key <file> [--claims <json>] [--exp <duration>] [--kid <kid>] [--alg <alg>]',
    summary: 'Mint a token with a private key file (a development tool, for demos and tests)',
    description: [
      'Signs the claims with the key and prints the token. The key file is a PEM private key,',
      'a private JWK or JWKS (pick a key with --kid), an "oct" JWK, or, with --alg HS256/384/512,',
      'a file holding the HMAC secret. A public-only key is refused. iat is now; exp is now + --exp',
      '(default 1h; `none` for no exp) unless --claims sets its own. Not an identity provider:',
      'use it against development keys, never to hand out production tokens.'
    ].join('\n'),
    options: [
      { name: 'key', short: 'k', value: 'file', description: 'Private key file: PEM, JWK, JWKS or (with --alg HS*) a secret' },
      { name: 'claims', value: 'json', description: 'The payload, a JSON object (default {})' },
      { name: 'exp', value: 'duration', description: 'Lifetime: 3600, 30s, 15m, 1h, 7d, or none (default 1h)' },
      { name: 'kid', value: 'kid', description: 'kid header (default: the JWK\'s kid); selects the key of a JWKS' },
      { name: 'alg', value: 'alg', description: 'Algorithm (default: from the key: RS256, ES256/384/512, EdDSA, HS256)' },
      help
    ],
    examples: [
      'fastify-jwt-gateway token --key keys/dev.pem --claims \'{"sub":"alice","iss":"https://issuer.example"}\'',
      'curl -H "Authorization: Bearer $(fastify-jwt-gateway token -k dev.jwk.json --exp 15m)" http://127.0.0.1:8080/api'
    ]
  },
  convert: {
    name: 'convert',
    usage: 'fastify-jwt-gateway convert <nginx.conf> [--out <file>]',
    summary: 'Translate an nginx config (auth_jwt / jwt_* directives) into a gateway.json',
    description: [
      'Reads the nginx config and prints the equivalent gateway.json on stdout (or writes --out).',
      'Every directive it cannot translate is listed on stderr with its line number and why;',
      'review those before `check` and `start`. Exit code 0 when a config was produced.'
    ].join('\n'),
    options: [
      { name: 'out', short: 'o', value: 'file', description: 'Write the config to this file instead of stdout' },
      help
    ],
    examples: [
      'fastify-jwt-gateway convert /etc/nginx/nginx.conf --out gateway.json && fastify-jwt-gateway check -c gateway.json'
    ]
  },
  explain: {
    name: 'explain',
    usage: 'fastify-jwt-gateway explain --config <file> [--route <path>] [<token> | -]',
    summary: 'Say why the gateway would accept or refuse a token',
    description: [
      'Decodes the token (header and payload; never the signature), picks the route that serves',
      '<path> (default: the first route with a policy), runs every check of its policy and prints',
      'each with the values it saw, then the answer the gateway would give. With "-" or no token,',
      'reads it from stdin (keeps it out of shell history). Remote key sets are fetched as at start.',
      'Exit 0: accepted; 1: refused; 2: usage or config error.'
    ].join('\n'),
    options: [
      { name: 'config', short: 'c', value: 'file', description: 'Config file (default: ./gateway.json)' },
      { name: 'route', short: 'r', value: 'path', description: 'Request path whose route to use, e.g. /api/orders' },
      help
    ],
    examples: [
      'pbpaste | fastify-jwt-gateway explain --config gateway.json --route /api/orders -'
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
