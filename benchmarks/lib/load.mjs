// The load generator side: a probe that checks a variant answers what it
// should (200 with a token, 401 without one where auth is on) before any
// figure is taken, and autocannon driving it.

import { request } from 'node:http'
import autocannon from 'autocannon'

export const PATH = '/api/hello'
export const EXPECTED_BODY = '{"hello":"world"}'

/** One GET on 127.0.0.1:port; resolves with { status, body }. */
export function probe (port, token, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {}
    const req = request({ host: '127.0.0.1', port, path: PATH, headers, timeout, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeout} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/**
 * Polls until the server answers (any status); for servers that cannot report
 * readiness (nginx, the preset). Gives up at once when `alive()` turns false.
 */
export async function waitForHttp (port, token, timeout = 10_000, alive = () => true) {
  const until = Date.now() + timeout
  for (;;) {
    try {
      return await probe(port, token, 1000)
    } catch (err) {
      if (Date.now() > until || !alive()) throw err
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/**
 * Drives 127.0.0.1:port for `duration` seconds (or `amount` requests). Every
 * request carries `Authorization: Bearer <token>`, the tokens taken in turn
 * from `pool.tokens` starting at `pool.next` (which is advanced: a warm-up and
 * the measurement that follows never reuse each other's tokens). One token
 * means a repeated token. Every variant goes through the same setupRequest
 * path, so the load generator costs the same whatever the pool.
 */
export function drive ({ port, pool, duration, connections, amount }) {
  const tokens = pool.tokens
  const n = tokens.length
  const opts = {
    url: `http://127.0.0.1:${port}`,
    connections,
    pipelining: 1,
    // A hung server must not hang the run.
    timeout: 10,
    requests: [{
      method: 'GET',
      path: PATH,
      setupRequest (req) {
        req.headers.authorization = `Bearer ${tokens[pool.next]}`
        pool.next = (pool.next + 1) % n
        return req
      }
    }]
  }
  if (amount !== undefined) opts.amount = amount
  else opts.duration = duration
  return autocannon(opts)
}

/** The figures a report keeps from an autocannon result. */
export function summarize (result) {
  const seconds = result.duration
  const ok = result['2xx']
  return {
    rps: result.requests.total / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    ok,
    seconds
  }
}
