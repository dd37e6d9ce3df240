import type { Metadata } from "next";
import Link from "next/link";
import { type ReactNode, Suspense } from "react";
import { SiteNav } from "../components/SiteNav";
import "./globals.css";

export const metadata: Metadata = {
  title: "apisnoop",
  description: "Which parts of the Kubernetes API your workloads and tests really use.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="site-header">
          <Link href="/" className="brand">
            api<span>snoop</span>
          </Link>
          <Suspense>
            <SiteNav />
          </Suspense>
        </header>
        <main className="page">{children}</main>
      </body>
    </html>
  );
}
