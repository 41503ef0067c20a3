import { invalid, LIMITS, requireBoundedText } from "../service/request-validation.js";
import { DEFAULT_TENANT } from "./tenant-id.js";

/** 1 to 256 printable ASCII characters without spaces (the shape `--issuer` takes too). */
const ISSUER = /^[\x21-\x7e]{1,256}$/;

/** Where the default issuers of tenants other than `default` live, under the server's issuer. */
export function tenantIssuerPrefix(serverIssuer: string): string {
  return `${serverIssuer}/tenants/`;
}

/**
 * The `iss` of a tenant's derived JWTs: its configured issuer, else the server's for `default`
 * (single-tenant deployments see no change) and "<server issuer>/tenants/<id>" for the others.
 */
export function effectiveIssuer(serverIssuer: string, tenantId: string, configured: string | null): string {
  if (configured) return configured;
  return tenantId === DEFAULT_TENANT ? serverIssuer : `${tenantIssuerPrefix(serverIssuer)}${tenantId}`;
}

/**
 * A configured issuer from CreateTenant or UpdateTenant (null: empty, the default); INVALID_ARGUMENT
 * naming the field. The server's issuer and everything under its tenants prefix are the defaults'
 * own: a tenant configuring one could mint tokens carrying another tenant's `iss`.
 */
export function requireJwtIssuer(value: string, field: string, serverIssuer: string): string | null {
  if (value === "") return null;
  if (!ISSUER.test(value)) throw invalid(`${field}: must be 1 to 256 printable ASCII characters without spaces`);
  if (value === serverIssuer || value.startsWith(tenantIssuerPrefix(serverIssuer))) {
    throw invalid(`${field}: the server's issuer and issuers under ${tenantIssuerPrefix(serverIssuer)} are the tenants' defaults; leave it empty for the default`);
  }
  return value;
}

/** A tenant's default audience ("" for none); INVALID_ARGUMENT naming the field. */
export function requireJwtAudience(value: string, field: string): string {
  return requireBoundedText(value, field, LIMITS.audienceChars);
}
