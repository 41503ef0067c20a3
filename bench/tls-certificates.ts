// Certificates for the TLS scenarios, made with the openssl command at the start of a run: a CA and
// an ECDSA P-256 server certificate for 127.0.0.1/localhost that it signed (what a private CA or
// cert-manager typically issues). The load generator trusts the CA and checks the certificate.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface BenchTls {
  /** PEM of the CA, for clients (structured-clone safe). */
  ca: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

export function makeBenchCertificates(dir: string): BenchTls {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  run(["req", "-x509", ...KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Sigil bench CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
  run(["req", ...KEY, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  writeFileSync(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"]);
  const caFile = path.join(dir, "ca.pem");
  return { ca: readFileSync(caFile, "utf8"), caFile, certFile: path.join(dir, "server.pem"), keyFile: path.join(dir, "server.key") };
}
