import type { UnknownCallRow, UnknownFieldRow } from "../data/dashboard-data";

/** Calls that matched no endpoint of the release, with why and who made them. */
export function UnknownCallsTable({ calls }: { calls: readonly UnknownCallRow[] }) {
  if (calls.length === 0) return <p className="empty">No unknown calls.</p>;
  return (
    <table className="table" data-testid="unknown-calls">
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
