import { readFileSync } from 'node:fs'

// Revocation lists (nginx `jwt_revocation_list_sub` / `_kid`): a JSON object
// keyed by the revoked value (the nginx module's format) or an array of values.

export type RevocationKind = 'sub' | 'kid' | 'jti'

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

/** One list per kind; `lists[kind]` is swapped whole when a file changes, so a check sees one version. */
export class Revocation {
  readonly files: Partial<Record<RevocationKind, string>>
  readonly lists: Partial<Record<RevocationKind, Set<string>>> = {}

  constructor (files: Partial<Record<RevocationKind, string>>) {
    this.files = files
    for (const kind of Object.keys(files) as RevocationKind[]) {
      this.lists[kind] = readRevocation(files[kind] as string)
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

  close (): void {}
}
