// Client-side routes under the console's base path (`/ui/`), on the History API. The query
// string is part of the route: pages keep their shareable state there.
import { useEffect, useState } from 'preact/hooks';

export type Page = 'overview' | 'explorer' | 'metrics' | 'alerts' | 'admin' | 'sign-in';

const BASE = import.meta.env.BASE_URL;
const SEGMENTS: Record<Page, string> = {
  overview: '',
  explorer: 'explorer',
  metrics: 'metrics',
  alerts: 'alerts',
  admin: 'admin',
  'sign-in': 'sign-in',
};
const NAVIGATED = 'console:navigated';

export interface Location {
  page: Page | null;
  search: URLSearchParams;
  /** Path and query, as given to `navigate`. */
  href: string;
}

export function hrefFor(page: Page, search?: URLSearchParams): string {
  const query = search?.toString() ?? '';
  return `${BASE}${SEGMENTS[page]}${query === '' ? '' : `?${query}`}`;
}

function currentLocation(): Location {
  const { pathname, search } = window.location;
  const segment = pathname.startsWith(BASE) ? pathname.slice(BASE.length).replace(/\/+$/, '') : null;
  const page = (Object.keys(SEGMENTS) as Page[]).find((candidate) => SEGMENTS[candidate] === segment) ?? null;
  return { page, search: new URLSearchParams(search), href: `${pathname}${search}` };
}

/** Goes to another console address; `replace` rewrites the current history entry. */
export function navigate(href: string, options: { replace?: boolean } = {}): void {
  if (href === `${window.location.pathname}${window.location.search}`) return;
  if (options.replace === true) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  window.dispatchEvent(new Event(NAVIGATED));
}

/** True for an address inside the console (so a `next` parameter cannot leave it). */
export function isConsoleHref(href: string): boolean {
  return href.startsWith(BASE) && !href.startsWith('//');
}

export function useLocation(): Location {
  const [location, setLocation] = useState(currentLocation);
  useEffect(() => {
    const update = (): void => setLocation(currentLocation());
    window.addEventListener('popstate', update);
    window.addEventListener(NAVIGATED, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAVIGATED, update);
    };
  }, []);
  return location;
}

/** Replaces some query parameters of the current page (empty values are removed). */
export function updateSearch(
  changes: Record<string, string | null | undefined>,
  options: { replace?: boolean } = {},
): void {
  const search = new URLSearchParams(window.location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '') search.delete(name);
    else search.set(name, value);
  }
  const query = search.toString();
  navigate(`${window.location.pathname}${query === '' ? '' : `?${query}`}`, options);
}
