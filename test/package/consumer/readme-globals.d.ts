// What the README's fragments leave to the reader: a runner made earlier, the user's own helpers,
// and the provider SDKs the examples import but tasklane does not depend on. Declared with real
// types so the fragments are checked as strictly as a user's code would be.

declare const runner: import('tasklane').BackgroundRunner;
declare const agent: { readonly name: string; start(prompt: string, options?: { signal?: AbortSignal }): Promise<string> };
declare const agentActor: import('xstate').AnyActorRef;
declare const log: { warn(message: string): void };
declare const id: import('tasklane').TaskId;
declare const prompt: string;
declare const q: string;
declare function summarise(text: string): Promise<string>;
declare function render(state: unknown, progress: number): void;
declare function setBadge(running: number): void;
declare function renderBar(progress: number | undefined): void;
declare function renderList(tasks: import('tasklane').TaskSummary[]): void;
declare function callModel(prompt: string, context: import('tasklane').TaskContext): Promise<string>;
declare function research(topic: string, context: import('tasklane').TaskContext): Promise<string>;
declare function urgent(context: import('tasklane').TaskContext): Promise<void>;
declare function ask(question: string, context: import('tasklane').TaskContext): Promise<string>;
declare function lookUp(topic: string, signal: AbortSignal): Promise<string>;

declare module '@ai-sdk/openai' {
  export function openai(model: string): import('ai').LanguageModel;
}

declare module '@langchain/openai' {
  import type { AIMessageChunk, BaseMessageLike } from '@langchain/core/messages';
  import type { Runnable } from '@langchain/core/runnables';
  export const ChatOpenAI: new (fields: { model: string }) => Runnable<string | BaseMessageLike[], AIMessageChunk>;
}
