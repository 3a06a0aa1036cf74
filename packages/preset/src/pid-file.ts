import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { FJG_ERR_CLI_USAGE, FJG_ERR_PID_FILE } from './errors.js'

// `start --pid-file F` / `reload --pid-file F`: nginx's `pid` directive and
// `nginx -s reload`, for hosts without systemd (which knows $MAINPID itself).

/** Writes this process's id to `file`, removed when the process exits. */
export function writePidFile (file: string): void {
  try {
    writeFileSync(file, `${process.pid}\n`)
  } catch (err) {
    throw new FJG_ERR_PID_FILE(`cannot write the pid file '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  process.once('exit', () => {
    // Only our own: another gateway may have taken the file over since.
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file)
    } catch {}
  })
}

/** `reload`: SIGHUP to the pid in the file. */
export function reloadCommand (values: { 'pid-file'?: string }, out: NodeJS.WritableStream): number {
  const file = values['pid-file']
  if (file === undefined) throw new FJG_ERR_CLI_USAGE('reload needs --pid-file <file> (the file `start --pid-file` wrote)')
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new FJG_ERR_PID_FILE(`cannot read the pid file '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const pid = Number(text)
  if (!/^\d+$/.test(text) || pid < 2) throw new FJG_ERR_PID_FILE(`the pid file '${file}' does not hold a process id`)
  try {
    process.kill(pid, 'SIGHUP')
  } catch (err) {
    throw new FJG_ERR_PID_FILE(`cannot signal process ${pid} from '${file}': ${(err as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process (is the gateway running?)' : (err as Error).message}`)
  }
  out.write(`sent SIGHUP to ${pid}: the gateway reloads its config (its log says whether it took it)\n`)
  return 0
}
