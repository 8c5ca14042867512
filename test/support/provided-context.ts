// What the global setup hands to every test file (vitest's provide/inject).
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string;
    templateDatabase: string;
  }
}
