import { statSync } from "node:fs";
import type { Logger } from "pino";
import { loadTlsMaterial, type TlsFiles, type TlsMaterial } from "./tls-material.js";

/** The TLS material a listener serves now, and news of the next one. */
export interface TlsSource {
  readonly current: TlsMaterial;
  /** Called with each new material; returns an unsubscribe function. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
}

export type ReloadOutcome = "reloaded" | "unchanged" | "failed";

/**
 * Keeps the served certificate current without a restart: it checks the files' identity (inode,
 * size, mtime; stat follows symlinks, so an atomic symlink swap as Kubernetes secret volumes do is
 * seen) every `intervalMs`, and `reload()` re-reads them at once (SIGHUP). New material is used for
 * new connections only; existing connections keep theirs. A file that is missing, unreadable or
 * does not fit (a new certificate with the old key, half-way through a rotation) is logged and the
 * previous material stays in use; it is tried again when a file changes again.
 */
export class TlsReloader implements TlsSource {
  readonly #files: TlsFiles;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #listeners = new Set<(material: TlsMaterial) => void>();
  #current: TlsMaterial;
  #identity: string;
  #timer: NodeJS.Timeout | undefined;

  /** Loads the files once; throws the ConfigError of the first wrong one (start-up fails). */
  constructor(files: TlsFiles, options: { readonly intervalMs: number; readonly log: Logger }) {
    this.#files = files;
    this.#log = options.log;
    this.#intervalMs = options.intervalMs;
    this.#identity = this.#fileIdentity();
    this.#current = loadTlsMaterial(files);
  }

  get current(): TlsMaterial {
    return this.#current;
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      const identity = this.#fileIdentity();
      if (identity !== this.#identity) this.#reloadAs(identity, "file change");
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Re-reads the files now (SIGHUP). */
  reload(trigger = "SIGHUP"): ReloadOutcome {
    return this.#reloadAs(this.#fileIdentity(), trigger);
  }

  #reloadAs(identity: string, trigger: string): ReloadOutcome {
    this.#identity = identity;
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.#files);
    } catch (err) {
      this.#log.error({ trigger, err: { message: (err as Error).message } }, "new TLS files cannot be used; still serving the previous certificate");
      return "failed";
    }
    if (next.digest === this.#current.digest) return "unchanged";
    this.#current = next;
    for (const listener of this.#listeners) listener(next);
    this.#log.info({ trigger, subject: next.leaf.subject, notAfter: next.leaf.notAfter.toISOString(), fingerprint256: next.leaf.fingerprint256 }, "TLS certificate reloaded");
    return "reloaded";
  }

  #fileIdentity(): string {
    const files = [this.#files.certFile, this.#files.keyFile, this.#files.clientCaFile].filter((f): f is string => f !== undefined);
    return files
      .map((file) => {
        try {
          const s = statSync(file);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch (err) {
          return (err as NodeJS.ErrnoException).code ?? "error";
        }
      })
      .join("|");
  }
}
