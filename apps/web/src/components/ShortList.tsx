import type { ReactNode } from "react";

/**
 * A list that may run to hundreds of entries (the e2e tests of a common endpoint): the first `shown`,
 * then the rest behind "show all N", with nothing but HTML (`<details>`), so it opens without script.
 */
export function ShortList({
  items,
  shown = 8,
  noun,
  testId,
}: {
  /** Keyed entries, in the order to list them. */
  items: ReadonlyArray<{ key: string; content: ReactNode }>;
  shown?: number;
  /** What the entries are, plural ("tests"). */
  noun: string;
  testId?: string;
}) {
  const first = items.slice(0, shown);
  const rest = items.slice(shown);
  return (
    <div className="short-list" data-testid={testId} data-count={items.length}>
      <ul>
        {first.map((item) => (
          <li key={item.key}>{item.content}</li>
        ))}
      </ul>
      {rest.length > 0 && (
        <details>
          <summary>
            show all {items.length.toLocaleString("en")} {noun}
          </summary>
          <ul>
            {rest.map((item) => (
              <li key={item.key}>{item.content}</li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
