// The slice of react-dom/client the UI tests use. @types/react-dom is not installed; when it is,
// delete this file.
declare module 'react-dom/client' {
  import type { ReactNode } from 'react';

  export interface Root {
    render(children: ReactNode): void;
    unmount(): void;
  }
  export function createRoot(container: object): Root;
}
