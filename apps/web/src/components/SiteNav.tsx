"use client";

import Link from "next/link";
import { usePathname, useSearchParams } from "next/navigation";

const LINKS = [
  { href: "/", label: "Overview" },
  { href: "/unknown", label: "Unknown calls & fields" },
];

/** The header's links; they carry the current filters along, so switching views keeps the selection. */
export function SiteNav() {
  const pathname = usePathname();
  const query = useSearchParams().toString();
  return (
    <nav className="site-nav" aria-label="Views">
      {LINKS.map((link) => (
        <Link
          key={link.href}
          href={query ? `${link.href}?${query}` : link.href}
          aria-current={pathname === link.href ? "page" : undefined}
        >
          {link.label}
        </Link>
      ))}
      <a href={`/api/v1/coverage${query ? `?${query}` : ""}`}>JSON</a>
      <a href={`/api/v1/coverage.csv${query ? `?${query}` : ""}`}>CSV</a>
    </nav>
  );
}
