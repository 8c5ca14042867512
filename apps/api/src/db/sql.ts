/** A parameterized statement, built by a pure function so its shape can be tested without a database. */
export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * A timestamptz as RFC 3339 text in UTC with all six fractional digits. node-pg
 * would turn it into a JS Date and drop the microseconds.
 */
export function isoTimestamp(column: string): string {
  return `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}
