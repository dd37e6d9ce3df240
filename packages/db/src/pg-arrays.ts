/**
 * PostgreSQL array literals (`{"a","b"}`) for bulk statements: a whole column travels as one text
 * parameter that the server casts (`$1::text[]`) and `unnest`s. Building the literal is several times
 * faster than letting the driver serialise a JS array element by element.
 */

/** A `text[]` literal; null elements become SQL NULL. NUL characters, which PostgreSQL text cannot hold, become U+FFFD. */
export function textArray(values: readonly (string | null)[]): string {
  let literal = "{";
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) literal += ",";
    literal += value === null || value === undefined ? "NULL" : `"${escapeElement(value)}"`;
  }
  return `${literal}}`;
}

/** An `int[]` / `bigint[]` literal; null elements become SQL NULL. */
export function numberArray(values: readonly (number | bigint | null)[]): string {
  return `{${values.map((value) => (value === null ? "NULL" : value)).join(",")}}`;
}

/** A `boolean[]` literal. */
export function booleanArray(values: readonly boolean[]): string {
  return `{${values.map((value) => (value ? "t" : "f")).join(",")}}`;
}

const NUL = String.fromCharCode(0);

function escapeElement(value: string): string {
  const escaped = value.includes("\\") || value.includes('"') ? value.replace(/[\\"]/g, "\\$&") : value;
  return escaped.includes(NUL) ? escaped.replaceAll(NUL, "\uFFFD") : escaped;
}
