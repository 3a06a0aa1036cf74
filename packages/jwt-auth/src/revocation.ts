import { readFileSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'

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

/** One list per kind; `lists[kind]` is swapped whole when a file changes, so a check sees one version. */
export class Revocation {
  readonly files: Partial<Record<RevocationKind, string>>
  readonly lists: Partial<Record<RevocationKind, Set<string>>> = {}
  private readonly watches: FileWatch[] = []

  /**
   * Reads every file now (a missing or invalid file throws, naming it), then
   * watches them: `watch: false` loads once; `fsWatch: false` leaves the stat
   * poll alone (what happens where fs.watch is unavailable).
   */
  constructor (files: Partial<Record<RevocationKind, string>>, log: RevocationLogger = SILENT, opts: { watch?: boolean, fsWatch?: boolean } = {}) {
    this.files = files
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

  /** True when the token's sub, kid or jti is revoked. */
  revoked (header: Record<string, unknown>, payload: Record<string, unknown>): boolean {
    const { sub, kid, jti } = this.lists
    if (sub !== undefined && typeof payload.sub === 'string' && sub.has(payload.sub)) return true
    if (kid !== undefined && typeof header.kid === 'string' && kid.has(header.kid)) return true
    if (jti !== undefined && typeof payload.jti === 'string' && jti.has(payload.jti)) return true
    return false
  }

  /** Stops watching; the last lists stay as they are. */
  close (): void {
    for (const w of this.watches) w.close()
    this.watches.length = 0
  }
}
