/** Checks of numeric options, failing with the option's name: `who: name must be …`. */
export function positiveOption(value: number, name: string, who: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${who}: ${name} must be a positive number`);
  return value;
}

export function nonNegativeOption(value: number, name: string, who: string): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${who}: ${name} must be zero or a positive number`);
  return value;
}
