"use client";

import Link from "next/link";
import { usePathname, useSearchParams } from "next/navigation";
import { navQuery } from "../filters/nav-query";

const LINKS = [
  { href: "/", label: "Overview" },
  { href: "/priorities", label: "Tests to write" },
  { href: "/unknown", label: "Unknown calls & fields" },
  { href: "/compare", label: "Compare releases" },
  { href: "/report", label: "Upgrade readiness" },
  { href: "/conformance", label: "Conformance" },
];

/** Views whose query is a coverage selection the JSON and CSV exports understand. */
const EXPORTABLE = new Set(["/", "/unknown"]);

/** The header's links; they carry the current filters along, so switching views keeps the selection. */
export function SiteNav() {
  const pathname = usePathname();
  const params = new URLSearchParams(useSearchParams().toString());
  const exportQuery = EXPORTABLE.has(pathname) ? params.toString() : navQuery("/", pathname, params);
  return (
    <nav className="site-nav" aria-label="Views">
      {LINKS.map((link) => {
        const query = navQuery(link.href, pathname, params);
        return (
          <Link
            key={link.href}
            href={query ? `${link.href}?${query}` : link.href}
            aria-current={pathname === link.href ? "page" : undefined}
          >
            {link.label}
          </Link>
        );
      })}
      <a href={`/api/v1/coverage${exportQuery ? `?${exportQuery}` : ""}`}>JSON</a>
      <a href={`/api/v1/coverage.csv${exportQuery ? `?${exportQuery}` : ""}`}>CSV</a>
    </nav>
  );
}
