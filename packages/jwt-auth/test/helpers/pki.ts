// A private PKI made per run with openssl, into a temp folder removed at
// teardown: a CA, server certificates for 127.0.0.1/localhost and client
// certificates. Real certificates, no fixtures to expire in the repository.
import { execFileSync } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

interface T { teardown (fn: () => unknown): void }

export interface Issued {
  /** Paths of the PEM files. */
  certFile: string
  keyFile: string
  cert: string
  key: string
  /** base64url SHA-256 of the DER: RFC 8705 `x5t#S256`. */
  thumbprint: string
  serial: string
}

export interface Pki {
  dir: string
  ca: Issued
  /** A server certificate for 127.0.0.1 and localhost, valid `days` days (default 90). */
  server (name: string, opts?: { days?: number }): Issued
  /** A client certificate with subject `/O=Test Org/CN=<cn>`, by this CA (or `by` another one). */
  client (cn: string, opts?: { by?: Issued }): Issued
  /** Another CA, to make certificates this PKI does not trust. */
  otherCa (name: string): Issued
}

function openssl (dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

function read (dir: string, name: string): Issued {
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  const cert = readFileSync(certFile, 'utf8')
  const x = new X509Certificate(cert)
  return { certFile, keyFile, cert, key: readFileSync(keyFile, 'utf8'), thumbprint: createHash('sha256').update(x.raw).digest('base64url'), serial: x.serialNumber }
}

let serial = 0x1000

export function makePki (t: T): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'fjg-pki-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  const makeCa = (name: string): Issued => {
    openssl(dir, ['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '400', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    return read(dir, name)
  }
  const issue = (name: string, subj: string, ext: string, days: number, by: Issued): Issued => {
    writeFileSync(join(dir, `${name}.ext`), ext)
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj])
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', by.certFile, '-CAkey', by.keyFile, '-set_serial', String(serial++),
      '-days', String(days), '-out', `${name}.crt`, '-extfile', `${name}.ext`])
    return read(dir, name)
  }
  const ca = makeCa('test-ca')
  return {
    dir,
    ca,
    server: (name, opts = {}) => issue(name, `/CN=${name}`,
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n', opts.days ?? 90, ca),
    client: (cn, opts = {}) => issue(`client-${cn}`, `/O=Test Org/CN=${cn}`,
      'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n', 90, opts.by ?? ca),
    otherCa: makeCa
  }
}
