// Memory under a flood of distinct tokens: the gateway's verified-token cache
// is bounded, so RSS after N distinct valid tokens must stay flat (target:
// under 150 MB after 100k). Used by memory.mjs and as run.mjs's last step.

import { ask, startServer, stop } from './children.mjs'
import { minter } from './keys.mjs'
import { drive, probe, summarize } from './load.mjs'

export const RSS_TARGET_MB = 150
const MB = 1024 * 1024

/**
 * Starts a gateway child (ES256 policy, default cache) in front of
 * `upstreamPort`, reads its memory, sends `count` distinct tokens, reads it
 * again. The child runs with --expose-gc so both readings follow a full GC.
 */
export async function measureMemory ({ upstreamPort, key, count, connections, log = () => {} }) {
  log(`memory: minting ${count.toLocaleString('en-US')} distinct ${key.alg} tokens...`)
  const mint = minter(key)
  const tokens = new Array(count)
  for (let i = 0; i < count; i++) tokens[i] = mint(1_000_000 + i)

  const { child, port } = await startServer('memory-gateway', {
    kind: 'gateway',
    upstream: `http://127.0.0.1:${upstreamPort}`,
    jwt: key.policy
  }, { execArgv: ['--expose-gc'] })
  try {
    const first = await probe(port, tokens[0])
    if (first.status !== 200) throw new Error(`gateway answered ${first.status} to a valid token: ${first.body.slice(0, 200)}`)
    const denied = await probe(port, null)
    if (denied.status !== 401) throw new Error(`gateway answered ${denied.status} without a token: authentication is not on`)
    const before = await ask(child, 'rss')
    log(`memory: RSS before ${(before.rss / MB).toFixed(1)} MB; sending ${count.toLocaleString('en-US')} requests...`)
    const result = summarize(await drive({ port, pool: { tokens, next: 1 }, connections, amount: count }))
    const after = await ask(child, 'rss')
    return {
      alg: key.alg,
      tokens: count,
      requests: result.requests,
      non2xx: result.non2xx,
      errors: result.errors,
      rps: result.rps,
      before: { rssMB: before.rss / MB, heapUsedMB: before.heapUsed / MB },
      after: { rssMB: after.rss / MB, heapUsedMB: after.heapUsed / MB },
      targetMB: RSS_TARGET_MB,
      met: after.rss / MB < RSS_TARGET_MB && result.non2xx === 0 && result.errors === 0
    }
  } finally {
    await stop(child)
  }
}

export function formatMemory (m) {
  const f = (v) => v.toFixed(1)
  return [
    `memory: ${m.tokens.toLocaleString('en-US')} distinct ${m.alg} tokens through the gateway ` +
      `(${m.requests.toLocaleString('en-US')} requests, ${m.non2xx} non-2xx, ${m.errors} errors, ${Math.round(m.rps).toLocaleString('en-US')} req/s)`,
    `  RSS      before ${f(m.before.rssMB)} MB → after ${f(m.after.rssMB)} MB (target < ${m.targetMB} MB: ${m.met ? 'met' : 'NOT met'})`,
    `  heapUsed before ${f(m.before.heapUsedMB)} MB → after ${f(m.after.heapUsedMB)} MB (after a full GC)`
  ].join('\n')
}
