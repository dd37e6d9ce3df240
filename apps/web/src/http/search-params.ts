/** Next's `searchParams` object as URLSearchParams (repeated keys kept, so the parser can refuse them). */
export function toSearchParams(input: Record<string, string | string[] | undefined>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(input)) {
    if (Array.isArray(value)) for (const v of value) params.append(name, v);
    else if (value !== undefined) params.append(name, value);
  }
  return params;
}

/** What a page receives from Next: its params and query, both as promises (Next 16). */
export interface PageProps<Params extends Record<string, string> = Record<string, never>> {
  params: Promise<Params>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}
