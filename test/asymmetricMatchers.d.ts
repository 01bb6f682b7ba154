/// <reference types="jest" />
/**
 * @types/jest types the asymmetric matchers (expect.any, expect.stringContaining, ...) as returning `any`, which
 * the type-checked lint rules then flag wherever one sits in an expected object. These overloads, merged ahead of
 * the originals, give them the matcher type they really return.
 */
declare namespace jest {
  interface Expect {
    any(classType: unknown): AsymmetricMatcher;
    anything(): AsymmetricMatcher;
    arrayContaining(arr: readonly unknown[]): AsymmetricMatcher;
    objectContaining(obj: object): AsymmetricMatcher;
    stringContaining(str: string): AsymmetricMatcher;
    stringMatching(str: string | RegExp): AsymmetricMatcher;
  }
}
