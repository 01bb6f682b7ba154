/** The operator token, kept for this browser tab only (sessionStorage): never in a URL, a cookie or a log. */
const KEY = 'worksched.token';

export function readToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
