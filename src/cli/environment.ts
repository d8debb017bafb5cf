/** An environment variable's value; an empty one counts as not set, as a shell's `FERRY_USER=` means. */
export function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}
