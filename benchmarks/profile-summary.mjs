// Summarises a .cpuprofile (from `run.mjs --profile` or `node --cpu-prof`):
// self time per function, and total (inclusive) time for functions of our
// packages, so a hot-path cost can be named without opening DevTools.
//
//   node benchmarks/profile-summary.mjs FILE.cpuprofile [--top 25] [--match jwt-auth]

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    match: { type: 'string', default: 'packages/' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})
if (args.help || positionals.length === 0) {
  console.log('usage: node benchmarks/profile-summary.mjs FILE.cpuprofile [--top 25] [--match packages/]')
  process.exit(args.help ? 0 : 2)
}
const top = Number(args.top)

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  // Self samples per node, from the sample list (timeDeltas are per sample).
  const selfUs = new Map()
  let totalUs = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
    totalUs += dt
  })

  const label = (n) => {
    const f = n.callFrame
    const url = f.url.replace(/^file:\/\//, '').replace(/.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '')
      .replace(/.*\/(packages\/[^/]+\/)/, '$1')
    return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim()
  }

  const self = new Map()
  const inclusive = new Map()
  for (const [id, us] of selfUs) {
    const n = nodes.get(id)
    const key = label(n)
    self.set(key, (self.get(key) ?? 0) + us)
    // Inclusive: credit every distinct frame on the stack once.
    const seen = new Set()
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = label(nodes.get(cur))
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + us)
    }
  }

  const pct = (us) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`
  console.log(`\n${file}: ${(totalUs / 1e6).toFixed(2)} s sampled`)
  console.log(`\n  self time, top ${top}:`)
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`)
  console.log(`\n  total time of frames matching "${args.match}", top ${top}:`)
  for (const [k, us] of [...inclusive].filter(([k]) => k.includes(args.match)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(us)}  ${k}`)
  }
}
