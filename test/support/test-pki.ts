import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** A certificate and its key, as PEM files. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * Certificates made for a test with the openssl command (EC P-256, valid for two days):
 * a root CA, an intermediate CA under it, a server certificate for 127.0.0.1/localhost issued by the
 * intermediate (its file holds the chain: leaf, then intermediate), a client certificate from the
 * root, and another CA with a client certificate of its own (for "wrong client certificate").
 */
export interface TestPki {
  readonly dir: string;
  /** Root CA certificate: what clients trust, and the client CA for mTLS. */
  readonly caFile: string;
  readonly server: CertFiles;
  readonly client: CertFiles;
  /** A CA nobody trusts, and a client certificate it signed. */
  readonly otherCaFile: string;
  readonly otherClient: CertFiles;
  /** Issues another server certificate (same names, new key) from the intermediate: a rotation. */
  issueServer(name: string): CertFiles;
  /** A self-signed server certificate no client trusts. */
  selfSigned(name: string): CertFiles;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-pki-"));
  const file = (name: string) => path.join(dir, name);
  const extensions = (name: string, lines: string[]) => {
    writeFileSync(file(`${name}.ext`), lines.join("\n") + "\n");
    return file(`${name}.ext`);
  };
  const ca = (name: string, subject: string) => {
    openssl(["req", "-x509", ...KEY, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  };
  const issue = (name: string, subject: string, issuer: string, ext: string[]): CertFiles => {
    openssl(["req", ...KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", extensions(name, ext)], dir);
    return { cert: file(`${name}.pem`), key: file(`${name}.key`) };
  };
  const serverExt = ["subjectAltName=IP:127.0.0.1,DNS:localhost", "extendedKeyUsage=serverAuth", "keyUsage=critical,digitalSignature"];
  const clientExt = ["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature"];

  ca("ca", "/CN=Sigil Test Root CA");
  issue("intermediate", "/CN=Sigil Test Intermediate CA", "ca", ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign"]);
  const issueServer = (name: string): CertFiles => {
    const leaf = issue(name, "/CN=localhost", "intermediate", serverExt);
    // The served file holds the chain up to (not including) the root the clients trust.
    writeFileSync(leaf.cert, readFileSync(leaf.cert, "utf8") + readFileSync(file("intermediate.pem"), "utf8"));
    return leaf;
  };
  const server = issueServer("server");
  const client = issue("client", "/CN=svc-billing", "ca", clientExt);
  ca("other-ca", "/CN=Someone Else's CA");
  const otherClient = issue("other-client", "/CN=intruder", "other-ca", clientExt);
  return {
    dir,
    caFile: file("ca.pem"),
    server,
    client,
    otherCaFile: file("other-ca.pem"),
    otherClient,
    issueServer,
    selfSigned(name) {
      openssl(["req", "-x509", ...KEY, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], dir);
      return { cert: file(`${name}.pem`), key: file(`${name}.key`) };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The certificate fingerprint (SHA-256, colon hex) of the first certificate in a PEM file. */
export async function fingerprintOf(certFile: string): Promise<string> {
  const { X509Certificate } = await import("node:crypto");
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}
