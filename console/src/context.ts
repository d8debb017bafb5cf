import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api, WhoAmI } from './api.js';

export interface ConsoleContext {
  readonly api: Api;
  readonly me: WhoAmI;
  /** A short note that confirms an action ("3 messages moved"); errors stay in place instead. */
  notify(text: string): void;
}

export const Ctx = createContext<ConsoleContext | null>(null);

export function useConsole(): ConsoleContext {
  const c = useContext(Ctx);
  if (c === null) throw new Error('useConsole outside the console');
  return c;
}
