import { describe, expect, it } from "vitest";

import { takeToken } from "../src/api";

/** Just the parts of a window takeToken touches: its address, history and tab storage. */
function fakeWindow(href: string): Window & { shown: () => string } {
  let current = href;
  const storage = new Map<string, string>();
  return {
    location: { get href() { return current; } },
    history: {
      state: null,
      replaceState: (_: unknown, __: string, url: string) => {
        current = new URL(url, current).toString();
      },
    },
    sessionStorage: {
      getItem: (key: string) => storage.get(key) ?? null,
      setItem: (key: string, value: string) => void storage.set(key, value),
    },
    shown: () => current,
  } as unknown as Window & { shown: () => string };
}

describe("takeToken", () => {
  it("takes the token from the fragment and removes it from the address bar", () => {
    const win = fakeWindow("http://127.0.0.1:8080/admin?view=x#token=s3cret");
    expect(takeToken(win)).toBe("s3cret");
    expect(win.shown()).toBe("http://127.0.0.1:8080/admin?view=x");
    // And the tab remembers it after the address no longer has it
    expect(takeToken(win)).toBe("s3cret");
  });

  it("keeps the rest of the fragment", () => {
    const win = fakeWindow("http://127.0.0.1:8080/admin#token=s3cret&panel=faults");
    expect(takeToken(win)).toBe("s3cret");
    expect(win.shown()).toBe("http://127.0.0.1:8080/admin#panel=faults");
  });

  it("never reads a token from the query string, which servers and logs see", () => {
    const win = fakeWindow("http://127.0.0.1:8080/admin?token=s3cret");
    expect(takeToken(win)).toBeNull();
  });
});
