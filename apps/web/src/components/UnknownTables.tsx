import type { UnknownCallRow, UnknownFieldRow } from "../data/dashboard-data";

/** Calls that matched no endpoint of the release, with why and who made them. */
export function UnknownCallsTable({
  calls,
  empty = "No unknown calls.",
  testId = "unknown-calls",
}: {
  calls: readonly UnknownCallRow[];
  empty?: string;
  testId?: string;
}) {
  if (calls.length === 0) return <p className="empty">{empty}</p>;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th>method and path</th>
          <th>reason</th>
          <th>sources</th>
          <th className="num">calls</th>
        </tr>
      </thead>
      <tbody>
        {calls.map((call) => (
          <tr key={`${call.method} ${call.path} ${call.reason}`}>
            <td className="mono">
              {call.method} {call.path}
            </td>
            <td>{call.reason}</td>
            <td>{call.sources.join(", ")}</td>
            <td className="num">{call.hits.toLocaleString("en")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Calls to the paths every apiserver serves outside its spec: not unknown, shown apart. */
export function OutsideSpecTable({ calls }: { calls: readonly UnknownCallRow[] }) {
  return <UnknownCallsTable calls={calls} empty="No calls to these paths." testId="outside-spec-calls" />;
}

/** Body fields that the release's schema does not have. */
export function UnknownFieldsTable({ fields }: { fields: readonly UnknownFieldRow[] }) {
  if (fields.length === 0) return <p className="empty">No unknown fields.</p>;
  return (
    <table className="table" data-testid="unknown-fields">
      <thead>
        <tr>
          <th>field</th>
          <th>endpoint</th>
          <th>in</th>
          <th>sources</th>
          <th className="num">uses</th>
        </tr>
      </thead>
      <tbody>
        {fields.map((field) => (
          <tr key={`${field.operationId} ${field.direction} ${field.field}`}>
            <td className="mono">{field.field}</td>
            <td>{field.operationId}</td>
            <td>{field.direction}</td>
            <td>{field.sources.join(", ")}</td>
            <td className="num">{field.hits.toLocaleString("en")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
