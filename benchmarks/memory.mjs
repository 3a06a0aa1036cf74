// Memory check on its own: an origin, a gateway with an ES256 policy, and
// 100k distinct valid tokens through it; RSS before and after.
//
//   node benchmarks/memory.mjs [--tokens 100000] [--connections 50]

import { parseArgs } from 'node:util'
import { startServer, stop, stopAll } from './lib/children.mjs'
import { makeKey } from './lib/keys.mjs'
import { formatMemory, measureMemory } from './lib/memory.mjs'

const { values: args } = parseArgs({
  options: {
    tokens: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '50' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (args.help) {
  console.log('usage: node benchmarks/memory.mjs [--tokens 100000] [--connections 50]')
  process.exit(0)
}

let failed = false
try {
  const origin = await startServer('origin', { kind: 'origin' })
  try {
    const m = await measureMemory({
      upstreamPort: origin.port,
      key: makeKey('ES256'),
      count: Number(args.tokens),
      connections: Number(args.connections),
      log: (line) => console.error(line)
    })
    console.log(formatMemory(m))
    failed = !m.met
  } finally {
    await stop(origin.child)
  }
} catch (err) {
  console.error(err)
  failed = true
} finally {
  await stopAll()
}
// Informational: a benchmark never fails a build, but the exit code says whether the target held.
process.exitCode = failed ? 1 : 0
