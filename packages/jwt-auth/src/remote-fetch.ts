// One bounded HTTP GET of a JSON document, over Node's global fetch (undici).
// Bounded in time by the caller's AbortSignal (it covers the body too, not only
// the headers) and in size by a byte cap counted while reading: a server that
// omits or lies about Content-Length cannot make us buffer more than the cap.
// A source with `tls` brings its own undici Agent: then undici's fetch (the
// package, ^7) runs the request, since an Agent of that undici is not one
// Node 20's built-in fetch (undici 6) can be handed.
import { fetch as undiciFetch, type Dispatcher } from 'undici'

/** Bytes a key set, keyval document or discovery document may have. */
export const MAX_DOCUMENT_BYTES = 256 * 1024

export class FetchError extends Error {}

export interface FetchedJson {
  doc: unknown
  /** Seconds of freshness the server gave (Cache-Control max-age minus Age), null if none. */
  maxAge: number | null
}

/**
 * Freshness from `Cache-Control` (RFC 9111 §5.2.2): `no-store`/`no-cache` → 0,
 * `max-age=N` → N minus the `Age` already spent in caches on the way; null
 * when the server says nothing (the configured `cacheTtl` applies).
 */
export function freshness (cacheControl: string | null, age: string | null): number | null {
  if (cacheControl === null) return null
  let maxAge: number | null = null
  for (const part of cacheControl.split(',')) {
    const directive = part.trim().toLowerCase()
    if (directive === 'no-store' || directive === 'no-cache') return 0
    if (directive.startsWith('max-age=')) {
      const value = Number(directive.slice(8).replace(/^"|"$/g, ''))
      if (Number.isFinite(value) && value >= 0) maxAge = value
    }
  }
  if (maxAge === null) return null
  const spent = age === null ? 0 : Number(age)
  return Number.isFinite(spent) && spent > 0 ? Math.max(0, maxAge - spent) : maxAge
}

/** Network errors from undici are `TypeError('fetch failed')` with the real reason as `cause`. */
export function describeFetchError (err: unknown): string {
  const e = err as { message?: string, cause?: { code?: string, message?: string } }
  const cause = e?.cause
  if (cause !== undefined && cause !== null) return `${e.message ?? 'fetch failed'}: ${cause.code ?? cause.message ?? String(cause)}`
  return e?.message ?? String(err)
}

async function readCapped (res: Response, maxBytes: number): Promise<Buffer> {
  if (res.body === null) return Buffer.alloc(0)
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      // Stop reading and drop the connection: the rest is never downloaded.
      await reader.cancel().catch(() => {})
      throw new FetchError(`the body is larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

/** GET `url` as JSON. Throws FetchError (status, size, not JSON) or the fetch/abort error. */
export async function fetchJson (url: string, signal: AbortSignal, maxBytes = MAX_DOCUMENT_BYTES, dispatcher: Dispatcher | null = null): Promise<FetchedJson> {
  const init = {
    signal,
    redirect: 'follow' as const,
    headers: { accept: 'application/json', 'user-agent': 'fastify-jwt-gateway' }
  }
  const res = (dispatcher === null ? await fetch(url, init) : await undiciFetch(url, { ...init, dispatcher })) as Response
  if (!res.ok) {
    await res.body?.cancel().catch(() => {})
    throw new FetchError(`HTTP ${res.status}`)
  }
  const length = Number(res.headers.get('content-length'))
  if (length > maxBytes) {
    await res.body?.cancel().catch(() => {})
    throw new FetchError(`the body is larger than ${maxBytes} bytes (content-length ${length})`)
  }
  const bytes = await readCapped(res, maxBytes)
  let doc: unknown
  try {
    doc = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    // V8's message quotes the text around the fault, and a keyval document
    // holds secrets: only the position goes into the log.
    const type = res.headers.get('content-type') ?? 'no content-type'
    const at = /at position (\d+)/.exec((err as Error).message)
    throw new FetchError(`the body is not JSON (${type}${at === null ? '' : `, error at position ${at[1]}`})`)
  }
  return { doc, maxAge: freshness(res.headers.get('cache-control'), res.headers.get('age')) }
}
