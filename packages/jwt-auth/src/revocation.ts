import { readFileSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE } from './errors.js'
import type { RedisRevocation, RevocationStatus } from './revocation-redis.js'

// Revocation lists (nginx `jwt_revocation_list_sub` / `_kid`): a JSON object
// keyed by the revoked value (the nginx module's format) or an array of values.
//
// Reloaded while running: a watch on the file's folder (an editor or a deploy
// tool replaces the file by rename, which a watch on the file itself stops
// following on Linux) plus a stat poll, since fs.watch is unreliable on
// network and container file systems. A change is read within ~1 s; a file
// that becomes unreadable or invalid keeps the previous list and logs an error.

export type RevocationKind = 'sub' | 'kid' | 'jti'

/** Milliseconds between two stat polls of a revocation file. */
export const REVOCATION_POLL_INTERVAL = 500
/** Milliseconds a burst of change events is left to settle before one reload. */
export const REVOCATION_DEBOUNCE = 50

export interface RevocationLogger {
  info (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

const SILENT: RevocationLogger = { info () {}, error () {} }

export class RevocationError extends Error {}

/** Parses a revocation file's text into the set of revoked values. */
export function parseRevocation (text: string, file: string): Set<string> {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new RevocationError(`'${file}' is not valid JSON: ${(err as Error).message}`)
  }
  if (Array.isArray(doc)) {
    const out = new Set<string>()
    for (let i = 0; i < doc.length; i++) {
      const v = doc[i]
      if (typeof v === 'string') out.add(v)
      else if (typeof v === 'number') out.add(String(v))
      else throw new RevocationError(`'${file}': entry ${i} must be a string, got ${JSON.stringify(v)}`)
    }
    return out
  }
  if (doc !== null && typeof doc === 'object') return new Set(Object.keys(doc))
  throw new RevocationError(`'${file}' must hold a JSON object keyed by revoked value or an array of values`)
}

export function readRevocation (file: string): Set<string> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new RevocationError(`cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  return parseRevocation(text, file)
}

/** What identifies one version of a file: a rewrite or a replacement changes at least one. */
function signature (s: Stats): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`
}

/** Watches one file and reloads it into `lists[kind]`. */
class FileWatch {
  private watcher: FSWatcher | null = null
  private poll: NodeJS.Timeout | null = null
  private debounce: NodeJS.Timeout | null = null
  private seen: string
  private reading = false
  private again = false
  private closed = false

  constructor (
    private readonly owner: Revocation,
    private readonly kind: RevocationKind,
    private readonly file: string,
    initial: string,
    private readonly log: RevocationLogger,
    useFsWatch: boolean
  ) {
    this.seen = initial
    const name = basename(file)
    if (useFsWatch) this.startWatching(name)
    this.poll = setInterval(() => this.check(), REVOCATION_POLL_INTERVAL)
    this.poll.unref()
  }

  private startWatching (name: string): void {
    try {
      // persistent: false — a watch never keeps the process alive.
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) this.schedule()
      })
      this.watcher.on('error', () => this.stopWatching())
    } catch {
      // No watch here (some network file systems): the poll alone does the job.
      this.watcher = null
    }
  }

  private stopWatching (): void {
    this.watcher?.close()
    this.watcher = null
  }

  private schedule (): void {
    if (this.closed || this.debounce !== null) return
    this.debounce = setTimeout(() => {
      this.debounce = null
      this.reload()
    }, REVOCATION_DEBOUNCE)
    this.debounce.unref()
  }

  /** The poll: reload only when the file's identity, size or times moved. */
  private check (): void {
    if (this.closed || this.reading) return
    stat(this.file).then((s) => {
      if (signature(s) !== this.seen) this.schedule()
    }, (err: NodeJS.ErrnoException) => {
      const sig = `missing:${err.code ?? 'error'}`
      if (sig === this.seen) return
      this.seen = sig
      this.log.error({ revocation: { kind: this.kind, file: this.file, error: err.code ?? err.message } },
        'jwt: revocation list unreadable; keeping the previous list')
    })
  }

  private reload (): void {
    if (this.closed) return
    if (this.reading) {
      this.again = true
      return
    }
    this.reading = true
    // Stat before reading: a change after the stat shows as a new signature at the next poll.
    stat(this.file)
      .then(async (s) => {
        const sig = signature(s)
        const list = parseRevocation(await readFile(this.file, 'utf8'), this.file)
        return { sig, list }
      })
      .then(({ sig, list }) => {
        this.seen = sig
        if (this.closed) return
        const before = this.owner.lists[this.kind]?.size ?? 0
        // One assignment: a check sees the old Set or the new one, never a mix.
        this.owner.lists[this.kind] = list
        this.log.info({ revocation: { kind: this.kind, file: this.file, entries: list.size, before } }, 'jwt: revocation list reloaded')
      }, (err: Error & { code?: string }) => {
        if (this.closed) return
        // Remember the broken version so the poll does not report it again.
        let sig: string
        try {
          sig = signature(statSync(this.file))
        } catch {
          sig = `missing:${err.code ?? 'error'}`
        }
        if (sig === this.seen) return
        this.seen = sig
        const error = err instanceof RevocationError ? err.message : `cannot read '${this.file}': ${err.code ?? err.message}`
        this.log.error({ revocation: { kind: this.kind, file: this.file, error } }, 'jwt: revocation list invalid; keeping the previous list')
      })
      .finally(() => {
        this.reading = false
        if (this.again) {
          this.again = false
          this.schedule()
        }
      })
  }

  close (): void {
    this.closed = true
    this.stopWatching()
    if (this.poll !== null) clearInterval(this.poll)
    if (this.debounce !== null) clearTimeout(this.debounce)
    this.poll = null
    this.debounce = null
  }
}

/**
 * One list per kind; `lists[kind]` is swapped whole when a file changes, so a
 * check sees one version. With a Redis store beside the files, a value revoked
 * in either is revoked.
 */
export class Revocation {
  readonly files: Partial<Record<RevocationKind, string>>
  readonly lists: Partial<Record<RevocationKind, Set<string>>> = {}
  readonly redis: RedisRevocation | null
  private readonly watches: FileWatch[] = []

  /**
   * Reads every file now (a missing or invalid file throws, naming it), then
   * watches them: `watch: false` loads once; `fsWatch: false` leaves the stat
   * poll alone (what happens where fs.watch is unavailable).
   */
  constructor (files: Partial<Record<RevocationKind, string>>, log: RevocationLogger = SILENT, opts: { watch?: boolean, fsWatch?: boolean, redis?: RedisRevocation } = {}) {
    this.files = files
    this.redis = opts.redis ?? null
    const initial: Array<[RevocationKind, string, string]> = []
    for (const kind of Object.keys(files) as RevocationKind[]) {
      const file = files[kind] as string
      let sig = ''
      try {
        sig = signature(statSync(file))
      } catch {
        // readRevocation below reports it, naming the file.
      }
      this.lists[kind] = readRevocation(file)
      initial.push([kind, file, sig])
    }
    if (opts.watch !== false) {
      for (const [kind, file, sig] of initial) this.watches.push(new FileWatch(this, kind, file, sig, log, opts.fsWatch !== false))
    }
  }

  /**
   * Whether `value` of `kind` is revoked, in the files or in Redis. Throws
   * FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE while the Redis lists were never
   * loaded: fail closed. The lookup the verifier's kid binding uses.
   */
  isRevoked (kind: RevocationKind, value: string): boolean {
    if (this.lists[kind]?.has(value) === true) return true
    if (this.redis === null) return false
    const hit = this.redis.has(kind, value)
    if (hit === null) throw new FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE()
    return hit
  }

  /** True when the token's sub, kid or jti is revoked; throws as isRevoked does. */
  revoked (header: Record<string, unknown>, payload: Record<string, unknown>): boolean {
    const redis = this.redis
    if (redis !== null && redis.lists === null) throw new FJG_ERR_TOKEN_REVOCATION_UNAVAILABLE()
    const { sub, kid, jti } = this.lists
    if (typeof payload.sub === 'string' && (sub?.has(payload.sub) === true || redis?.has('sub', payload.sub) === true)) return true
    if (typeof header.kid === 'string' && (kid?.has(header.kid) === true || redis?.has('kid', header.kid) === true)) return true
    if (typeof payload.jti === 'string' && (jti?.has(payload.jti) === true || redis?.has('jti', payload.jti) === true)) return true
    return false
  }

  /** The first load of the Redis lists (bounded); resolves at once without Redis. */
  start (): Promise<void> {
    return this.redis === null ? Promise.resolve() : this.redis.start()
  }

  /** One entry per file, and the Redis store's. */
  status (): RevocationStatus[] {
    const out: RevocationStatus[] = []
    for (const kind of Object.keys(this.files) as RevocationKind[]) {
      out.push({ source: this.files[kind] as string, kind: 'file', state: 'ok', entries: { [kind]: this.lists[kind]?.size ?? 0 }, lastLoad: null, lastError: null })
    }
    if (this.redis !== null) out.push(this.redis.status())
    return out
  }

  /** Stops watching; the last lists stay as they are. The Redis store is closed by its owner (it may be shared). */
  close (): void {
    for (const w of this.watches) w.close()
    this.watches.length = 0
  }
}
