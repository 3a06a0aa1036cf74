// A real nginx for the auth endpoint tests: the config is written into a fresh
// temp folder, nginx runs in the foreground (`daemon off`) on a loopback port
// and is stopped in teardown. Nothing outside the folder is read or written.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, request } from './servers.js'

interface T { teardown (fn: () => unknown): void }

/** The nginx binary, or an error saying how to get one: a test that needs nginx fails without it, never skips. */
export function nginxBinary (): string {
  // Debian puts it in /usr/sbin, which a non-root PATH may lack.
  for (const bin of ['nginx', '/usr/sbin/nginx']) {
    const r = spawnSync(bin, ['-v'], { encoding: 'utf8', timeout: 5000 })
    if (r.error === undefined && r.status === 0) return bin
  }
  throw new Error('nginx is not on PATH: apt-get install -y nginx (.ci/run installs it when missing)')
}

function userLine (): string {
  // As root, nginx drops its workers to "nobody"; Debian has no "nobody" group.
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return ''
  let groups = ''
  try { groups = readFileSync('/etc/group', 'utf8') } catch {}
  return /^nogroup:/m.test(groups) ? 'user nobody nogroup;' : ''
}

/**
 * Starts nginx with `server` (the body of one `server {}` block, without
 * `listen`) on a free loopback port; resolves with its base URL.
 */
export async function startNginx (t: T, server: string): Promise<{ url: string, port: number, stderr: () => string }> {
  const bin = nginxBinary()
  const dir = mkdtempSync(join(tmpdir(), 'fjg-nginx-'))
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, `worker_processes 1;
${userLine()}
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
${server}
  }
}
`)
  let stderr = ''
  // -e stderr: the early error log, before the config is read (nginx ≥ 1.19.5).
  const child: ChildProcess = spawn(bin, ['-e', 'stderr', '-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  child.stderr?.on('data', (c: Buffer) => { stderr += String(c) })
  let exited = false
  const gone = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve() }))
  t.teardown(async () => {
    if (!exited) child.kill('SIGQUIT')
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 3000))])
    if (!exited) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    if (exited) throw new Error(`nginx exited:\n${stderr}`)
    try {
      await request(`${url}/__nginx_probe`)
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`nginx did not start:\n${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return { url, port, stderr: () => stderr }
}
