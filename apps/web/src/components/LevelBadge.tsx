import type { Level } from "@apisnoop/openapi";

/** A small coloured label: the level, or "deprecated". */
export function LevelBadge({ level, deprecated = false }: { level: Level; deprecated?: boolean }) {
  return (
    <>
      <span className={`badge badge-${level}`}>{level}</span>
      {deprecated && (
        <>
          {" "}
          <span className="badge badge-deprecated">deprecated</span>
        </>
      )}
    </>
  );
}
