import t from 'tap'
import * as errors from '../src/errors.js'
import * as api from '../src/index.js'

// Pins the gateway's answer table: a change of code, status or message is a
// breaking change for everyone who alerts on these codes or matches the body.
const expected: Record<string, [number, string, string]> = {
  FJG_ERR_UPSTREAM_UNAVAILABLE: [502, 'Bad Gateway', 'The upstream server is unavailable'],
  FJG_ERR_UPSTREAM_TIMEOUT: [504, 'Gateway Timeout', 'The upstream server did not answer in time'],
  FJG_ERR_METHOD_NOT_ALLOWED: [405, 'Method Not Allowed', 'The method is not allowed on this route'],
  FJG_ERR_PATH_NOT_CANONICAL: [400, 'Bad Request', 'The request path is not canonical'],
  FJG_ERR_BODY_TIMEOUT: [408, 'Request Timeout', 'The request body was not received in time'],
  FJG_ERR_RATE_LIMITED: [429, 'Too Many Requests', 'Rate limit exceeded'],
  FJG_ERR_RATE_LIMIT_UNAVAILABLE: [503, 'Service Unavailable', 'The rate-limit store is unavailable'],
  FJG_ERR_CLIENT_CERT_REQUIRED: [403, 'Forbidden', 'A valid client certificate is required'],
  FJG_ERR_UPSTREAM_NO_MATCH: [403, 'Forbidden', 'No upstream serves the token\'s claim value'],
  FJG_ERR_AUTH_UNTRUSTED: [403, 'Forbidden', 'The caller may not use the auth endpoint'],
  FJG_ERR_AUTH_NO_ROUTE: [404, 'Not Found', 'No route owns the original request path'],
  FJG_ERR_WEBSOCKET_DISABLED: [400, 'Bad Request', 'WebSocket is not enabled on this route']
}

t.test('the answer table', async (t) => {
  const table = Object.entries(errors).filter(([, v]) => typeof v === 'object' && v !== null) as Array<[string, errors.GatewayAnswer]>
  t.equal(table.length, Object.keys(expected).length, 'count')
  for (const [key, a] of table) {
    t.equal(a.code, key, `${key}: key === code`)
    t.same([a.statusCode, a.error, a.message], expected[key], `${key}: status, error, message`)
    t.ok(Object.isFrozen(a), `${key}: frozen`)
    t.equal((api as Record<string, unknown>)[key], a, `${key}: exported by the package`)
  }
  t.equal(errors.FJG_ERR_GATEWAY_CONFIG, 'FJG_ERR_GATEWAY_CONFIG')
  t.equal(new errors.GatewayConfigError(['a: b']).code, 'FJG_ERR_GATEWAY_CONFIG')
})
